import Foundation
import ModelFiles
import Models
import Testing
import TestSupport

/// The command-line contract that outside checks call exactly.
@Suite(.serialized) struct CLIContractTests {
    struct TokenizerCase: Decodable {
        var text: String
        var ids: [Int]
    }

    @Test func tokenizePrintsTheReferenceIDs() throws {
        let cases = try JSONDecoder().decode(
            [TokenizerCase].self, from: Fixtures.data("smollm2/tokenizer-smollm2.json"))
        var models = [Fixtures.url("tiny-llama").path]
        if let gguf = try Fixtures.smolLM2GGUF() { models.append(gguf.path) }
        for model in models {
            for c in cases.prefix(4) {
                let out = try Lora.run(["tokenize", "--model", model, "--text", c.text])
                #expect(out.status == 0, "\(out.stderr)")
                let ids = try JSONDecoder().decode([Int].self, from: Data(out.stdout.utf8))
                #expect(ids == c.ids, "\(model): \(c.text)")
            }
        }
        // A file's byte order mark is text, as with --text (transformers keeps it too).
        let bom = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-bom-\(getpid()).txt")
        defer { try? FileManager.default.removeItem(at: bom) }
        try Data([0xEF, 0xBB, 0xBF] + Array("hi".utf8)).write(to: bom)
        let fromFile = try Lora.run(["tokenize", "--model", models[0], "--file", bom.path])
        let fromText = try Lora.run(["tokenize", "--model", models[0], "--text", "\u{FEFF}hi"])
        #expect(fromFile.stdout == fromText.stdout && fromFile.stdout.count > "[1]\n".count, "\(fromFile.stdout)")
    }

