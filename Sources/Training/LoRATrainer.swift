import Foundation
import Kernels
import LoRA
import ModelFiles
import Models

/// Fine-tunes a LoRA adapter (and its `modules_to_save`, in full) on encoded examples: shuffled
/// batches, gradient accumulation, global-norm clipping, AdamW and a warm-up schedule, metrics and
/// checkpoints.
///
/// ```swift
/// var parameters = LoRATrainer.Parameters()
/// parameters.maxSteps = 100
/// let trainer = LoRATrainer(model: loaded.model, adapter: adapter, examples: examples, parameters: parameters)
/// try trainer.run { progress in print(progress); return .continue }
/// ```
public final class LoRATrainer {
    /// Settings, named after transformers' `TrainingArguments`.
    public struct Parameters: Sendable {
        public var batchSize = 4
        public var gradientAccumulationSteps = 1
        public var epochs = 1
        /// When set, overrides `epochs`.
        public var maxSteps: Int?
        public var learningRate: Float = 2e-4
        public var schedule = LearningRateSchedule.linear
        public var warmupSteps = 0
        public var warmupRatio: Float = 0
        public var weightDecay: Float = 0
        public var maxGradNorm: Float = 1
        public var loggingSteps = 10
        /// 0 saves no intermediate checkpoints.
        public var saveSteps = 0
        /// Keep only the newest N checkpoints (nil keeps all).
        public var saveTotalLimit: Int?
        public var seed: UInt64 = 42
        /// Recompute each layer in the backward pass instead of keeping its activations.
        public var gradientCheckpointing = false
        /// The arithmetic of the GEMMs with the frozen base weights (`bf16: true` in
        /// TrainingArguments is `.bfloat16`); adapter weights, their gradients and the optimizer
        /// stay float32, and evaluation runs in float32.
        public var precision = GemmPrecision.float32
        /// Pack the rows of each batch into sequences of up to `packLength` tokens (positions and
        /// attention restart at each row): the same batches in fewer, larger matrix products.
        public var packing = false
        public var packLength = 512
        /// Where `adapter/`, `checkpoint-N/` and `metrics.jsonl` go.
        public var outputDirectory: URL?
        /// Held-out examples; their loss is measured every `evalSteps` steps and at the end.
        public var evalExamples: [EncodedExample] = []
        /// 0 evaluates only at the end (when there are eval examples).
        public var evalSteps = 0
        /// Also write `batches.jsonl` (every step's rows as token ids and labels, in order) and
        /// `eval-examples.jsonl` to the output folder, so another trainer can be run on identical inputs.
        public var recordBatches = false
        public init() {}
    }

    /// Reported after every optimizer step.
    public struct Progress: Sendable {
        public var step: Int
        public var totalSteps: Int
        public var epoch: Double
        public var loss: Float
        public var learningRate: Float
        public var gradNorm: Float
        public var tokensPerSecond: Double
        public var elapsed: Double
        /// Loss on the held-out examples, at the steps where it was measured.
        public var evalLoss: Double?
    }

    /// The callback's answer. `stop` ends the run after the reported step; with an output
    /// folder, a checkpoint of that step is written (before the adapter), so it can be resumed.
    public enum Decision { case `continue`, stop }

    public enum TrainerError: Error, CustomStringConvertible {
        case noExamples
        case nonFinite(step: Int, loss: Float)
        /// An optimizer step left a trainable value NaN or infinite (it is not saved).
        case nonFiniteWeights(step: Int)
        /// A file of the run could not be written (a full disk, a read-only folder).
        case cannotWrite(path: String, reason: String)
        /// A setting no run can use, by its `TrainingArguments` key.
        case invalidParameter(key: String, reason: String)
        /// A checkpoint made with other settings than the run resuming from it.
        case settingsChanged(checkpoint: String, changes: [String])
        /// A checkpoint whose position does not fit this run's data.
        case checkpointMismatch(checkpoint: String, reason: String)
        /// Another run is writing into the output folder.
        case folderInUse(path: String)
        public var description: String {
            switch self {
            case .noExamples: "no training examples"
            case .nonFinite(let step, let loss):
                "loss became \(loss.isNaN ? "NaN" : "\(loss)") at step \(step); stopped (checkpoints written before it are kept)"
            case .cannotWrite(let path, let reason): "\(path): cannot write: \(reason)"
            case .nonFiniteWeights(let step):
                "the adapter's weights became NaN or infinite at step \(step) (is the learning rate too high?); "
                    + "stopped before saving them (checkpoints written before it are kept)"
            case .invalidParameter(let key, let reason): "'\(key)' \(reason)"
            case .settingsChanged(let checkpoint, let changes):
                "\(checkpoint) was made with other settings (\(changes.joined(separator: "; "))); "
                    + "resume with the settings it was made with, or train into a new output folder"
            case .checkpointMismatch(let checkpoint, let reason): "\(checkpoint): \(reason)"
            case .folderInUse(let path):
                "\(path): another training run is writing into this folder (it holds \(path)/\(RunFolderLock.fileName)); "
                    + "wait for it to end, or train into another folder"
            }
        }
    }

