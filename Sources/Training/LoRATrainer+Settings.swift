import Foundation
import LoRA
import Kernels
import ModelFiles
import Models

extension LoRATrainer.Parameters {
    /// Refuses settings no run can use, naming each by its `TrainingArguments` key.
    public func validate() throws {
        func check(_ ok: Bool, _ key: String, _ reason: @autoclosure () -> String) throws {
            guard ok else { throw LoRATrainer.TrainerError.invalidParameter(key: key, reason: reason()) }
        }
        try check(batchSize >= 1, "per_device_train_batch_size", "must be at least 1, not \(batchSize)")
        try check(
            gradientAccumulationSteps >= 1, "gradient_accumulation_steps",
            "must be at least 1, not \(gradientAccumulationSteps)")
        try check(epochs >= 1, "num_train_epochs", "must be at least 1, not \(epochs)")
        if let maxSteps { try check(maxSteps >= 1, "max_steps", "must be at least 1, not \(maxSteps)") }
        try check(
            learningRate.isFinite && learningRate >= 0, "learning_rate",
            "must be a finite number of at least 0, not \(learningRate)")
        try check(warmupSteps >= 0, "warmup_steps", "must be at least 0, not \(warmupSteps)")
        try check((0...1).contains(warmupRatio), "warmup_ratio", "must be in [0, 1], not \(warmupRatio)")
        try check(
            schedule != .constant || (warmupSteps == 0 && warmupRatio == 0), "lr_scheduler_type",
            "'constant' has no warm-up (transformers ignores warm-up with it): use constant_with_warmup, "
                + "or no warm-up")
        try check(
            weightDecay.isFinite && weightDecay >= 0, "weight_decay",
            "must be a finite number of at least 0, not \(weightDecay)")
        try check(
            maxGradNorm.isFinite && maxGradNorm >= 0, "max_grad_norm",
            "must be a finite number of at least 0 (0 = no clipping), not \(maxGradNorm)")
        try check(loggingSteps >= 1, "logging_steps", "must be at least 1, not \(loggingSteps)")
        try check(saveSteps >= 0, "save_steps", "must be at least 0 (0 = no checkpoints), not \(saveSteps)")
        if let saveTotalLimit {
            try check(saveTotalLimit >= 1, "save_total_limit", "must be at least 1, not \(saveTotalLimit)")
        }
        try check(evalSteps >= 0, "eval_steps", "must be at least 0 (0 = at the end only), not \(evalSteps)")
        try check(packLength >= 2, "max_seq_length", "must be at least 2, not \(packLength)")
    }
}

extension LoRATrainer {
    static let settingsFile = "training_args.json"

    /// Everything that decides a run's numbers, by `TrainingArguments` / `LoraConfig` names, as
    /// strings: written into each checkpoint, and compared on resume (a resumed run continues the
    /// same computation, so it must not change them). Logging, saving, evaluation and gradient
    /// checkpointing (bit-identical) may change. Made once, in `init` (the data's fingerprint reads
    /// every example).
    static func settings(_ p: Parameters, _ c: LoRAConfig, _ examples: [EncodedExample], model: LlamaModel)
        -> [String: String]
    {
        let base = baseFingerprint(model)
        return [
            "base_model_weights": base.weights,
            "base_model_formats": base.formats,
            "per_device_train_batch_size": "\(p.batchSize)",
            "gradient_accumulation_steps": "\(p.gradientAccumulationSteps)",
            "num_train_epochs": "\(p.epochs)",
            "max_steps": p.maxSteps.map { "\($0)" } ?? "none",
            "learning_rate": "\(p.learningRate)",
            "lr_scheduler_type": p.schedule.rawValue,
            "warmup_steps": "\(p.warmupSteps)",
            "warmup_ratio": "\(p.warmupRatio)",
            "weight_decay": "\(p.weightDecay)",
            "max_grad_norm": "\(p.maxGradNorm)",
            "seed": "\(p.seed)",
            "bf16": "\(p.precision == .bfloat16)",
            "packing": p.packing ? "true (max_seq_length \(p.packLength))" : "false",
            "r": "\(c.r)",
            "lora_alpha": "\(c.loraAlpha)",
            "lora_dropout": "\(c.loraDropout)",
            "use_rslora": "\(c.useRSLoRA)",
            "target_modules": Self.describe(c.targetModules),
            // "none" when unset, as checkpoints written before these keys existed read them.
            "exclude_modules": c.excludeModules.map(Self.describe) ?? "none",
            "rank_pattern": Self.describe(c.rankPattern),
            "alpha_pattern": Self.describe(c.alphaPattern),
            "layers_to_transform": c.layersToTransform.map { $0.map(String.init).joined(separator: ",") } ?? "none",
            "modules_to_save": c.modulesToSave.map { $0.joined(separator: ",") } ?? "none",
            "train_examples": "\(examples.count)",
            "train_data_fingerprint": fingerprint(examples),
        ]
    }