    @Test func generateJSONIsGreedyTransformers() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        struct Prompt: Decodable {
            var messages: [[String: String]]
            var input_ids: [Int]
            var greedy_ids: [Int]
            var greedy_text: String
        }
        let prompt = try JSONDecoder().decode([Prompt].self, from: Fixtures.data("smollm2/prompts.json"))[0]
        let out = try Lora.run([
            "generate", "--model", gguf.path, "--chat", "--prompt", prompt.messages[0]["content"] ?? "",
            "--temperature", "0", "--max-tokens", "\(prompt.greedy_ids.count)", "--json",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        struct Output: Decodable {
            var prompt_ids: [Int]
            var ids: [Int]
            var text: String
        }
        let result = try JSONDecoder().decode(Output.self, from: Data(out.stdout.utf8))
        #expect(result.prompt_ids == prompt.input_ids)
        #expect(result.ids == prompt.greedy_ids)
        #expect(result.text == prompt.greedy_text)
    }

    /// generation_config.json's eos_token_id ends generation, as in transformers' generate.
    @Test func generationConfigEndTokensStopGeneration() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-genconfig-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.copyItem(at: Fixtures.url("tiny-llama"), to: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        struct Output: Decodable { var ids: [Int] }
        func greedy() throws -> [Int] {
            let out = try Lora.run([
                "generate", "--model", folder.path, "--prompt", "Hello", "--temperature", "0", "--max-tokens", "8",
                "--json",
            ])
            #expect(out.status == 0, "\(out.stderr)")
            return try JSONDecoder().decode(Output.self, from: Data(out.stdout.utf8)).ids
        }
        let free = try greedy()
        #expect(free.count == 8)
        let end = free[3]
        let config = folder.appendingPathComponent("generation_config.json")
        try Data(#"{"bos_token_id": 1, "eos_token_id": [2, \#(end)]}"#.utf8).write(to: config)
        let stopped = try greedy()
        #expect(stopped == Array(free.prefix(through: free.firstIndex(of: end)!)), "\(free) → \(stopped)")
        try Data(#"{"eos_token_id": "two"}"#.utf8).write(to: config)
        let bad = try Lora.run(["generate", "--model", folder.path, "--prompt", "Hello"])
        #expect(bad.status != 0 && bad.stderr.contains("generation_config.json: not valid JSON, or 'eos_token_id'"))
    }

    @Test func generateWithAPEFTAdapterIsPEFTsGreedy() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        struct Greedy: Decodable { var greedy_ids: [Int] }
        let greedy = try JSONDecoder().decode(Greedy.self, from: Fixtures.data("smollm2/peft-adapter-qv-greedy.json"))
        let out = try Lora.run([
            "generate", "--model", gguf.path, "--chat", "--prompt",
            "What is a DDoS attack and how do you defend against it?",
            "--adapter", Fixtures.url("smollm2/peft-adapter-qv").path, "--temperature", "0", "--max-tokens", "40",
            "--json",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        struct Output: Decodable { var ids: [Int] }
        #expect(try JSONDecoder().decode(Output.self, from: Data(out.stdout.utf8)).ids == greedy.greedy_ids)
        // Weight 0 is the base model.
        let off = try Lora.run([
            "generate", "--model", gguf.path, "--chat", "--prompt",
            "What is a DDoS attack and how do you defend against it?",
            "--adapter", Fixtures.url("smollm2/peft-adapter-qv").path + ":0", "--temperature", "0", "--max-tokens",
            "40",
            "--json",
        ])
        #expect(try JSONDecoder().decode(Output.self, from: Data(off.stdout.utf8)).ids != greedy.greedy_ids)
        let missing = try Lora.run([
            "generate", "--model", gguf.path, "--prompt", "x", "--adapter", "/nonexistent-adapter",
        ])
        #expect(missing.status != 0 && missing.stderr.hasPrefix("error: /nonexistent-adapter/adapter_config.json"))
    }

    @Test func generateStreamsTextToStdoutAndLogsToStderr() throws {
        let out = try Lora.run([
            "generate", "--model", Fixtures.url("tiny-llama").path, "--prompt", "Hello", "--max-tokens", "5",
            "--temperature", "0.8", "--seed", "3",
        ])
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.contains("generated"))
        let again = try Lora.run([
            "generate", "--model", Fixtures.url("tiny-llama").path, "--prompt", "Hello", "--max-tokens", "5",
            "--temperature", "0.8", "--seed", "3",
        ])
        #expect(again.stdout == out.stdout, "the same seed gives the same text")
    }

    @Test func badInputIsOneClearLine() throws {
        let missing = try Lora.run(["generate", "--model", "/nonexistent.gguf", "--prompt", "x"])
        #expect(missing.status != 0)
        #expect(missing.stderr.hasPrefix("error: /nonexistent.gguf"))
        #expect(missing.stderr.split(separator: "\n").count == 1)

        let notGGUF = FileManager.default.temporaryDirectory.appendingPathComponent(
            "swiftlora-not-a-model-\(getpid()).gguf")
        try Data("this is not a model".utf8).write(to: notGGUF)
        defer { try? FileManager.default.removeItem(at: notGGUF) }
        let corrupt = try Lora.run(["inspect", "--model", notGGUF.path])
        #expect(corrupt.status != 0)
        #expect(corrupt.stderr.hasPrefix("error:"))

        // A well-formed GGUF of an architecture we do not run.
        var writer = GGUFWriter()
        writer.metadata = [("general.architecture", .string("gemma3"))]
        let gemma = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-gemma-\(getpid()).gguf")
        try writer.write(to: gemma)
        defer { try? FileManager.default.removeItem(at: gemma) }
        let unsupported = try Lora.run(["generate", "--model", gemma.path, "--prompt", "x"])
        #expect(unsupported.status != 0)
        #expect(
            unsupported.stderr
                == "error: unsupported architecture 'gemma3' (supported: llama, mistral, qwen2, smollm)\n")

        // A misspelt option is named, not the required one it left missing; a negative number
        // after a space is a value, which the command then judges.
        let tiny = Fixtures.url("tiny-llama").path
        let misspelt = try Lora.run(["train", "--model", tiny, "--dta", "x.json", "--out", "/tmp/x"])
        #expect(misspelt.status != 0 && misspelt.stderr.contains("Unknown option '--dta' (did you mean '--data'?)"))
        let txt = try Lora.run(["tokenize", "--model", tiny, "--txt", "hello"])
        #expect(txt.status != 0 && txt.stderr.contains("Unknown option '--txt'"), "\(txt.stderr)")
        let negative = try Lora.run(["generate", "--model", tiny, "--prompt", "x", "--temperature", "-1"])
        #expect(negative.status != 0 && negative.stderr.contains("invalid --temperature: -1.0"), "\(negative.stderr)")
        let infinite = try Lora.run(["generate", "--model", tiny, "--prompt", "x", "--top-p", "2"])
        #expect(infinite.stderr.contains("invalid --top-p: 2.0 must be in (0, 1]"), "\(infinite.stderr)")
        let system = try Lora.run(["generate", "--model", tiny, "--prompt", "x", "--system", "s"])
        #expect(system.stderr.contains("--system needs --chat") && system.stderr.contains("Usage: lora generate"))
        // The prompt from a file or standard input gives the same tokens as --prompt.
        let fromFlag = try Lora.run([
            "generate", "--model", tiny, "--prompt", "Hello there", "--json", "--max-tokens", "3",
        ])
        let fromInput = try Lora.run(
            ["generate", "--model", tiny, "--prompt-file", "-", "--json", "--max-tokens", "3"], input: "Hello there")
        #expect(
            fromFlag.status == 0 && fromInput.status == 0 && fromInput.stdout == fromFlag.stdout, "\(fromInput.stderr)")
        let both = try Lora.run(["generate", "--model", tiny, "--prompt", "x", "--prompt-file", "-"])
        #expect(both.stderr.contains("give exactly one of --prompt or --prompt-file"))
        let noFile = try Lora.run(["generate", "--model", tiny, "--prompt-file", "/nonexistent/p.txt"])
        #expect(noFile.status != 0 && noFile.stderr.contains("--prompt-file /nonexistent/p.txt: cannot read file"))
        let dashPrompt = try Lora.run([
            "generate", "--model", tiny, "--prompt", "-5", "--max-tokens", "1", "--temperature", "0",
        ])
        #expect(dashPrompt.status == 0, "\(dashPrompt.stderr)")
        // Benchmarks refuse counts they cannot use (they trapped), naming the flag.
        let repeats = try Lora.run(["bench", "generate", "--model", tiny, "--repeats", "0"])
        #expect(repeats.status != 0 && repeats.stderr.contains("--repeats must be at least 1, not 0"))
        let steps = try Lora.run(["bench", "train", "--model", tiny, "--steps", "0"])
        #expect(steps.status != 0 && steps.stderr.contains("--steps must be at least 1, not 0"))
        // --threads 0 is refused by every command that takes it (tokenize took it), with the
        // command's own usage line.
        for (command, input) in [("tokenize", "--text"), ("generate", "--prompt"), ("eval", "--data")] {
            let zero = try Lora.run([command, "--model", tiny, "--threads", "0", input, "x"])
            #expect(zero.status != 0 && zero.stderr.contains("--threads must be at least 1, not 0"), "\(zero.stderr)")
            #expect(zero.stderr.contains("Usage: lora \(command)"), "\(zero.stderr)")
        }
        let many = ProcessInfo.processInfo.activeProcessorCount + 1
        let oversubscribed = try Lora.run(["tokenize", "--model", tiny, "--threads", "\(many)", "--text", "x"])
        #expect(oversubscribed.status == 0)
        let generated = try Lora.run([
            "generate", "--model", tiny, "--threads", "\(many)", "--prompt", "x", "--max-tokens", "1",
        ])
        #expect(generated.status == 0 && generated.stderr.contains("warning: --threads \(many) is more than the"))
        let context = try Lora.run(["bench", "generate", "--model", tiny, "--prompt-tokens", "100000"])
        #expect(context.status != 0 && context.stderr.contains("over the model's context"), "\(context.stderr)")
        // A kernel name the environment asks for that cannot be used is said, not ignored.
        let kernel = try Lora.run(
            ["tokenize", "--model", tiny, "--text", "x"], environment: ["SWIFTLORA_KERNEL": "bogus"])
        let tokens = try Lora.run(
            ["generate", "--model", tiny, "--prompt", "x", "--max-tokens", "1", "--temperature", "0"],
            environment: ["SWIFTLORA_KERNEL": "bogus"])
        #expect(kernel.status == 0 && tokens.status == 0)
        #expect(tokens.stderr.contains("warning: SWIFTLORA_KERNEL=bogus is not a kernel"), "\(tokens.stderr)")
    }

    @Test func benchGemmRunsEveryShapeWithTheRowsAsked() throws {
        // K-quants' 256-value blocks run with K rounded up to a whole block (they crashed on K = 576).
        for (format, block) in [("Q4_1", 32), ("Q4_K", 256), ("Q6_K", 256)] {
            let out = try Lora.run(["bench", "gemm", "--rows", "8", "--repeats", "1", "--format", format])
            #expect(out.status == 0, "\(out.stderr)")
            let lines = out.stdout.split(separator: "\n")
            #expect(lines.count == 6)
            for line in lines {
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object?["m"] as? Int == 8, "\(line)")
                #expect(object?["format"] as? String == format, "\(line)")
                #expect((object?["k"] as? Int ?? 1) % block == 0, "\(line)")
                #expect((object?["gflops"] as? Double ?? 0) > 0, "\(line)")
            }
        }
        let zero = try Lora.run(["bench", "gemm", "--rows", "0"])
        #expect(zero.status != 0)
        #expect(zero.stderr.contains("--rows must be at least 1"))
    }