    public let model: LlamaModel
    /// The output folder's lock while ``run(progress:)`` runs.
    var folderLock: RunFolderLock?
    public let adapter: LoRAAdapter
    public let examples: [EncodedExample]
    public let parameters: Parameters
    let linears: [LoRALinear]
    /// The modules to save, by module path: the model reads the adapter's tensors in place.
    let savedWeights: [TrainableWeight]
    public internal(set) var optimizer: AdamW
    /// Where the run is: what a checkpoint stores besides weights and moments.
    public internal(set) var state: TrainerState
    /// What a checkpoint records of the run's settings and data, and a resume compares (see ``settings(_:_:_:)``).
    let settings: [String: String]

    /// Attaches `adapter` to `model` for training (its tensors are updated in place).
    public init(model: LlamaModel, adapter: LoRAAdapter, examples: [EncodedExample], parameters: Parameters) throws {
        self.model = model
        self.adapter = adapter
        self.examples = examples
        self.parameters = parameters
        try parameters.validate()
        // A row with no token to predict would take a share of a batch and give it no gradient.
        if let i = examples.firstIndex(where: { $0.targetCount == 0 }) {
            throw TrainerError.invalidParameter(key: "examples[\(i)]", reason: "has no token to predict")
        }
        model.adapters = [:]
        model.restoreBaseWeights()
        try adapter.attach(to: model)
        linears = model.adapters.sorted { $0.key.modulePath < $1.key.modulePath }.compactMap {
            $0.value.first as? LoRALinear
        }
        savedWeights = model.trainableWeights.sorted { $0.key.modulePath < $1.key.modulePath }.map(\.value)
        // The config's lora_dropout on every adapter input, each with its own mask stream from the seed.
        var streams = SplitMix64(seed: parameters.seed ^ 0xD1B5_4A32_D192_ED03)
        for linear in linears {
            linear.dropout = Float(adapter.config.loraDropout)
            linear.randomState = streams.next()
        }
        optimizer = AdamW(learningRate: parameters.learningRate, weightDecay: parameters.weightDecay)
        settings = Self.settings(parameters, adapter.config, examples, model: model)
        state = TrainerState(
            step: 0, epoch: 0, order: [], cursor: 0, dataRandom: parameters.seed,
            dropoutRandom: linears.map(\.randomState))
    }

    /// Optimizer steps the run will take.
    public var totalSteps: Int {
        let perEpoch = max(
            1,
            (examples.count + parameters.batchSize * parameters.gradientAccumulationSteps - 1)
                / (parameters.batchSize * parameters.gradientAccumulationSteps))
        return parameters.maxSteps ?? perEpoch * parameters.epochs
    }

    /// Groups a batch's rows, in order, into packs of at most `length` tokens (a longer row alone).
    static func pack(_ rows: [EncodedExample], length: Int) -> [[EncodedExample]] {
        var packs: [[EncodedExample]] = []
        var current: [EncodedExample] = []
        var used = 0
        for row in rows {
            if !current.isEmpty && used + row.ids.count > length {
                packs.append(current)
                current = []
                used = 0
            }
            current.append(row)
            used += row.ids.count
        }
        if !current.isEmpty { packs.append(current) }
        return packs
    }