    static func describe(_ targets: LoRAConfig.TargetModules) -> String {
        switch targets {
        case .names(let names): names.joined(separator: ",")
        case .regex(let pattern): "regex \(pattern)"
        case .allLinear: "all-linear"
        }
    }

    static func describe(_ pattern: [String: some Any]) -> String {
        pattern.isEmpty
            ? "none" : pattern.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    /// FNV-1a (64-bit) over every example's token ids and labels, in order: a changed file,
    /// tokenizer, template or truncation changes it.
    static func fingerprint(_ examples: [EncodedExample]) -> String {
        var hash = FNV1a()
        for e in examples {
            hash.mix(e.ids.count)
            e.ids.forEach { hash.mix($0) }
            e.labels.forEach { hash.mix($0) }
        }
        return hash.description
    }

    /// The base model a run trains on: FNV-1a over its sizes and a sample of its loaded weights
    /// as float32 (the first and last row of every matrix, and the norms), and the storage
    /// formats of its matrices. A resume on another model, or on the same one stored in another
    /// format (other arithmetic), is refused.
    static func baseFingerprint(_ model: LlamaModel) -> (weights: String, formats: String) {
        var hash = FNV1a()
        var formats = Set<String>()
        func sample(_ module: LlamaModule) {
            let m = model.baseWeight(of: module)
            formats.insert(m.format.rawValue)
            hash.mix(m.rows)
            hash.mix(m.columns)
            for r in Set([0, m.rows - 1]).sorted() {
                m.format.dequantizedRow(m.row(r), count: m.columns).forEach { hash.mix($0) }
            }
        }
        sample(.embedTokens)
        for (l, layer) in model.layers.enumerated() {
            LlamaProjection.allCases.forEach { sample(.projection(ProjectionKey(layer: l, projection: $0))) }
            (layer.inputLayernorm + layer.postAttentionLayernorm).forEach { hash.mix($0) }
        }
        model.norm.forEach { hash.mix($0) }
        sample(.lmHead)
        return (hash.description, formats.sorted().joined(separator: ","))
    }

    func writeSettings(into folder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        try AtomicFile.write(try encoder.encode(settings), to: folder.appendingPathComponent(Self.settingsFile))
    }

    /// Refuses to resume from `checkpoint` when a setting that decides the run's numbers differs.
    func checkSettings(of checkpoint: URL) throws {
        let url = checkpoint.appendingPathComponent(Self.settingsFile)
        guard let data = try? Data(contentsOf: url) else {
            throw TrainerError.settingsChanged(checkpoint: checkpoint.path, changes: ["no \(Self.settingsFile)"])
        }
        guard let saved = try? JSONDecoder().decode([String: String].self, from: data) else {
            throw TrainerError.settingsChanged(checkpoint: checkpoint.path, changes: ["\(url.path) is unreadable"])
        }
        let now = settings
        let changes = Set(saved.keys).union(now.keys).sorted().compactMap { key -> String? in
            let before = saved[key] ?? "none"
            let after = now[key] ?? "none"
            return before == after ? nil : "\(key) \(before) → \(after)"
        }
        guard changes.isEmpty else {
            throw TrainerError.settingsChanged(checkpoint: checkpoint.path, changes: changes)
        }
    }
}

/// The 64-bit FNV-1a hash of a sequence of integers and floats (each as its 8 little-endian bytes).
struct FNV1a: CustomStringConvertible {
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func mix(_ value: UInt64) {
        var v = value
        for _ in 0..<8 {
            hash = (hash ^ (v & 0xff)) &* 0x100_0000_01b3
            v >>= 8
        }
    }

    /// Each byte, as FNV-1a over a byte string.
    mutating func mix(bytes: Data) {
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    }

    mutating func mix(_ value: Int) { mix(UInt64(bitPattern: Int64(value))) }
    mutating func mix(_ value: Float) { mix(UInt64(value.bitPattern)) }

    var description: String { String(hash, radix: 16) }
}