    @Test func inspectSummarizesTheModel() throws {
        let model = try Fixtures.smolLM2GGUF()?.path ?? Fixtures.url("tiny-qwen2").path
        let out = try Lora.run(["inspect", "--model", model])
        #expect(out.status == 0, "\(out.stderr)")
        for field in ["architecture:", "layers:", "formats:", "tokenizer:", "chat template:"] {
            #expect(out.stdout.contains(field))
        }
        // --template prints the template; "DIR/." is named after DIR.
        let folder = Fixtures.url("tiny-llama").path
        let withTemplate = try Lora.run(["inspect", "--model", folder + "/.", "--template"])
        let source = try String(contentsOf: Fixtures.url("tiny-llama/chat_template.jinja"), encoding: .utf8)
        #expect(withTemplate.stdout.contains(source.trimmingCharacters(in: .newlines)))
        #expect(withTemplate.stdout.contains("model:         tiny-llama\n"), "\(withTemplate.stdout.prefix(80))")
    }

    @Test func chatKeepsTheConversation() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let out = try Lora.run(
            ["chat", "--model", gguf.path, "--temperature", "0", "--max-tokens", "8"],
            input: "Hi, my name is Ada.\nWhat is 2+2?\n/quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        // Two prompts answered: two "> " prompts each followed by a reply line, then the last prompt.
        #expect(out.stdout.components(separatedBy: "> ").count == 4)
    }