    /// Runs to the end (or until `progress` answers `.stop`), then writes `adapter/`.
    public func run(progress: (Progress) -> Decision = { _ in .continue }) throws {
        guard !examples.isEmpty else { throw TrainerError.noExamples }
        let p = parameters
        let total = totalSteps
        guard state.step <= total else {
            throw TrainerError.checkpointMismatch(
                checkpoint: "resumed state", reason: "step \(state.step) is past the run's \(total) steps")
        }
        let warmup = p.warmupSteps > 0 ? p.warmupSteps : Int((Float(total) * p.warmupRatio).rounded(.up))
        let perStep = p.batchSize * p.gradientAccumulationSteps
        var random = SplitMix64(seed: state.dataRandom)
        var order = state.order
        var cursor = state.cursor
        var epoch = state.epoch
        let start = Date()
        var tokens = 0
        folderLock = try p.outputDirectory.map { try RunFolderLock($0) }
        defer {
            folderLock?.release()
            folderLock = nil
        }
        if let folder = p.outputDirectory { Self.tidy(folder, keeping: p.saveTotalLimit) }
        var metrics = try p.outputDirectory.map { try MetricsLog(folder: $0, keepingThrough: state.step) }
        // A resumed run's elapsed time goes on from the step it resumes at.
        let elapsedBefore = metrics?.elapsedThrough ?? 0
        let record = try p.outputDirectory.flatMap { folder in
            try p.recordBatches
                ? BatchRecord(folder: folder, keepingThrough: state.step, evalExamples: p.evalExamples) : nil
        }
        // LoRA pairs, then the modules to save: the order of the optimizer's moments in checkpoints.
        let parameterPairs =
            linears.flatMap { [($0.a, $0.gradA), ($0.b, $0.gradB)] } + savedWeights.map { ($0.value, $0.gradient) }
        linears.forEach { $0.training = true }
        defer { linears.forEach { $0.training = false } }
        // bf16: the frozen float weights packed once for the pair kernel, for this run.
        if p.precision == .bfloat16 { model.packBFloat16Panels() }
        defer { if p.precision == .bfloat16 { model.dropBFloat16Panels() } }
        for step in state.step..<total {
            // A step takes the next rows of this epoch; the epoch's last step may be short (as a
            // DataLoader without drop_last), so each row is learned once per epoch.
            if cursor >= order.count {
                if !order.isEmpty { epoch += 1 }
                order = random.shuffled(examples.indices)
                cursor = 0
            }
            let batch = Array(order[cursor..<min(cursor + perStep, order.count)])
            cursor += batch.count
            linears.forEach { $0.zeroGradients() }
            savedWeights.forEach { $0.zeroGradient() }
            // Weight each sequence by its share of the predicted tokens, as one big batch would.
            let labelled = batch.reduce(0) { $0 + examples[$1].targetCount }
            var loss: Float = 0
            for group in p.packing
                ? Self.pack(batch.map { examples[$0] }, length: p.packLength) : batch.map({ [examples[$0]] })
            {
                if group.count == 1 {
                    let e = group[0]
                    let w = Float(e.targetCount) / Float(max(labelled, 1))
                    loss +=
                        w
                        * (try model.lossAndGradients(
                            ids: e.ids, labels: e.labels, gradientScale: w, checkpointing: p.gradientCheckpointing,
                            precision: p.precision))
                } else {
                    // One packed sequence: its mean loss over all its targets, weighted by their share.
                    var ids: [Int] = []
                    var labels: [Int] = []
                    var targets = 0
                    for e in group {
                        ids += e.ids
                        labels += [EncodedExample.ignored] + e.labels.dropFirst()
                        targets += e.targetCount
                    }
                    let w = Float(targets) / Float(max(labelled, 1))
                    loss +=
                        w
                        * (try model.lossAndGradients(
                            ids: ids, labels: labels, segments: group.map(\.ids.count), gradientScale: w,
                            checkpointing: p.gradientCheckpointing, precision: p.precision))
                }
                tokens += group.reduce(0) { $0 + $1.ids.count }
            }
            guard loss.isFinite else { throw TrainerError.nonFinite(step: step + 1, loss: loss) }
            try record?.append(step: step + 1, rows: batch.map { examples[$0] })
            var squared: Double = 0
            for (_, g) in parameterPairs {
                for j in 0..<g.count { squared += Double(g.pointer[j]) * Double(g.pointer[j]) }
            }
            let norm = Float(squared.squareRoot())
            if p.maxGradNorm > 0 && norm > p.maxGradNorm {
                let scale = p.maxGradNorm / (norm + 1e-6)  // torch.nn.utils.clip_grad_norm_
                for (_, g) in parameterPairs { for j in 0..<g.count { g.pointer[j] *= scale } }
            }
            optimizer.learningRate = p.learningRate * p.schedule.factor(step: step, total: total, warmup: warmup)
            optimizer.update(parameterPairs)
            for (w, _) in parameterPairs where !Self.allFinite(w) {
                throw TrainerError.nonFiniteWeights(step: step + 1)
            }
            state = TrainerState(
                step: step + 1, epoch: epoch, order: order, cursor: cursor, dataRandom: random.state,
                dropoutRandom: linears.map(\.randomState))
            let elapsed = Date().timeIntervalSince(start)
            var report = Progress(
                step: step + 1, totalSteps: total, epoch: Double(epoch) + Double(cursor) / Double(examples.count),
                loss: loss, learningRate: optimizer.learningRate, gradNorm: norm,
                tokensPerSecond: Double(tokens) / max(elapsed, 1e-9), elapsed: elapsedBefore + elapsed)
            let evalNow = (p.evalSteps > 0 && (step + 1) % p.evalSteps == 0) || step + 1 == total
            if !p.evalExamples.isEmpty && evalNow {
                linears.forEach { $0.training = false }
                report.evalLoss = try Evaluation.run(model, on: p.evalExamples).loss
                linears.forEach { $0.training = true }
            }
            try metrics?.append(report)
            if p.saveSteps > 0, (step + 1) % p.saveSteps == 0, let folder = p.outputDirectory {
                try saveCheckpoint(to: folder.appendingPathComponent("checkpoint-\(step + 1)"))
                if let limit = p.saveTotalLimit { Self.pruneCheckpoints(in: folder, keeping: limit) }
            }
            if progress(report) == .stop {
                // The checkpoint first: a stop cut short while writing still leaves a resumable folder.
                if state.step < total { try writeCheckpointNow() }
                break
            }
        }
        if let folder = p.outputDirectory {
            try saveAtomically(to: folder.appendingPathComponent("adapter"))
            try? LossChart.write(
                metrics: folder.appendingPathComponent("metrics.jsonl"), to: folder.appendingPathComponent("loss.svg"))
        }
    }

