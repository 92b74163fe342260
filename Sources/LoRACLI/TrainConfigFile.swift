import Foundation
import LoRA
import ModelFiles
import Yams

/// `lora train --config FILE.yaml`: the same settings under Hugging Face `TrainingArguments` and
/// PEFT `LoraConfig` names. Unknown keys are errors; flags given on the command line win.
struct TrainConfigFile: Decodable {
    var perDeviceTrainBatchSize: Int?
    var gradientAccumulationSteps: Int?
    var numTrainEpochs: Int?
    var maxSteps: Int?
    var learningRate: Float?
    var lrSchedulerType: String?
    var warmupRatio: Float?
    var warmupSteps: Int?
    var weightDecay: Float?
    var maxGradNorm: Float?
    var loggingSteps: Int?
    var saveSteps: Int?
    var saveTotalLimit: Int?
    var evalSteps: Int?
    var seed: UInt64?
    var gradientCheckpointing: Bool?
    var bf16: Bool?
    var fp16: Bool?
    var packing: Bool?
    var maxSeqLength: Int?
    var r: Int?
    var loraAlpha: Double?
    var loraDropout: Double?
    var targetModules: LoRAConfig.TargetModules?
    var modulesToSave: [String]?
    var ensureWeightTying: Bool?
    var useRSLoRA: Bool?
    var excludeModules: LoRAConfig.TargetModules?
    var rankPattern: [String: Int]?
    var alphaPattern: [String: Double]?
    var layersToTransform: [Int]?
    var bias: String?
    var initLoRAWeights: LoRAConfig.InitMethod?
    /// `resume_from_checkpoint`: `true` (the newest checkpoint in the output folder) or a
    /// checkpoint folder, as TrainingArguments takes it; `false` is no resume.
    var resumeFromCheckpoint: ResumePoint?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case perDeviceTrainBatchSize = "per_device_train_batch_size"
        case gradientAccumulationSteps = "gradient_accumulation_steps"
        case numTrainEpochs = "num_train_epochs"
        case maxSteps = "max_steps"
        case learningRate = "learning_rate"
        case lrSchedulerType = "lr_scheduler_type"
        case warmupRatio = "warmup_ratio"
        case warmupSteps = "warmup_steps"
        case weightDecay = "weight_decay"
        case maxGradNorm = "max_grad_norm"
        case loggingSteps = "logging_steps"
        case saveSteps = "save_steps"
        case saveTotalLimit = "save_total_limit"
        case evalSteps = "eval_steps"
        case seed
        case gradientCheckpointing = "gradient_checkpointing"
        case bf16
        case fp16
        case packing
        case maxSeqLength = "max_seq_length"
        case r
        case loraAlpha = "lora_alpha"
        case loraDropout = "lora_dropout"
        case targetModules = "target_modules"
        case modulesToSave = "modules_to_save"
        case ensureWeightTying = "ensure_weight_tying"
        case useRSLoRA = "use_rslora"
        case excludeModules = "exclude_modules"
        case rankPattern = "rank_pattern"
        case alphaPattern = "alpha_pattern"
        case layersToTransform = "layers_to_transform"
        case bias
        case initLoRAWeights = "init_lora_weights"
        case resumeFromCheckpoint = "resume_from_checkpoint"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        perDeviceTrainBatchSize = try c.decodeIfPresent(Int.self, forKey: .perDeviceTrainBatchSize)
        gradientAccumulationSteps = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulationSteps)
        // TrainingArguments' num_train_epochs is a float (3.0 is common); whole values are taken.
        if let epochs = try c.decodeIfPresent(Double.self, forKey: .numTrainEpochs) {
            guard epochs.rounded() == epochs, let whole = Int(exactly: epochs) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .numTrainEpochs, in: c,
                    debugDescription: "\(epochs): fractional epochs are not implemented; use max_steps")
            }
            numTrainEpochs = whole
        }
        // TrainingArguments' max_steps of -1 (its default, often written out) or 0 means "not set".
        maxSteps = try c.decodeIfPresent(Int.self, forKey: .maxSteps).flatMap { $0 > 0 ? $0 : nil }
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate)
        lrSchedulerType = try c.decodeIfPresent(String.self, forKey: .lrSchedulerType)
        warmupRatio = try c.decodeIfPresent(Float.self, forKey: .warmupRatio)
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps)
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay)
        maxGradNorm = try c.decodeIfPresent(Float.self, forKey: .maxGradNorm)
        loggingSteps = try c.decodeIfPresent(Int.self, forKey: .loggingSteps)
        saveSteps = try c.decodeIfPresent(Int.self, forKey: .saveSteps)
        saveTotalLimit = try c.decodeIfPresent(Int.self, forKey: .saveTotalLimit)
        evalSteps = try c.decodeIfPresent(Int.self, forKey: .evalSteps)
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed)
        gradientCheckpointing = try c.decodeIfPresent(Bool.self, forKey: .gradientCheckpointing)
        bf16 = try c.decodeIfPresent(Bool.self, forKey: .bf16)
        fp16 = try c.decodeIfPresent(Bool.self, forKey: .fp16)
        packing = try c.decodeIfPresent(Bool.self, forKey: .packing)
        maxSeqLength = try c.decodeIfPresent(Int.self, forKey: .maxSeqLength)
        r = try c.decodeIfPresent(Int.self, forKey: .r)
        loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha)
        loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout)
        // As in LoraConfig: a list of names, or a string that is a regular expression
        // full-matched against module paths ("all-linear" excepted).
        targetModules = try c.decodeIfPresent(LoRAConfig.TargetModules.self, forKey: .targetModules)
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
        ensureWeightTying = try c.decodeIfPresent(Bool.self, forKey: .ensureWeightTying)
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA)
        excludeModules = try c.decodeIfPresent(LoRAConfig.TargetModules.self, forKey: .excludeModules)
        rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern)
        alphaPattern = try c.decodeIfPresent([String: Double].self, forKey: .alphaPattern)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .layersToTransform) {
            layersToTransform = [one]
        } else {
            layersToTransform = try c.decodeIfPresent([Int].self, forKey: .layersToTransform)
        }
        bias = try c.decodeIfPresent(String.self, forKey: .bias)
        initLoRAWeights = try c.decodeIfPresent(LoRAConfig.InitMethod.self, forKey: .initLoRAWeights)
        // Only true and false are booleans here: a folder named "no" or "off" stays a path.
        switch try c.decodeIfPresent(String.self, forKey: .resumeFromCheckpoint) {
        case nil, "false", "False", "FALSE": resumeFromCheckpoint = nil
        case "true", "True", "TRUE": resumeFromCheckpoint = .latest
        case let path?: resumeFromCheckpoint = .checkpoint(path)
        }
    }

    /// Reads and checks a YAML (or JSON) file.
    static func load(_ path: String) throws -> TrainConfigFile {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw CLIError("\(path): cannot read the config file")
        }
        let object: Any?
        do { object = try Yams.load(yaml: text) } catch { throw CLIError("\(path): not valid YAML: \(error)") }
        guard let mapping = object as? [String: Any] else { throw CLIError("\(path): expected a mapping of settings") }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = mapping.keys.sorted().first(where: { !known.contains($0) }) {
            throw CLIError("\(path): unknown key '\(unknown)'")
        }
        let file: TrainConfigFile
        do {
            file = try YAMLDecoder().decode(TrainConfigFile.self, from: text)
        } catch let DecodingError.typeMismatch(type, context) {
            let expected = ExpectedType.words(for: type, in: .yaml)
            throw CLIError(
                "\(path): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' should be \(expected)")
        } catch let DecodingError.dataCorrupted(context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw CLIError("\(path): '\(key)' \(context.debugDescription)")
        } catch {
            throw CLIError("\(path): \(error)")
        }
        if let bias = file.bias, bias != "none" {
            throw CLIError("\(path): 'bias: \(bias)' is not implemented (bias terms stay frozen); use 'none'")
        }
        if file.ensureWeightTying == true, file.modulesToSave?.isEmpty == false {
            throw CLIError(
                "\(path): 'ensure_weight_tying: true' is not implemented (tied copies of modules_to_save); leave it false"
            )
        }
        if file.fp16 == true {
            throw CLIError("\(path): 'fp16: true' is not implemented (float16 compute); use 'bf16: true'")
        }
        return file
    }
}