    /// A message past the context is dropped with an error and the session goes on; an unknown
    /// command is not sent to the model; piped replies end with their own newline.
    @Test func chatSurvivesABadTurn() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let long = String(repeating: "hello world ", count: 5000)
        let out = try Lora.run(
            ["chat", "--model", gguf.path, "--temperature", "0", "--max-tokens", "4"],
            input: "Hi.\n\(long)\n/foo\nWhat is 2+2?\n/quit\n")
        #expect(out.status == 0, "\(out.stderr)")
        #expect(out.stderr.contains("more than the context") && out.stderr.contains("the message was dropped"))
        #expect(out.stderr.contains("unknown command /foo"))
        let parts = out.stdout.components(separatedBy: "> ")
        #expect(parts.count == 6, "\(out.stdout)")
        #expect(parts.count == 6 && parts[1].hasSuffix("\n") && parts[2].isEmpty && parts[4].hasSuffix("\n"))
    }

    /// A model without a chat template is refused at the start (it dropped every message and
    /// exited 0); Ctrl-D ends the prompt's line.
    @Test func chatNeedsATemplateAndEndsItsLine() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-notemplate-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.copyItem(at: Fixtures.url("tiny-llama"), to: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.removeItem(at: folder.appendingPathComponent("chat_template.jinja"))
        let refused = try Lora.run(["chat", "--model", folder.path], input: "hi\n")
        #expect(refused.status != 0 && refused.stderr.contains("has no chat template, which lora chat needs"))
        let ended = try Lora.run(["chat", "--model", Fixtures.url("tiny-llama").path, "--max-tokens", "2"], input: "")
        #expect(ended.status == 0 && ended.stdout == "> \n", "\(ended.stdout.debugDescription)")
    }

    /// Ctrl-C during a reply stops that reply and the session goes on.
    @Test func chatCtrlCStopsTheReplyOnly() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let process = Process()
        process.executableURL = Lora.executable
        process.arguments = ["chat", "--model", gguf.path, "--temperature", "0", "--max-tokens", "2000"]
        let (input, output, errors) = (Pipe(), Pipe(), Pipe())
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data("Tell me a very long story about a dragon.\n".utf8))
        // Wait for the reply to start: the first "> " and some text after it.
        var seen = Data()
        let deadline = Date().addingTimeInterval(120)
        while seen.count < 10 && Date() < deadline { seen += output.fileHandleForReading.availableData }
        kill(process.processIdentifier, SIGINT)
        input.fileHandleForWriting.write(Data("/quit\n".utf8))
        try input.fileHandleForWriting.close()
        seen += output.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(stderr)")
        #expect(stderr.contains("(reply stopped; it stays in the conversation)"), "\(stderr)")
        #expect(String(decoding: seen, as: UTF8.self).components(separatedBy: "> ").count == 3)
    }
}

