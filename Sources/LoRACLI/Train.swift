import ArgumentParser
import Foundation
import Kernels
import LoRA
import Models
import Training

/// `lora train`: fine-tune a LoRA adapter on an instruction file.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune a LoRA adapter; writes OUT/adapter (PEFT format), OUT/metrics.jsonl and checkpoints.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Training data: a JSON array or JSONL file (alpaca, messages, prompt/completion or text rows).")
    var data: String

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Held-out data (same formats); its loss is logged as eval_loss.")
    var evalData: String?

    @Option(help: "Measure eval_loss every N steps (default: only at the end).")
    var evalSteps: Int?

    @Option(help: "A YAML file of settings under TrainingArguments / LoraConfig names; flags override it.")
    var config: String?

    @Option(help: "Row format: auto, alpaca, chat, prompt-completion, text.")
    var format: String = "auto"

    @Option(help: "Rename fields, e.g. input=input_text,output=target_text.")
    var fieldMap: String?

    @Option(help: "Prompt style: chat (the model's chat template) or alpaca (the classic Alpaca prompt).")
    var template: String = "chat"

    @Option(help: "LoRA rank r (default 8).") var rank: Int?
    @Option(help: "LoRA alpha; scale = alpha / r (default 16).") var alpha: Double?
    @Option(help: "LoRA dropout on the adapters' inputs while training (default 0.05).") var dropout: Double?
    @Option(help: "Target modules: comma-separated names, or all-linear (default q_proj,v_proj).") var targets: String?
    @Option(help: "Modules trained in full and saved with the adapter (PEFT's modules_to_save), e.g. lm_head.")
    var modulesToSave: String?
    @Flag(inversion: .prefixedNo, help: "Scale by alpha / sqrt(r) (rsLoRA); --no-use-rslora overrides the config.")
    var useRslora: Bool?
    @Option(help: "Sequences per micro-batch (default 4).") var batchSize: Int?
    @Option(help: "Micro-batches per optimizer step (default 1).") var gradAccum: Int?
    @Option(help: "Passes over the data (default 1).") var epochs: Int?
    @Option(help: "Optimizer steps (overrides --epochs).") var maxSteps: Int?
    @Option(help: "Peak learning rate (default 2e-4).") var learningRate: Float?
    @Option(
        help: "linear, cosine, constant_with_warmup or constant (no warm-up), as transformers (default linear).")
    var lrScheduler: String?
    @Option(help: "Warm-up as a fraction of the steps (default 0).") var warmupRatio: Float?
    @Option(help: "Warm-up steps (overrides --warmup-ratio).") var warmupSteps: Int?
    @Option(help: "AdamW weight decay (default 0).") var weightDecay: Float?
    @Option(help: "Clip the global gradient norm to this; 0 = off (default 1).") var maxGradNorm: Float?
    @Option(help: "Longer sequences are truncated (default 512).") var maxSeqLen: Int?
    @Option(help: "Print a log line every N steps (default 10).") var loggingSteps: Int?
    @Option(help: "Save OUT/checkpoint-N every N steps; 0 = off (default 0).") var saveSteps: Int?
    @Option(help: "Keep only the newest N checkpoints.") var saveTotalLimit: Int?
    @Flag(help: "Continue from the newest complete checkpoint in OUT.") var resume = false
    @Option(help: "Continue from this checkpoint folder (a checkpoint-N of OUT, or one from elsewhere) into OUT.")
    var resumeFrom: String?
    @Option(help: "Random seed for data order, initialization and dropout (default 42).") var seed: UInt64?
    @Flag(help: "Learn the prompt tokens too.") var trainOnPrompt = false
    @Flag(
        inversion: .prefixedNo, help: "Recompute each layer in backward instead of keeping activations (less memory).")
    var gradCheckpointing: Bool?
    @Flag(
        inversion: .prefixedNo,
        help: "bfloat16 GEMMs with the frozen base weights (float32 accumulation, adapters and optimizer in float32).")
    var bf16: Bool?
    @Flag(
        inversion: .prefixedNo,
        help: "Pack each batch's rows into sequences of up to --max-seq-len tokens (attention stays in each row).")
    var packing: Bool?
    @Option(help: "Progress display: auto (a bar when standard error is a terminal), bar, or lines.")
    var progress = "auto"
    @Flag(help: "Write OUT/batches.jsonl (each step's token ids and labels) and OUT/eval-examples.jsonl.")
    var recordBatches = false

    func run() throws {
        guard ["auto", "bar", "lines"].contains(progress) else {
            throw CLIError("--progress must be auto, bar or lines, got '\(progress)'")
        }
        let file = try config.map { try TrainConfigFile.load($0) }
        let settings = try TrainSettings(self, file: file, path: config)
        let resumePoint = try self.resumePoint(file)
        try checkOutputFolder(resuming: resumePoint != nil)
        if let (point, source) = resumePoint, case .checkpoint(let path) = point {
            try checkResumeFrom(path, source: source)
        }
        try LoRATrainer.checkFolderNotInUse(URL(fileURLWithPath: out))
        guard let datasetFormat = DatasetFormat(rawValue: format) else {
            throw CLIError(
                "--format '\(format)' is not known (\(DatasetFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        guard let style = ExampleEncoder.PromptStyle(rawValue: template) else {
            throw CLIError("--template '\(template)' is not known (chat, alpaca)")
        }
        let map = try parseFieldMap(fieldMap)
        if settings.parameters.saveTotalLimit != nil && settings.parameters.saveSteps == 0 {
            log("warning: --save-total-limit has nothing to limit without --save-steps (no checkpoints during the run)")
        }
        let loaded = try modelOptions.load()
        let rows = try DatasetReader.read(URL(fileURLWithPath: data), name: data, format: datasetFormat, fieldMap: map)
        let encoder = ExampleEncoder(
            tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate,
            options: .init(style: style, trainOnPrompt: trainOnPrompt, maxSequenceLength: settings.maxSeqLen))
        let (examples, summary) = try encoder.encode(rows, file: data)
        log(summary.line(file: data, maxSeqLen: settings.maxSeqLen, learned: true))
        guard !examples.isEmpty else {
            throw CLIError(
                "\(data): no row has a token to learn (\(summary.skipped) skipped: empty, all prompt, or a conversation "
                    + "without an assistant turn\(summary.cutOff)"
                    + "\(trainOnPrompt ? "" : "; --train-on-prompt learns the prompts too"))")
        }

        var config = settings.lora
        config.baseModelNameOrPath = loaded.name
        let adapter: LoRAAdapter
        do {
            adapter = try LoRAAdapter.create(config: config, for: loaded.model, seed: settings.parameters.seed)
        } catch LoRAError.invalidConfig(_, let why) {
            throw CLIError("\(settings.loraSource): \(why)")
        }
        log(adapter.trainableParametersLine(model: loaded.model))

        var p = settings.parameters
        if let evalData {
            let evalRows = try DatasetReader.read(
                URL(fileURLWithPath: evalData), name: evalData, format: datasetFormat, fieldMap: map)
            let (evalExamples, evalSummary) = try encoder.encode(evalRows, file: evalData)
            log(evalSummary.line(file: evalData + " (eval)", maxSeqLen: settings.maxSeqLen, learned: false))
            guard !evalExamples.isEmpty else { throw CLIError("\(evalData): no row has anything to score") }
            p.evalExamples = evalExamples
        }
        if p.precision == .bfloat16 {
            let kernel = Gemm.bf16Kernel == .pairs ? "AVX-512 BF16 dot products" : "rounded operands, float32 kernel"
            log("bf16: GEMMs with the frozen weights in bfloat16 (\(kernel)); adapters and optimizer in float32")
        }
        let trainer = try LoRATrainer(model: loaded.model, adapter: adapter, examples: examples, parameters: p)
        if let (point, source) = resumePoint {
            let checkpoint: URL
            switch point {
            case .latest:
                guard let latest = LoRATrainer.latestCheckpoint(in: URL(fileURLWithPath: out)) else {
                    throw CLIError("\(source): no complete checkpoint-N in \(out)")
                }
                checkpoint = latest
            case .checkpoint(let path):
                checkpoint = URL(fileURLWithPath: path)
            }
            do {
                try trainer.resume(from: checkpoint)
            } catch {
                if case LoRATrainer.TrainerError.settingsChanged = error { throw error }
                // A damaged checkpoint (a file cut short, say): the one before it may still serve.
                throw CLIError(
                    point == .latest
                        ? "\(error); if \(checkpoint.lastPathComponent) is damaged, remove it and --resume continues "
                            + "from the checkpoint before it"
                        : "\(error); if \(checkpoint.path) is damaged, --resume-from another checkpoint")
            }
            log("resumed from \(checkpoint.path) at step \(trainer.state.step)")
        }
        var last: LoRATrainer.Progress?
        let drawBar = progress == "bar" || (progress == "auto" && isatty(STDERR_FILENO) == 1)
        var bar = ProgressBar()
        let interrupt = Interrupt()
        defer { interrupt.restore() }
        // The loss line shows the mean over the steps since the last line, as transformers logs it
        // (metrics.jsonl keeps each step's).
        var window: [Float] = []
        try trainer.run { progress in
            last = progress
            window.append(progress.loss)
            if interrupt.requested {
                if drawBar { bar.finish() }
                return .stop
            }
            if progress.step % p.loggingSteps == 0 || progress.step == progress.totalSteps {
                let eval = progress.evalLoss.map { String(format: "  eval_loss %.4f", $0) } ?? ""
                let remaining = progress.elapsed / Double(progress.step) * Double(progress.totalSteps - progress.step)
                let line =
                    String(
                        format: "step %d/%d  loss %.4f  lr %.3g  grad_norm %.3f  %.0f tokens/s  %.0fs  ETA %.0fs",
                        progress.step, progress.totalSteps, window.reduce(0, +) / Float(window.count),
                        progress.learningRate, progress.gradNorm,
                        progress.tokensPerSecond, progress.elapsed, remaining) + eval
                if drawBar { bar.log(line) } else { log(line) }
                window.removeAll()
            }
            if drawBar { bar.update(progress) }
            return .continue
        }
        if drawBar { bar.finish() }
        if interrupt.requested, let last, last.step < last.totalSteps {
            let checkpoint = try trainer.saveCheckpointNow()
            log(
                "interrupted at step \(last.step)/\(last.totalSteps): adapter in \(out)/adapter"
                    + (checkpoint.map { ", checkpoint \($0.path); --resume continues from it" } ?? ""))
            throw ExitCode(130)
        }
        if last == nil {
            log("done: the run had already taken its \(trainer.totalSteps) steps; adapter in \(out)/adapter")
        }
        if let last {
            log(
                String(
                    format: "done: %d steps in %.0fs, final loss %.4f; adapter in %@/adapter", last.step, last.elapsed,
                    last.loss, out))
        }
    }

    /// OUT must be a folder or not exist yet; a folder holding another run is only continued
    /// with --resume (a fresh run would mix its checkpoints with the old ones, and
    /// --save-total-limit would prune the new run's for the old run's later steps).
    func checkOutputFolder(resuming: Bool) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: out, isDirectory: &isFolder) else {
            // It will be created: the nearest existing folder above it must be a folder.
            var above = URL(fileURLWithPath: out).deletingLastPathComponent()
            while !FileManager.default.fileExists(atPath: above.path, isDirectory: &isFolder) {
                above = above.deletingLastPathComponent()
            }
            guard isFolder.boolValue else { throw CLIError("--out \(out): \(above.path) is a file, not a folder") }
            return
        }
        guard isFolder.boolValue else { throw CLIError("--out \(out): a file is there, not a folder") }
        guard !resuming else { return }
        if let held = heldRun() {
            guard LoRATrainer.latestCheckpoint(in: URL(fileURLWithPath: out)) != nil else {
                throw CLIError(
                    "--out \(out) already holds a run (\(held)) with no complete checkpoint to resume from: "
                        + "remove it, or choose another folder")
            }
            throw CLIError(
                "--out \(out) already holds a run (\(held)): add --resume to continue it, or choose another folder")
        }
    }

    /// Where the run continues from, and the flag or key that said so: `--resume-from` or
    /// `--resume` (not both), else the config file's `resume_from_checkpoint`.
    func resumePoint(_ file: TrainConfigFile?) throws -> (ResumePoint, String)? {
        if let resumeFrom {
            guard !resume else {
                throw CLIError("--resume and --resume-from: give one (--resume takes the newest checkpoint in --out)")
            }
            return (.checkpoint(resumeFrom), "--resume-from")
        }
        if resume { return (.latest, "--resume") }
        if let point = file?.resumeFromCheckpoint { return (point, "\(config ?? "config"): resume_from_checkpoint") }
        return nil
    }

    /// Before anything loads: a chosen checkpoint must be complete. One of OUT's own leaves no
    /// checkpoint past its step in OUT (a later `--resume` would take one of those, from the
    /// abandoned branch, for this run's newest); one from another folder needs an OUT without a run.
    func checkResumeFrom(_ path: String, source: String) throws {
        let checkpoint = URL(fileURLWithPath: path).resolvingSymlinksInPath()
        let stateURL = checkpoint.appendingPathComponent(LoRATrainer.stateFile)
        guard FileManager.default.fileExists(atPath: stateURL.path) else {
            throw CLIError("\(source) \(path): not a complete checkpoint (no \(LoRATrainer.stateFile) in it)")
        }
        let outURL = URL(fileURLWithPath: out).resolvingSymlinksInPath()
        guard checkpoint.deletingLastPathComponent().path == outURL.path else {
            if let held = heldRun() {
                throw CLIError(
                    "--out \(out) already holds a run (\(held)), and \(path) is another folder's checkpoint: "
                        + "continue it into an --out without a run")
            }
            return
        }
        // An unreadable state is reported by the resume itself.
        guard let data = FileManager.default.contents(atPath: stateURL.path),
            let step = try? JSONDecoder().decode(TrainerState.self, from: data).step
        else { return }
        let later = LoRATrainer.checkpointSteps(in: outURL).filter { $0 > step }
        guard later.isEmpty else {
            throw CLIError(
                "--out \(out) holds \(later.map { "checkpoint-\($0)" }.joined(separator: ", ")), past step \(step) of "
                    + "\(path): remove \(later.count == 1 ? "it" : "them") to continue from there, "
                    + "or resume into another --out")
        }
    }

    /// The first sign of a run in OUT (a checkpoint or the adapter), if any.
    func heldRun() -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        return names.sorted().first { $0.hasPrefix("checkpoint-") || $0 == "adapter" }
    }
}

/// A checkpoint to continue from: the newest complete one in the output folder, or a given one.
enum ResumePoint: Equatable {
    case latest
    case checkpoint(String)
}
