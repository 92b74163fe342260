import Foundation
import Testing
import TestSupport

/// `lora train` refuses settings no run can use, naming the flag or the config file's key, before
/// it writes anything; and a resume refuses a checkpoint made with other settings.
@Suite(.serialized) struct TrainSettingsTests {
    static func folder(_ name: String) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let rows = (0..<4).map { #"{"prompt": "Item \#($0):", "completion": " value \#($0 * 7)"}"# }
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: folder.appendingPathComponent("data.jsonl"))
        return folder
    }

    static func train(_ folder: URL, out: String = "out", _ extra: [String]) throws -> Lora.Output {
        try Lora.run(
            [
                "train", "--model", Fixtures.url("tiny-llama").path, "--data",
                folder.appendingPathComponent("data.jsonl").path, "--out", folder.appendingPathComponent(out).path,
                "--batch-size", "2",
            ] + extra)
    }

    @Test func badValuesAreRefusedByNameBeforeAnythingIsWritten() throws {
        let folder = try Self.folder("settings")
        defer { try? FileManager.default.removeItem(at: folder) }
        let cases: [([String], String)] = [
            (["--batch-size", "0"], "--batch-size must be at least 1"),
            (["--grad-accum", "0"], "--grad-accum must be at least 1"),
            (["--max-seq-len=-1"], "--max-seq-len must be at least 2"),
            (["--max-steps=-1"], "--max-steps must be at least 1"),
            (["--epochs", "0"], "--epochs must be at least 1"),
            (["--learning-rate=-1"], "--learning-rate must be a finite number"),
            (["--learning-rate", "nan"], "--learning-rate must be a finite number"),
            (["--warmup-ratio", "2"], "--warmup-ratio must be in [0, 1]"),
            (["--warmup-steps=-3"], "--warmup-steps must be at least 0"),
            (["--weight-decay=-1"], "--weight-decay must be a finite number"),
            (["--max-grad-norm=-1"], "--max-grad-norm must be a finite number"),
            (["--save-steps=-1"], "--save-steps must be at least 0"),
            (["--save-total-limit", "0"], "--save-total-limit must be at least 1"),
            (["--eval-steps", "1"], "--eval-steps needs --eval-data"),
            (["--alpha", "0"], "--alpha must be a finite number above 0"),
            (["--rank", "0"], "--rank must be at least 1"),
            (["--dropout", "1"], "--dropout must be in [0, 1)"),
            (["--epochs", "1", "--max-steps", "2"], "--epochs and --max-steps are alternatives"),
            (["--warmup-ratio", "0.1", "--warmup-steps", "2"], "--warmup-ratio and --warmup-steps are alternatives"),
            (["--targets", "q_proj,foo_proj"], "'foo_proj' matches no module"),
            (["--lr-scheduler", "constant", "--warmup-steps", "2"], "--lr-scheduler 'constant' has no warm-up"),
            (["--lr-scheduler", "step"], "'step' is not known (constant, constant_with_warmup, linear, cosine)"),
        ]
        // Rows with nothing to learn (a user turn only) leave no example: named with the file.
        let unanswered = folder.appendingPathComponent("unanswered.jsonl")
        try Data(#"{"messages": [{"role": "user", "content": "hi"}]}"#.utf8 + [10]).write(to: unanswered)
        let none = try Lora.run([
            "train", "--model", Fixtures.url("tiny-llama").path, "--data", unanswered.path, "--out",
            folder.appendingPathComponent("out").path,
        ])
        #expect(none.status != 0 && none.stderr.contains("unanswered.jsonl: no row has a token to learn"))
        try? FileManager.default.removeItem(at: folder.appendingPathComponent("out"))
        // A row whose answer lies wholly past --max-seq-len is skipped, and the message says why.
        let longPrompt = folder.appendingPathComponent("long.jsonl")
        let row = #"{"prompt": "\#(String(repeating: "word ", count: 40))", "completion": "end"}"#
        try Data(row.utf8 + [10]).write(to: longPrompt)
        let cut = try Lora.run([
            "train", "--model", Fixtures.url("tiny-llama").path, "--data", longPrompt.path, "--out",
            folder.appendingPathComponent("out").path, "--max-seq-len", "8",
        ])
        #expect(cut.status != 0 && cut.stderr.contains("1 skipped: empty, all prompt"), "\(cut.stderr)")
        #expect(cut.stderr.contains("1 of them only past --max-seq-len"), "\(cut.stderr)")
        #expect(cut.stderr.contains("long.jsonl: 0 examples (0 truncated to 8)"), "\(cut.stderr)")
        try? FileManager.default.removeItem(at: folder.appendingPathComponent("out"))
        for (arguments, message) in cases {
            let out = try Self.train(folder, arguments)
            #expect(
                out.status != 0 && out.stderr.contains("error: ") && out.stderr.contains(message),
                "\(arguments): \(out.stderr)")
            #expect(!out.stderr.contains("Fatal error") && !out.stderr.contains("crashed"), "\(arguments)")
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("out").path), "\(arguments)")
        }
        // The config file's keys are named with the file; whole-number float epochs are taken.
        let config = folder.appendingPathComponent("train.yaml")
        try Data("num_train_epochs: 1.5\n".utf8).write(to: config)
        var out = try Self.train(folder, ["--config", config.path])
        #expect(out.stderr.contains("train.yaml: 'num_train_epochs' 1.5: fractional epochs are not implemented"))
        try Data("num_train_epochs: 1.0\ngradient_accumulation_steps: 0\n".utf8).write(to: config)
        out = try Self.train(folder, ["--config", config.path])
        #expect(out.stderr.contains("train.yaml: 'gradient_accumulation_steps' must be at least 1, not 0"))
        // TrainingArguments' max_steps default, -1, written out: the epochs decide (4 rows, 2 a step).
        try Data("max_steps: -1\nnum_train_epochs: 1\n".utf8).write(to: config)
        out = try Self.train(folder, out: "epochs", ["--config", config.path])
        #expect(out.status == 0 && out.stderr.contains("step 2/2"), "\(out.stderr)")
        try Data("warmup_steps: 2\nwarmup_ratio: 0.1\n".utf8).write(to: config)
        out = try Self.train(folder, ["--config", config.path])
        #expect(out.stderr.contains("'warmup_steps' and 'warmup_ratio' are alternatives"))
        // --out must be a folder, or be creatable as one.
        try Data().write(to: folder.appendingPathComponent("afile"))
        out = try Self.train(folder, out: "afile", [])
        #expect(out.status != 0 && out.stderr.contains("a file is there, not a folder"), "\(out.stderr)")
        out = try Self.train(folder, out: "afile/run", [])
        #expect(out.status != 0 && out.stderr.contains("afile is a file, not a folder"), "\(out.stderr)")
    }

    @Test func loraConfigKeysAndRegexTargetsFromYAMLAndFlags() throws {
        let folder = try Self.folder("lora-keys")
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("lora.yaml")
        try Data(
            #"""
            target_modules: 'model\.layers\.0\..*\.(q|v)_proj'
            rank_pattern: {q_proj: 4}
            alpha_pattern: {v_proj: 32}
            bias: none
            init_lora_weights: gaussian
            max_steps: 1

            """#.utf8
        ).write(to: config)
        var out = try Self.train(folder, ["--config", config.path])
        #expect(out.status == 0, "\(out.stderr)")
        let saved =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: folder.appendingPathComponent("out/adapter/adapter_config.json")))
            as? [String: Any]
        #expect(saved?["target_modules"] as? String == #"model\.layers\.0\..*\.(q|v)_proj"#)
        #expect(saved?["rank_pattern"] as? [String: Int] == ["q_proj": 4])
        #expect(saved?["alpha_pattern"] as? [String: Double] == ["v_proj": 32])
        let header = try String(
            decoding: Data(contentsOf: folder.appendingPathComponent("out/adapter/adapter_model.safetensors")).prefix(
                4096), as: UTF8.self)
        #expect(header.contains(#"model.layers.0.self_attn.q_proj.lora_A.weight":{"dtype":"F32","shape":[4,"#))
        #expect(header.contains("model.layers.0.self_attn.v_proj.lora_A.weight"))
        #expect(!header.contains("model.layers.1.") && !header.contains("k_proj"), "\(header)")
        // layers_to_transform takes names only, as PEFT's LoraConfig, which refuses a string (an
        // adapter written with both would not load in PEFT); names keep it.
        try Data("target_modules: all-linear\nlayers_to_transform: [0]\nmax_steps: 1\n".utf8).write(to: config)
        out = try Self.train(folder, out: "layers", ["--config", config.path])
        #expect(
            out.status != 0
                && out.stderr.contains(
                    "'layers_to_transform' cannot be used when 'target_modules' is a string (all-linear)"),
            "\(out.stderr)")
        try Data("target_modules: [q_proj]\nlayers_to_transform: [1]\nmax_steps: 1\n".utf8).write(to: config)
        out = try Self.train(folder, out: "layers", ["--config", config.path])
        #expect(out.status == 0, "\(out.stderr)")
        let layerHeader = try String(
            decoding: Data(contentsOf: folder.appendingPathComponent("layers/adapter/adapter_model.safetensors"))
                .prefix(4096), as: UTF8.self)
        #expect(layerHeader.contains("layers.1.self_attn.q_proj") && !layerHeader.contains("layers.0."))
        // A regular expression as a flag; one that matches nothing is named with its source.
        out = try Self.train(folder, out: "regex", ["--targets", #".*\.o_proj"#, "--max-steps", "1"])
        #expect(out.status == 0, "\(out.stderr)")
        out = try Self.train(folder, out: "none", ["--targets", #"q_proj|v_proj"#, "--max-steps", "1"])
        #expect(
            out.status != 0 && out.stderr.contains("error: --targets: target_modules 'q_proj|v_proj'")
                && out.stderr.contains("matches no module"), "\(out.stderr)")
        try Data("r: \"4\"\n".utf8).write(to: config)
        out = try Self.train(folder, out: "typed", ["--config", config.path])
        #expect(out.status != 0 && out.stderr.contains("lora.yaml: 'r' should be an integer"), "\(out.stderr)")
        try Data("bias: all\n".utf8).write(to: config)
        out = try Self.train(folder, out: "bias", ["--config", config.path])
        #expect(out.status != 0 && out.stderr.contains("'bias: all' is not implemented"), "\(out.stderr)")
    }

    /// `--resume-from` (and `resume_from_checkpoint` in the config file) continues from a chosen
    /// checkpoint, into a new folder too, to the same adapter bytes; what is not a checkpoint, and
    /// an output folder holding checkpoints past the chosen one, are refused before anything is written.
    @Test func resumeFromAChosenCheckpoint() throws {
        let folder = try Self.folder("resume-from")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = ["--max-steps", "6", "--save-steps", "2", "--dropout", "0.1", "--learning-rate", "1e-3"]
        var out = try Self.train(folder, run)
        #expect(out.status == 0, "\(out.stderr)")
        let straight = try Data(contentsOf: folder.appendingPathComponent("out/adapter/adapter_model.safetensors"))
        let second = folder.appendingPathComponent("out/checkpoint-2").path

        out = try Self.train(folder, run + ["--resume-from", second])
        #expect(
            out.status != 0 && out.stderr.contains("holds checkpoint-4, checkpoint-6, past step 2"), "\(out.stderr)")
        out = try Self.train(
            folder, out: "other", run + ["--resume-from", folder.appendingPathComponent("out/adapter").path])
        #expect(out.status != 0 && out.stderr.contains("not a complete checkpoint"), "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("other").path))

        out = try Self.train(folder, out: "other", run + ["--resume-from", second, "--resume"])
        #expect(out.status != 0 && out.stderr.contains("give one"), "\(out.stderr)")

        out = try Self.train(folder, out: "branch", run + ["--resume-from", second])
        #expect(out.status == 0 && out.stderr.contains("resumed from \(second) at step 2"), "\(out.stderr)")
        let branch = try Data(contentsOf: folder.appendingPathComponent("branch/adapter/adapter_model.safetensors"))
        #expect(branch == straight)
        // Another folder's checkpoint is not continued into a folder that holds a run.
        out = try Self.train(folder, out: "branch", run + ["--resume-from", second])
        #expect(out.status != 0 && out.stderr.contains("is another folder's checkpoint"), "\(out.stderr)")

        let config = folder.appendingPathComponent("resume.yaml")
        try Data("resume_from_checkpoint: \(folder.appendingPathComponent("out/checkpoint-4").path)\n".utf8)
            .write(to: config)
        out = try Self.train(folder, out: "yaml", run + ["--config", config.path])
        #expect(out.status == 0 && out.stderr.contains("at step 4"), "\(out.stderr)")
        let yaml = try Data(contentsOf: folder.appendingPathComponent("yaml/adapter/adapter_model.safetensors"))
        #expect(yaml == straight)
        // A YAML 1.1 word such as `no` is a path here, not false.
        try Data("resume_from_checkpoint: no\n".utf8).write(to: config)
        out = try Self.train(folder, out: "fresh", run + ["--config", config.path])
        #expect(out.status != 0 && out.stderr.contains("resume_from_checkpoint no: not a complete"), "\(out.stderr)")
        // `true` is the newest checkpoint of the output folder, as --resume.
        try Data("resume_from_checkpoint: true\n".utf8).write(to: config)
        out = try Self.train(folder, out: "fresh", run + ["--config", config.path])
        #expect(
            out.status != 0 && out.stderr.contains("resume_from_checkpoint: no complete checkpoint-N"), "\(out.stderr)")
    }

    @Test func resumeRefusesOtherSettingsAndAFreshRunRefusesAUsedFolder() throws {
        let folder = try Self.folder("resume-settings")
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = ["--max-steps", "4", "--save-steps", "2", "--learning-rate", "1e-3"]
        var out = try Self.train(folder, run)
        #expect(out.status == 0, "\(out.stderr)")
        // A fresh run into the folder would mix two runs' checkpoints.
        out = try Self.train(folder, run)
        #expect(out.status != 0 && out.stderr.contains("already holds a run"), "\(out.stderr)")
        // Changed settings are named, each with the checkpoint's value and the new one.
        out = try Self.train(folder, ["--max-steps", "4", "--save-steps", "2", "--learning-rate", "1e-2", "--resume"])
        #expect(out.status != 0 && out.stderr.contains("learning_rate 0.001 → 0.01"), "\(out.stderr)")
        out = try Self.train(folder, ["--max-steps", "1", "--save-steps", "2", "--learning-rate", "1e-3", "--resume"])
        #expect(out.status != 0 && out.stderr.contains("max_steps 4 → 1"), "\(out.stderr)")
        out = try Self.train(folder, run + ["--alpha", "64", "--resume"])
        #expect(out.status != 0 && out.stderr.contains("lora_alpha 16.0 → 64.0"), "\(out.stderr)")
        out = try Self.train(folder, run + ["--packing", "--resume"])
        #expect(out.status != 0 && out.stderr.contains("packing false → true (max_seq_length 512)"), "\(out.stderr)")
        // A switch the config file turns on, a --no- flag turns off again.
        let switches = folder.appendingPathComponent("switches.yaml")
        try Data("packing: true\nbf16: true\n".utf8).write(to: switches)
        out = try Self.train(folder, run + ["--config", switches.path, "--resume"])
        #expect(out.status != 0 && out.stderr.contains("packing false → true"), "\(out.stderr)")
        out = try Self.train(folder, run + ["--config", switches.path, "--no-packing", "--no-bf16", "--resume"])
        #expect(out.status == 0, "\(out.stderr)")
        // Another base model: a copy of the tiny model with one weight's lowest bit changed.
        let other = folder.appendingPathComponent("other-model")
        try FileManager.default.copyItem(at: Fixtures.url("tiny-llama"), to: other)
        let weights = other.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: weights)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        bytes[8 + headerLength] ^= 1
        try bytes.write(to: weights)
        out = try Lora.run(
            [
                "train", "--model", other.path, "--data", folder.appendingPathComponent("data.jsonl").path, "--out",
                folder.appendingPathComponent("out").path, "--batch-size", "2", "--resume",
            ] + run)
        #expect(out.status != 0 && out.stderr.contains("base_model_weights"), "\(out.stderr)")
        // Other data (here one row fewer) changes the data's fingerprint.
        let data = folder.appendingPathComponent("data.jsonl")
        let original = try Data(contentsOf: data)
        let rows = try String(contentsOf: data, encoding: .utf8).split(separator: "\n").dropLast()
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: data)
        out = try Self.train(folder, run + ["--resume"])
        #expect(out.status != 0 && out.stderr.contains("train_examples 4 → 3"), "\(out.stderr)")
        #expect(!out.stderr.contains("Fatal error") && !out.stderr.contains("crashed"))
        try original.write(to: data)
        // LoRA settings beyond r and alpha are compared too.
        let pattern = folder.appendingPathComponent("pattern.yaml")
        try Data("alpha_pattern: {q_proj: 64}\n".utf8).write(to: pattern)
        out = try Self.train(folder, run + ["--config", pattern.path, "--resume"])
        #expect(
            out.status != 0 && out.stderr.contains("(alpha_pattern none → q_proj=64.0); resume with"), "\(out.stderr)")
        // A damaged newest checkpoint is named, with the way to the one before it.
        let newest = folder.appendingPathComponent("out/checkpoint-4")
        try Data("{\"step\":".utf8).write(to: newest.appendingPathComponent("trainer_state.json"))
        out = try Self.train(folder, run + ["--resume"])
        #expect(
            out.status != 0 && out.stderr.contains("\(newest.lastPathComponent)/trainer_state.json: not a readable")
                && out.stderr.contains("remove it and --resume continues from the checkpoint before it"),
            "\(out.stderr)")
        // Removed, the one before it serves, but not with a weight file changed on disk since.
        try FileManager.default.removeItem(at: newest)
        let kept = folder.appendingPathComponent("out/checkpoint-2/adapter_model.safetensors")
        var keptBytes = try Data(contentsOf: kept)
        keptBytes[keptBytes.count - 1] ^= 1
        try keptBytes.write(to: kept)
        out = try Self.train(folder, run + ["--resume"])
        #expect(
            out.status != 0
                && out.stderr.contains("adapter_model.safetensors: its bytes are not those the checkpoint wrote"),
            "\(out.stderr)")
        keptBytes[keptBytes.count - 1] ^= 1
        try keptBytes.write(to: kept)
        out = try Self.train(folder, run + ["--resume"])
        #expect(out.status == 0 && out.stderr.contains("checkpoint-2 at step 2"), "\(out.stderr)")
        // A folder holding an adapter but no checkpoint can be neither resumed nor trained into.
        let adapterOnly = folder.appendingPathComponent("adapter-only/adapter")
        try FileManager.default.createDirectory(at: adapterOnly, withIntermediateDirectories: true)
        out = try Self.train(folder, out: "adapter-only", run)
        #expect(
            out.status != 0 && out.stderr.contains("with no complete checkpoint to resume from: remove it"),
            "\(out.stderr)")
    }

    @Test func evalAndAdapterWeightsRefuseWhatTheyCannotUse() throws {
        let folder = try Self.folder("eval-refusals")
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = Fixtures.url("tiny-llama").path
        let adapter = Fixtures.url("tiny-llama/peft-adapter").path
        let data = folder.appendingPathComponent("data.jsonl").path
        var out = try Lora.run(["eval", "--model", model, "--data", data, "--max-seq-len", "0"])
        #expect(out.status != 0 && out.stderr.contains("--max-seq-len must be at least 2"), "\(out.stderr)")
        // No assistant turn: nothing to score is an error, not a loss of NaN.
        let unscored = folder.appendingPathComponent("unscored.jsonl")
        try Data(#"{"messages": [{"role": "user", "content": "hi"}]}"#.utf8 + [10]).write(to: unscored)
        for extra in [[], ["--json"]] {
            out = try Lora.run(["eval", "--model", model, "--data", unscored.path] + extra)
            #expect(out.status != 0 && out.stderr.contains("unscored.jsonl: no token to score"), "\(out.stderr)")
            #expect(!out.stdout.contains("nan"))
        }
        out = try Lora.run(["eval", "--model", model, "--adapter", adapter + ":0.5", "--data", data])
        #expect(out.status == 0 && out.stderr.contains("weight 0.5"), "\(out.stderr)")
        out = try Lora.run(["eval", "--model", model, "--adapter", adapter + ":nan", "--data", data])
        #expect(out.status != 0 && out.stderr.contains("the weight must be a finite number"), "\(out.stderr)")
        out = try Lora.run(["eval", "--model", model, "--adapter", adapter + ":abc", "--data", data])
        #expect(out.status != 0 && out.stderr.contains("'abc' is not a weight"), "\(out.stderr)")
        let merged = folder.appendingPathComponent("merged").path
        out = try Lora.run(["merge", "--model", model, "--adapter", adapter + ":inf", "--out", merged])
        #expect(out.status != 0 && out.stderr.contains("the weight must be a finite number"), "\(out.stderr)")
        #expect(!FileManager.default.fileExists(atPath: merged))
        // eval reads the data as train can: a format, a field map, the prompt scored too.
        func tokens(_ extra: [String]) throws -> Int {
            let out = try Lora.run(["eval", "--model", model, "--data", data, "--json"] + extra)
            #expect(out.status == 0, "\(extra): \(out.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any]
            return object?["tokens"] as? Int ?? 0
        }
        let completions = try tokens([])
        #expect(try tokens(["--train-on-prompt"]) > completions)
        // What was kept, truncated and skipped goes to the log (the rows are 8 or 9 tokens).
        out = try Lora.run(["eval", "--model", model, "--data", data, "--max-seq-len", "7", "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.contains("data.jsonl: "), "\(out.stderr)")
        #expect(
            out.stderr.contains("4 examples (4 truncated to 7)") && out.stderr.contains("scored); 0 skipped"),
            "\(out.stderr)")
        #expect(try tokens(["--format", "text", "--field-map", "text=completion"]) > 0)
        out = try Lora.run(["eval", "--model", model, "--data", data, "--format", "csv"])
        #expect(out.status != 0 && out.stderr.contains("(auto, alpaca, chat, prompt-completion, text)"))
    }
}