/// `lora merge` writes models that run like the adapter they folded in.
@Suite(.serialized) struct MergeCommandTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-merge-\(getpid())-\(name)")
    }

    @Test func mergeRefusesWhatItCannotWriteBeforeMerging() throws {
        let model = Fixtures.url("tiny-llama").path
        let adapter = Fixtures.url("tiny-llama/peft-adapter").path
        let q4 = try Lora.run(["merge", "--model", model, "--adapter", adapter, "--out", "x.gguf", "--outtype", "q4_0"])
        #expect(q4.status != 0 && q4.stderr.contains("unknown --outtype 'q4_0'"), "\(q4.stderr)")
        // A path through a file is refused before merging; a missing folder is made for the
        // output, and removed again when the merge cannot be written.
        let file = Self.temporary("a-file")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let through = try Lora.run([
            "merge", "--model", model, "--adapter", adapter, "--out", file.path + "/dir/m.gguf",
        ])
        #expect(
            through.status != 0 && through.stderr.contains("\(file.path) is a file, not a folder"), "\(through.stderr)")
        #expect(!through.stderr.contains("merged"), "refused before merging")
        let missing = Self.temporary("missing")
        let unwritable = try Lora.run([
            "merge", "--model", model, "--adapter", adapter, "--out", missing.path + "/dir/m.gguf",
        ])
        #expect(unwritable.status != 0 && unwritable.stderr.contains("GGUF output needs a GGUF model"))
        #expect(!FileManager.default.fileExists(atPath: missing.path), "no folder left behind")
        let q8Folder = try Lora.run([
            "merge", "--model", model, "--adapter", adapter, "--out", "x", "--outtype", "q8_0",
        ])
        #expect(q8Folder.status != 0 && q8Folder.stderr.contains("--outtype q8_0 is for GGUF output"))
        #expect(!q8Folder.stderr.contains("merged"), "refused before merging")
    }

    @Test func mergedHuggingFaceFolderGivesAdapterLogits() throws {
        let out = Self.temporary("tiny")
        defer { try? FileManager.default.removeItem(at: out) }
        let run = try Lora.run([
            "merge", "--model", Fixtures.url("tiny-llama").path, "--adapter",
            Fixtures.url("tiny-llama/peft-adapter").path,
            "--out", out.path,
        ])
        #expect(run.status == 0, "\(run.stderr)")
        for file in ["config.json", "tokenizer.json", "model.safetensors", "chat_template.jinja"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), "\(file)")
        }
        let merged = try ModelLoader.load(path: out.path)
        let reference = try SafetensorsFile(url: Fixtures.url("tiny-llama/peft-adapter-logits.safetensors"))
        let ids = try reference.tensor("input_ids").int32s().map(Int.init)
        let expected = try reference.tensor("logits").floats()
        let logits = try merged.model.logits(inputIDs: [Array(ids[0..<16]), Array(ids[16..<32])])
        var worst: Float = 0
        for i in expected.indices { worst = max(worst, abs(logits.pointer[i] - expected[i])) }
        #expect(worst < 1e-4, "max |Δlogit| = \(worst)")

        // An existing --out needs --overwrite; the model itself, or a folder with other weight
        // files beside, is never written.
        let arguments = [
            "merge", "--model", Fixtures.url("tiny-llama").path, "--adapter",
            Fixtures.url("tiny-llama/peft-adapter").path,
        ]
        let written = try Data(contentsOf: out.appendingPathComponent("model.safetensors"))
        let again = try Lora.run(arguments + ["--out", out.path])
        #expect(again.status != 0 && again.stderr.contains("already exists; give --overwrite"), "\(again.stderr)")
        #expect(try Data(contentsOf: out.appendingPathComponent("model.safetensors")) == written)
        let replaced = try Lora.run(arguments + ["--out", out.path, "--overwrite", "--outtype", "bf16"])
        #expect(replaced.status == 0, "\(replaced.stderr)")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json")))
        #expect((config as? [String: Any])?["torch_dtype"] as? String == "bfloat16", "config.json names the dtype")
        let itself = try Lora.run(arguments + ["--out", Fixtures.url("tiny-llama").path + "/", "--overwrite"])
        #expect(itself.status != 0 && itself.stderr.contains("is the model being merged"), "\(itself.stderr)")
        try Data().write(to: out.appendingPathComponent("model-00001-of-00002.safetensors"))
        let shards = try Lora.run(arguments + ["--out", out.path, "--overwrite"])
        #expect(
            shards.status != 0 && shards.stderr.contains("holds other weight files (model-00001-of-00002.safetensors)"),
            "\(shards.stderr)")
    }

    @Test func mergedGGUFGreedyEqualsPEFT() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        // Into a folder that does not exist yet: it is made, with its parents.
        let top = Self.temporary("new")
        let out = top.appendingPathComponent("sub/smol.gguf")
        defer { try? FileManager.default.removeItem(at: top) }
        let run = try Lora.run([
            "merge", "--model", gguf.path, "--adapter", Fixtures.url("smollm2/peft-adapter-qv").path, "--out", out.path,
            "--outtype", "f32",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        // The embedding and 30 × 7 projections (the head is tied); 30 × 2 norms and the final one.
        #expect(run.stderr.contains("211 matrices as F32, 61 vectors (norms, biases) as F32"), "\(run.stderr)")
        struct Greedy: Decodable { var greedy_ids: [Int] }
        let greedy = try JSONDecoder().decode(Greedy.self, from: Fixtures.data("smollm2/peft-adapter-qv-greedy.json"))
        let generated = try Lora.run([
            "generate", "--model", out.path, "--chat", "--prompt",
            "What is a DDoS attack and how do you defend against it?",
            "--temperature", "0", "--max-tokens", "40", "--json",
        ])
        struct Output: Decodable { var ids: [Int] }
        #expect(try JSONDecoder().decode(Output.self, from: Data(generated.stdout.utf8)).ids == greedy.greedy_ids)
        let folderFromGGUF = try Lora.run([
            "merge", "--model", gguf.path, "--adapter", Fixtures.url("smollm2/peft-adapter-qv").path, "--out",
            Self.temporary("x").path,
        ])
        #expect(folderFromGGUF.status != 0 && folderFromGGUF.stderr.contains("error: --out"))

        // Ctrl-C while the merged file is being written leaves neither it nor its temporary file.
        let interrupted = Self.temporary("interrupted.gguf")
        let merge = Process()
        merge.executableURL = Lora.executable
        merge.arguments = [
            "merge", "--model", gguf.path, "--adapter", Fixtures.url("smollm2/peft-adapter-qv").path, "--out",
            interrupted.path, "--outtype", "f32",
        ]
        merge.standardError = FileHandle.nullDevice
        try merge.run()
        let folder = interrupted.deletingLastPathComponent()
        let marker = ".\(interrupted.lastPathComponent).tmp-\(merge.processIdentifier)-"
        func temporaries() -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(marker) }
        }
        let deadline = Date().addingTimeInterval(60)
        while temporaries().isEmpty && merge.isRunning && Date() < deadline { usleep(500) }
        kill(merge.processIdentifier, SIGINT)
        merge.waitUntilExit()
        #expect(merge.terminationStatus == 130, "interrupted while writing")
        #expect(temporaries().isEmpty && !FileManager.default.fileExists(atPath: interrupted.path))
    }
}