    /// Whether every value of `t` is finite.
    static func allFinite(_ t: Tensor) -> Bool {
        UnsafeBufferPointer(start: t.pointer, count: t.count).allSatisfy(\.isFinite)
    }

    /// Writes the adapter into a temporary folder and renames it into place.
    func saveAtomically(to folder: URL) throws {
        let temporary = folder.deletingLastPathComponent().appendingPathComponent(".\(folder.lastPathComponent).tmp")
        try? FileManager.default.removeItem(at: temporary)
        try adapter.save(folder: temporary)
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.moveItem(at: temporary, to: folder)
        AtomicFile.sync(folder.deletingLastPathComponent().path)
    }
}

/// `metrics.jsonl`: one JSON object per optimizer step.
struct MetricsLog {
    let handle: FileHandle
    let path: String

    /// The `elapsed` of the kept line of the step resumed at (0 for a fresh run).
    let elapsedThrough: Double

    /// Opens `metrics.jsonl`, keeping the lines of steps up to `step` (a resumed run continues the file).
    init(folder: URL, keepingThrough step: Int) throws {
        let url = folder.appendingPathComponent("metrics.jsonl")
        let opened = try StepLines.open(url, keepingThrough: step)
        handle = opened.handle
        path = url.path
        elapsedThrough = opened.atStep?["elapsed"] as? Double ?? 0
    }

    mutating func append(_ p: LoRATrainer.Progress) throws {
        let eval = p.evalLoss.map { String(format: #", "eval_loss": %.6f"#, $0) } ?? ""
        let head = String(format: #"{"step": %d, "epoch": %.4f, "loss": %.6f"#, p.step, p.epoch, p.loss)
        // The learning rate as its shortest float32 text (2e-4 is "0.0002", not "0.00019999999").
        let tail =
            #", "learning_rate": \#(p.learningRate)"#
            + String(
                format: #", "grad_norm": %.6f, "tokens_per_second": %.1f, "elapsed": %.2f, "peak_rss_mib": %.1f}"#,
                p.gradNorm, p.tokensPerSecond, p.elapsed, Self.peakRSSMiB())
        let line = head + eval + tail + "\n"
        do {
            try handle.write(contentsOf: Data(line.utf8))
        } catch {
            throw LoRATrainer.TrainerError.cannotWrite(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    static func peakRSSMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        return 0
    }
}
