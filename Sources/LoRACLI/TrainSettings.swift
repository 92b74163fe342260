import Foundation
import Kernels
import LoRA
import Training

/// The settings of a `lora train` run: a flag over the YAML file's key over the default. Each
/// remembers where it came from, so a refusal names the flag or the file and key that set it.
struct TrainSettings {
    var parameters = LoRATrainer.Parameters()
    var lora = LoRAConfig()
    var maxSeqLen = 512
    /// `TrainingArguments` / `LoraConfig` key → where its value was set (`--batch-size`, or `FILE: 'key'`).
    private var sources: [String: String] = [:]
    /// The `--config` file, if any.
    private let configPath: String?

    init(_ command: Train, file: TrainConfigFile?, path: String?) throws {
        configPath = path
        /// The flag's value, else the file's, else the default; records the source.
        func pick<T>(_ flag: T?, _ name: String, _ stored: T?, _ key: String, _ fallback: T) -> T {
            if let flag {
                sources[key] = name
                return flag
            }
            if let stored, let path {
                sources[key] = "\(path): '\(key)'"
                return stored
            }
            return fallback
        }
        /// The same for a setting that may stay unset.
        func pickOptional<T>(_ flag: T?, _ name: String, _ stored: T?, _ key: String) -> T? {
            if flag == nil && stored == nil { return nil }
            return pick(flag, name, stored, key, flag ?? stored!)
        }
        // --epochs and --max-steps are alternatives, and so are the two warm-ups: given together
        // as flags they are refused; a flag for one sets aside the file's other.
        if command.epochs != nil && command.maxSteps != nil {
            throw CLIError("--epochs and --max-steps are alternatives: give one")
        }
        if command.warmupRatio != nil && command.warmupSteps != nil {
            throw CLIError("--warmup-ratio and --warmup-steps are alternatives: give one")
        }
        let fileMaxSteps = command.epochs == nil ? file?.maxSteps : nil
        let fileWarmupSteps = command.warmupRatio == nil ? file?.warmupSteps : nil
        let fileWarmupRatio = command.warmupSteps == nil ? file?.warmupRatio : nil
        if let path, let steps = fileWarmupSteps, let ratio = fileWarmupRatio, steps > 0 && ratio > 0 {
            throw CLIError("\(path): 'warmup_steps' and 'warmup_ratio' are alternatives: set one")
        }

        var p = LoRATrainer.Parameters()
        p.batchSize = pick(
            command.batchSize, "--batch-size", file?.perDeviceTrainBatchSize, "per_device_train_batch_size", 4)
        p.gradientAccumulationSteps = pick(
            command.gradAccum, "--grad-accum", file?.gradientAccumulationSteps, "gradient_accumulation_steps", 1)
        p.epochs = pick(command.epochs, "--epochs", file?.numTrainEpochs, "num_train_epochs", 1)
        p.maxSteps = pickOptional(command.maxSteps, "--max-steps", fileMaxSteps, "max_steps")
        p.learningRate = pick(command.learningRate, "--learning-rate", file?.learningRate, "learning_rate", 2e-4)
        let scheduler = pick(
            command.lrScheduler, "--lr-scheduler", file?.lrSchedulerType, "lr_scheduler_type", "linear")
        guard let schedule = LearningRateSchedule(rawValue: scheduler) else {
            throw CLIError(
                "\(sources["lr_scheduler_type"] ?? "--lr-scheduler") '\(scheduler)' is not known (\(LearningRateSchedule.names))"
            )
        }
        p.schedule = schedule
        p.warmupRatio = pick(command.warmupRatio, "--warmup-ratio", fileWarmupRatio, "warmup_ratio", 0)
        p.warmupSteps = pick(command.warmupSteps, "--warmup-steps", fileWarmupSteps, "warmup_steps", 0)
        p.weightDecay = pick(command.weightDecay, "--weight-decay", file?.weightDecay, "weight_decay", 0)
        p.maxGradNorm = pick(command.maxGradNorm, "--max-grad-norm", file?.maxGradNorm, "max_grad_norm", 1)
        maxSeqLen = pick(command.maxSeqLen, "--max-seq-len", file?.maxSeqLength, "max_seq_length", 512)
        p.packLength = maxSeqLen
        p.loggingSteps = pick(command.loggingSteps, "--logging-steps", file?.loggingSteps, "logging_steps", 10)
        p.saveSteps = pick(command.saveSteps, "--save-steps", file?.saveSteps, "save_steps", 0)
        p.saveTotalLimit = pickOptional(
            command.saveTotalLimit, "--save-total-limit", file?.saveTotalLimit, "save_total_limit")
        p.evalSteps = pick(command.evalSteps, "--eval-steps", file?.evalSteps, "eval_steps", 0)
        p.seed = pick(command.seed, "--seed", file?.seed, "seed", 42)
        p.gradientCheckpointing = command.gradCheckpointing ?? file?.gradientCheckpointing ?? false
        p.packing = command.packing ?? file?.packing ?? false
        p.precision = command.bf16 ?? file?.bf16 ?? false ? .bfloat16 : .float32
        p.recordBatches = command.recordBatches
        p.outputDirectory = URL(fileURLWithPath: command.out)
        parameters = p

        lora.r = pick(command.rank, "--rank", file?.r, "r", 8)
        lora.loraAlpha = pick(command.alpha, "--alpha", file?.loraAlpha, "lora_alpha", 16)
        lora.loraDropout = pick(command.dropout, "--dropout", file?.loraDropout, "lora_dropout", 0.05)
        lora.targetModules = pick(
            command.targets.map(Self.targets), "--targets", file?.targetModules, "target_modules",
            .names(["q_proj", "v_proj"]))
        lora.useRSLoRA = command.useRslora ?? file?.useRSLoRA ?? false
        lora.excludeModules = pickOptional(nil, "", file?.excludeModules, "exclude_modules")
        lora.rankPattern = pick(nil, "", file?.rankPattern, "rank_pattern", [:])
        lora.alphaPattern = pick(nil, "", file?.alphaPattern, "alpha_pattern", [:])
        lora.layersToTransform = pickOptional(nil, "", file?.layersToTransform, "layers_to_transform")
        lora.initLoRAWeights = pick(nil, "", file?.initLoRAWeights, "init_lora_weights", .kaiming)
        let saved = pickOptional(
            command.modulesToSave, "--modules-to-save", file?.modulesToSave?.joined(separator: ","), "modules_to_save")
        lora.modulesToSave = saved.map { $0.split(separator: ",").map(String.init) }
        lora.ensureWeightTying = file?.ensureWeightTying ?? false

        guard lora.r >= 1 else { throw CLIError("\(named("r")) must be at least 1, not \(lora.r)") }
        guard (0..<1).contains(lora.loraDropout) else {
            throw CLIError("\(named("lora_dropout")) must be in [0, 1), not \(lora.loraDropout)")
        }
        guard lora.loraAlpha.isFinite && lora.loraAlpha > 0 else {
            throw CLIError("\(named("lora_alpha")) must be a finite number above 0, not \(lora.loraAlpha)")
        }
        guard maxSeqLen >= 2 else {
            throw CLIError("\(named("max_seq_length")) must be at least 2 (one token to learn from one before it)")
        }
        if p.evalSteps > 0 && command.evalData == nil {
            throw CLIError("\(named("eval_steps")) needs --eval-data (the held-out rows to measure)")
        }
        do {
            try p.validate()
        } catch LoRATrainer.TrainerError.invalidParameter(let key, let reason) {
            throw CLIError("\(named(key)) \(reason)")
        }
    }

    /// `--targets`: `all-linear`, a regular expression (any of `*+?()[]|\^$`, full-matched
    /// against module paths as PEFT reads a string), or comma-separated names.
    static func targets(_ value: String) -> LoRAConfig.TargetModules {
        if value == "all-linear" { return .allLinear }
        if value.contains(where: { "*+?()[]|\\^$".contains($0) }) { return .regex(value) }
        return .names(value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    /// Where the adapter's settings came from, for errors about them as a whole: the flag or key
    /// that set target_modules, else the config file.
    var loraSource: String { sources["target_modules"] ?? configPath ?? "LoRA configuration" }

    /// The flag, or file and key, that set `key` (the bare key for a default).
    func named(_ key: String) -> String { sources[key] ?? "'\(key)'" }
}