/// `lora train` end to end on the tiny model.
@Suite struct TrainCommandTests {
    @Test func trainWritesAPEFTAdapterThatGenerateLoads() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-cli-train-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("data.jsonl")
        try Data(
            """
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
            {"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "See you."}]}

            """.utf8
        ).write(to: data)
        let run = try Lora.run([
            "train", "--model", Fixtures.url("tiny-llama").path, "--data", data.path, "--out",
            folder.appendingPathComponent("run").path,
            "--max-steps", "3", "--batch-size", "2", "--logging-steps", "1",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("trainable params: "))
        #expect(run.stderr.contains("step 3/3"))
        #expect(!run.stderr.contains("\r"), "no bar when standard error is not a terminal")
        // --progress bar draws a bar redrawn in place, with the log lines above it.
        let barred = try Lora.run([
            "train", "--model", Fixtures.url("tiny-llama").path, "--data", data.path, "--out",
            folder.appendingPathComponent("bar").path,
            "--max-steps", "4", "--batch-size", "2", "--logging-steps", "2", "--progress", "bar",
            "--save-total-limit", "1",
        ])
        #expect(barred.status == 0, "\(barred.stderr)")
        #expect(barred.stderr.contains("warning: --save-total-limit has nothing to limit without --save-steps"))
        #expect(barred.stderr.contains("\r\u{1B}[K[" + String(repeating: "█", count: 24) + "] 100% 4/4  loss "))
        #expect(
            barred.stderr.contains(
                "[" + String(repeating: "█", count: 12) + String(repeating: "░", count: 12) + "]  50% 2/4"))
        #expect(barred.stderr.contains("\r\u{1B}[Kstep 2/4  loss"))
        // Each loss line is the mean of the steps since the line before (metrics.jsonl has each step's).
        let stepLosses = try String(contentsOf: folder.appendingPathComponent("bar/metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map {
                (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["loss"] as? Double ?? .nan
            }
        let logged = barred.stderr.components(separatedBy: "step 4/4  loss ").last.flatMap {
            Double($0.prefix { $0 != " " })
        }
        #expect(stepLosses.count == 4 && stepLosses[2] != stepLosses[3])
        #expect(abs((logged ?? .nan) - (stepLosses[2] + stepLosses[3]) / 2) < 2e-4, "\(logged ?? .nan) \(stepLosses)")
        let gen = try Lora.run([
            "generate", "--model", Fixtures.url("tiny-llama").path, "--adapter",
            folder.appendingPathComponent("run/adapter").path,
            "--prompt", "Hi", "--max-tokens", "3",
        ])
        #expect(gen.status == 0, "\(gen.stderr)")
        let bad = folder.appendingPathComponent("bad.json")
        try Data(#"[{"instruction": "x", "input": ""}]"#.utf8).write(to: bad)
        let refused = try Lora.run([
            "train", "--model", Fixtures.url("tiny-llama").path, "--data", bad.path, "--out",
            folder.appendingPathComponent("x").path,
        ])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("error: \(bad.path):1: missing field 'output'"))
    }
}

@Suite struct EvalCommandTests {
    @Test func evalReportsLossPerplexityAndTokens() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let data = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-eval-\(getpid()).jsonl")
        defer { try? FileManager.default.removeItem(at: data) }
        try Data(#"{"prompt": "The capital of France is", "completion": " Paris."}"#.utf8 + [10]).write(to: data)
        let out = try Lora.run(["eval", "--model", gguf.path, "--data", data.path, "--json"])
        #expect(out.status == 0, "\(out.stderr)")
        struct Result: Decodable {
            var loss: Double
            var perplexity: Double
            var tokens: Int
        }
        let r = try JSONDecoder().decode(Result.self, from: Data(out.stdout.utf8))
        // " Paris." and <|im_end|>: 3 learned tokens; a sensible model finds them likely.
        #expect(r.tokens == 3)
        #expect(r.loss > 0 && r.loss < 6)
        #expect(abs(r.perplexity - exp(r.loss)) < 1e-6 * r.perplexity)
    }
}

/// A training run killed with SIGKILL after a checkpoint, then resumed, ends with the same
/// adapter bytes as an uninterrupted run (dropout on).
@Suite struct KillResumeTests {
    @Test func sigkillThenResumeIsByteIdentical() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-kill-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("data.jsonl")
        let rows = (0..<6).map { #"{"prompt": "Item \#($0):", "completion": " value \#($0 * 7)"}"# }
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: data)
        func arguments(_ out: String) -> [String] {
            [
                "train", "--model", Fixtures.url("tiny-llama").path, "--data", data.path, "--out",
                folder.appendingPathComponent(out).path, "--max-steps", "120", "--batch-size", "2", "--save-steps",
                "20",
                "--dropout", "0.1", "--learning-rate", "1e-3", "--targets", "all-linear", "--logging-steps", "1000",
            ]
        }
        #expect(try Lora.run(arguments("straight")).status == 0)

        let process = try Lora.killed(
            arguments("killed"), after: folder.appendingPathComponent("killed/checkpoint-20/trainer_state.json"))
        #expect(process.terminationReason == .uncaughtSignal, "the run was killed before it finished")

        // What a killed run may leave half-written is removed; so are checkpoints beyond a limit.
        let killed = folder.appendingPathComponent("killed")
        try FileManager.default.createDirectory(
            at: killed.appendingPathComponent(".checkpoint-21.tmp"), withIntermediateDirectories: true)
        try Data("{".utf8).write(to: killed.appendingPathComponent(".dat.nosync1a.2b"))
        // While another process holds the folder's lock, a second run is refused before it loads
        // anything (the killed run's lock went with it: the kernel releases flock locks).
        let lockFile = open(killed.appendingPathComponent(".lock").path, O_RDWR | O_CREAT, 0o644)
        #expect(flock(lockFile, LOCK_EX | LOCK_NB) == 0)
        let refused = try Lora.run(arguments("killed") + ["--resume"])
        close(lockFile)
        #expect(refused.status == 1 && refused.stderr.contains("another training run is writing into this folder"))
        #expect(!refused.stderr.contains("resumed from"), "\(refused.stderr)")
        let resumed = try Lora.run(arguments("killed") + ["--resume", "--save-total-limit", "2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resumed from"))
        let a = try Data(contentsOf: folder.appendingPathComponent("straight/adapter/adapter_model.safetensors"))
        let b = try Data(contentsOf: killed.appendingPathComponent("adapter/adapter_model.safetensors"))
        #expect(a == b)
        let left = try FileManager.default.contentsOfDirectory(atPath: killed.path).sorted()
        #expect(left == ["adapter", "checkpoint-100", "checkpoint-120", "loss.svg", "metrics.jsonl"], "\(left)")

        // Ctrl-C (or SIGTERM) between checkpoints: the run stops after its step, writes a checkpoint
        // of that step and the adapter, exits 130, and resumes from it to the same bytes.
        for (name, signal) in [("interrupted", SIGINT), ("terminated", SIGTERM)] {
            try Self.stopAndResume(name, signal, arguments, folder: folder, expected: a)
        }
    }

    static func stopAndResume(
        _ name: String, _ signal: Int32, _ arguments: (String) -> [String], folder: URL, expected a: Data
    ) throws {
        let interrupted = Process()
        interrupted.executableURL = Lora.executable
        interrupted.arguments = arguments(name)
        let errors = Pipe()
        interrupted.standardError = errors
        try interrupted.run()
        let metrics = folder.appendingPathComponent(name + "/metrics.jsonl")
        func steps() -> Int { ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").split(separator: "\n").count }
        let until = Date().addingTimeInterval(60)
        while steps() < 25 && Date() < until { usleep(2000) }
        kill(interrupted.processIdentifier, signal)
        interrupted.waitUntilExit()
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(interrupted.terminationStatus == 130 && log.contains("interrupted at step"), "\(log)")
        let stoppedAt = steps()
        #expect(stoppedAt % 20 != 0 && stoppedAt < 120, "stopped between checkpoints (step \(stoppedAt))")
        for file in ["adapter/adapter_model.safetensors", "checkpoint-\(stoppedAt)/trainer_state.json"] {
            #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent(name + "/" + file).path))
        }
        let continued = try Lora.run(arguments(name) + ["--resume"])
        #expect(continued.status == 0 && continued.stderr.contains("checkpoint-\(stoppedAt)"), "\(continued.stderr)")
        let c = try Data(contentsOf: folder.appendingPathComponent(name + "/adapter/adapter_model.safetensors"))
        #expect(a == c, "\(name)")
    }
}

@Suite struct TrainConfigTests {
    @Test func yamlSettingsApplyFlagsWinUnknownKeysFail() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-yaml-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("data.jsonl")
        try Data(#"{"text": "some text to learn"}"#.utf8 + [10]).write(to: data)
        let config = folder.appendingPathComponent("train.yaml")
        try Data(
            """
            max_steps: 2
            per_device_train_batch_size: 1
            r: 4
            lora_alpha: 8
            target_modules: [q_proj, k_proj]
            learning_rate: 1.0e-3
            logging_steps: 1

            """.utf8
        ).write(to: config)
        var runs = 0
        func train(_ extra: [String]) throws -> Lora.Output {
            runs += 1
            return try Lora.run(
                [
                    "train", "--model", Fixtures.url("tiny-llama").path, "--data", data.path, "--out",
                    folder.appendingPathComponent("run-\(runs)").path, "--config", config.path,
                ] + extra)
        }
        let fromFile = try train([])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(fromFile.stderr.contains("step 2/2"))
        // r=4 on q (64×64) and k (32×64) in 2 layers: 4·(64+64) + 4·(64+32) per layer.
        #expect(fromFile.stderr.contains("trainable params: 1,792 "))
        let overridden = try train(["--max-steps", "3", "--rank", "2"])
        #expect(overridden.stderr.contains("step 3/3") && overridden.stderr.contains("trainable params: 896 "))
        // TrainingArguments' bf16 is taken, and LoraConfig's ensure_weight_tying: false (PEFT's
        // default, written in every adapter_config.json).
        try Data("max_steps: 1\nper_device_train_batch_size: 1\nbf16: true\n".utf8).write(to: config)
        let bf16 = try train([])
        #expect(bf16.status == 0 && bf16.stderr.contains("bf16: GEMMs with the frozen weights in bfloat16"))
        try Data("max_steps: 1\nper_device_train_batch_size: 1\nensure_weight_tying: false\n".utf8).write(to: config)
        let untied = try train([])
        #expect(untied.status == 0, "\(untied.stderr)")
        // metrics.jsonl gives the learning rate as its shortest float32 text (2e-4, not 0.00019999999).
        let metrics = try String(
            contentsOf: folder.appendingPathComponent("run-\(runs)/metrics.jsonl"), encoding: .utf8)
        #expect(metrics.contains(#""learning_rate": 0.0002,"#), "\(metrics)")
        // Refused by name: an unknown key, fp16, an init PEFT has and we do not, and
        // ensure_weight_tying: true with modules_to_save to tie.
        for (yaml, message) in [
            ("max_steps: 2\nnum_epochs: 3\n", "unknown key 'num_epochs'"),
            ("max_steps: 1\nfp16: true\n", "'fp16: true' is not implemented"),
            ("init_lora_weights: pissa\n", "'init_lora_weights' 'pissa' is not implemented (true, false or gaussian)"),
            (
                "max_steps: 1\nmodules_to_save: [lm_head]\nensure_weight_tying: true\n",
                "'ensure_weight_tying: true' is not implemented"
            ),
        ] {
            try Data(yaml.utf8).write(to: config)
            let refused = try train([])
            #expect(
                refused.status != 0 && refused.stderr.contains("error: \(config.path): \(message)"), "\(refused.stderr)"
            )
        }
    }
}
