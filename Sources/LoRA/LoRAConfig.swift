import Foundation
import ModelFiles

/// A PEFT `adapter_config.json` for LoRA, with PEFT's exact keys.
///
/// Settings we implement are decoded; a known setting whose value we do not implement (DoRA,
/// `bias: "all"`, PiSSA initialization, …) is refused by name; keys we do not know (newer PEFT
/// versions add many) are reported in ``ignoredKeys`` for a warning.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var peftType: String = "LORA"
    public var taskType: String? = "CAUSAL_LM"
    public var r: Int = 8
    public var loraAlpha: Double = 8
    public var loraDropout: Double = 0
    public var targetModules: TargetModules = .names(["q_proj", "v_proj"])
    public var excludeModules: TargetModules?
    public var bias: String = "none"
    public var useRSLoRA: Bool = false
    public var rankPattern: [String: Int] = [:]
    public var alphaPattern: [String: Double] = [:]
    public var layersToTransform: [Int]?
    /// Modules trained in full beside the adapters and saved with them (PEFT's
    /// `ModulesToSaveWrapper`): a module whose path ends with a listed string. Supported: the
    /// projections, `lm_head` and `embed_tokens` (see ``savedModules(in:source:)``).
    public var modulesToSave: [String]?
    /// PEFT ties saved copies of tied modules (lm_head / embed_tokens) when true; not implemented
    /// with `modules_to_save` (refused), where the default leaves the copies untied.
    public var ensureWeightTying = false
    public var initLoRAWeights: InitMethod = .kaiming
    public var baseModelNameOrPath: String?
    /// Keys present in the file that this version does not know (not saved back).
    public var ignoredKeys: [String] = []

    /// Which modules get adapters: a list of names matched as PEFT does (the whole module path
    /// or its last components), a regular expression full-matched against the path, or every
    /// linear layer except the output head.
    public enum TargetModules: Sendable, Equatable, Codable, CustomStringConvertible {
        case names([String])
        case regex(String)
        case allLinear

        /// As messages show it: `[q_proj, v_proj]`, `'.*\.q_proj'` or `all-linear`.
        public var description: String {
            switch self {
            case .names(let names): "[\(names.joined(separator: ", "))]"
            case .regex(let pattern): "'\(pattern)'"
            case .allLinear: "all-linear"
            }
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let list = try? c.decode([String].self) {
                self = .names(list)
            } else {
                let s = try c.decode(String.self)
                self = s == "all-linear" ? .allLinear : .regex(s)
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .names(let list): try c.encode(list)
            case .regex(let pattern): try c.encode(pattern)
            case .allLinear: try c.encode("all-linear")
            }
        }
    }

    /// `init_lora_weights`: PEFT's default (Kaiming-uniform A, zero B), Gaussian A, or none (random B too).
    public enum InitMethod: Sendable, Equatable, Codable {
        case kaiming, gaussian, none

        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) {
                self = b ? .kaiming : .none
            } else {
                let name = try c.decode(String.self)
                guard name == "gaussian" else {
                    throw DecodingError.dataCorruptedError(
                        in: c, debugDescription: "'\(name)' is not implemented (true, false or gaussian)")
                }
                self = .gaussian
            }
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .kaiming: try c.encode(true)
            case .gaussian: try c.encode("gaussian")
            case .none: try c.encode(false)
            }
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case peftType = "peft_type"
        case taskType = "task_type"
        case r
        case loraAlpha = "lora_alpha"
        case loraDropout = "lora_dropout"
        case targetModules = "target_modules"
        case excludeModules = "exclude_modules"
        case bias
        case useRSLoRA = "use_rslora"
        case rankPattern = "rank_pattern"
        case alphaPattern = "alpha_pattern"
        case layersToTransform = "layers_to_transform"
        case modulesToSave = "modules_to_save"
        case ensureWeightTying = "ensure_weight_tying"
        case initLoRAWeights = "init_lora_weights"
        case baseModelNameOrPath = "base_model_name_or_path"
    }

    public init() {}

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        peftType = try c.decodeIfPresent(String.self, forKey: .peftType) ?? "LORA"
        taskType = try c.decodeIfPresent(String.self, forKey: .taskType)
        r = try c.decode(Int.self, forKey: .r)
        loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? 8
        loraDropout = try c.decodeIfPresent(Double.self, forKey: .loraDropout) ?? 0
        targetModules =
            try c.decodeIfPresent(TargetModules.self, forKey: .targetModules) ?? .names(["q_proj", "v_proj"])
        excludeModules = try c.decodeIfPresent(TargetModules.self, forKey: .excludeModules)
        bias = try c.decodeIfPresent(String.self, forKey: .bias) ?? "none"
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? false
        rankPattern = try c.decodeIfPresent([String: Int].self, forKey: .rankPattern) ?? [:]
        alphaPattern = try c.decodeIfPresent([String: Double].self, forKey: .alphaPattern) ?? [:]
        if let one = try? c.decodeIfPresent(Int.self, forKey: .layersToTransform) {
            layersToTransform = [one]
        } else {
            layersToTransform = try c.decodeIfPresent([Int].self, forKey: .layersToTransform)
        }
        modulesToSave = try c.decodeIfPresent([String].self, forKey: .modulesToSave)
        ensureWeightTying = try c.decodeIfPresent(Bool.self, forKey: .ensureWeightTying) ?? false
        initLoRAWeights = try c.decodeIfPresent(InitMethod.self, forKey: .initLoRAWeights) ?? .kaiming
        baseModelNameOrPath = try c.decodeIfPresent(String.self, forKey: .baseModelNameOrPath)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(peftType, forKey: .peftType)
        try c.encodeIfPresent(taskType, forKey: .taskType)
        try c.encode(r, forKey: .r)
        try c.encode(loraAlpha, forKey: .loraAlpha)
        try c.encode(loraDropout, forKey: .loraDropout)
        try c.encode(targetModules, forKey: .targetModules)
        try c.encodeIfPresent(excludeModules, forKey: .excludeModules)
        try c.encode(bias, forKey: .bias)
        try c.encode(useRSLoRA, forKey: .useRSLoRA)
        try c.encode(rankPattern, forKey: .rankPattern)
        try c.encode(alphaPattern, forKey: .alphaPattern)
        try c.encodeIfPresent(layersToTransform, forKey: .layersToTransform)
        try c.encodeIfPresent(modulesToSave, forKey: .modulesToSave)
        try c.encode(ensureWeightTying, forKey: .ensureWeightTying)
        try c.encode(initLoRAWeights, forKey: .initLoRAWeights)
        try c.encodeIfPresent(baseModelNameOrPath, forKey: .baseModelNameOrPath)
    }

    /// Keys PEFT writes that need a particular value here; anything else is refused by name.
    /// (`nil` in the file is always accepted.)
    static let requiredValues: [String: @Sendable (Any) -> Bool] = [
        "use_dora": { ($0 as? Bool) == false },
        "fan_in_fan_out": { ($0 as? Bool) == false },
        "lora_bias": { ($0 as? Bool) == false },
        "use_qalora": { ($0 as? Bool) == false },
        "use_bdlora": { ($0 as? Bool) == false },
        "layers_pattern": { _ in false },
        "layer_replication": { _ in false },
        "target_parameters": { _ in false },
        "trainable_token_indices": { _ in false },
        "alora_invocation_tokens": { _ in false },
        "megatron_config": { _ in false },
        "loftq_config": { ($0 as? [String: Any])?.isEmpty == true },
        "eva_config": { _ in false },
        "corda_config": { _ in false },
        "kasa_config": { _ in false },
        "arrow_config": { _ in false },
        "velora_config": { _ in false },
        "monteclora_config": { _ in false },
        "lora_ga_config": { _ in false },
    ]

    /// Keys PEFT writes that do not change the adapter's arithmetic.
    static let informational: Set<String> = [
        "revision", "inference_mode", "auto_mapping", "peft_version", "megatron_core", "qalora_group_size",
    ]

    /// A value as the file spells it (`true`, not Foundation's `1`).
    static func json(_ value: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        else { return "\(value)" }
        return String(decoding: data, as: UTF8.self)
    }

    /// Reads and checks an `adapter_config.json`.
    public static func load(_ url: URL) throws -> LoRAConfig {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoRAError.invalidConfig(path, "no such file")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw LoRAError.invalidConfig(path, "not a JSON object")
        }
        if let duplicate = JSONDuplicateKeys.first(in: data) {
            throw LoRAError.invalidConfig(path, "'\(duplicate.path)' is given twice")
        }
        var config: LoRAConfig
        do {
            config = try JSONDecoder().decode(LoRAConfig.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw LoRAError.invalidConfig(path, "missing key '\(key.stringValue)'")
        } catch let DecodingError.typeMismatch(_, context) {
            throw LoRAError.invalidConfig(
                path, "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw LoRAError.unsupportedSetting(path, key: key, value: object[key].map(json) ?? "this value")
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        for (key, value) in object.sorted(by: { $0.key < $1.key }) {
            if value is NSNull || known.contains(key) || informational.contains(key) { continue }
            if let accept = requiredValues[key] {
                guard accept(value) else { throw LoRAError.unsupportedSetting(path, key: key, value: json(value)) }
                continue
            }
            config.ignoredKeys.append(key)
        }
        try config.validate(source: path)
        return config
    }

    /// Refuses values we do not implement.
    public func validate(source: String) throws {
        guard peftType == "LORA" else {
            throw LoRAError.unsupportedSetting(source, key: "peft_type", value: Self.json(peftType))
        }
        guard r > 0 else { throw LoRAError.invalidConfig(source, "'r' must be positive, not \(r)") }
        guard bias == "none" else { throw LoRAError.unsupportedSetting(source, key: "bias", value: Self.json(bias)) }
        guard (0..<1).contains(loraDropout) else {
            throw LoRAError.invalidConfig(source, "'lora_dropout' must be in [0, 1), not \(loraDropout)")
        }
        if ensureWeightTying, let modulesToSave, !modulesToSave.isEmpty {
            throw LoRAError.unsupportedSetting(
                source, key: "ensure_weight_tying", value: "true (tied copies of modules_to_save are not implemented)")
        }
        // PEFT's LoraConfig refuses this pair, so an adapter written with it would not load there.
        if layersToTransform != nil {
            switch targetModules {
            case .names: break
            case .regex, .allLinear:
                throw LoRAError.invalidConfig(
                    source,
                    "'layers_to_transform' cannot be used when 'target_modules' is a string "
                        + "(\(targetModules)), as in PEFT: list the module names instead")
            }
        }
        for (pattern, rank) in rankPattern where rank <= 0 {
            throw LoRAError.invalidConfig(source, "rank_pattern '\(pattern)': rank \(rank)")
        }
    }

    /// Rank and scaling of one module: `rank_pattern`/`alpha_pattern` override `r`/`lora_alpha`
    /// when a pattern matches the module path (PEFT: `re.match(rf"(.*\.)?{key}$", path)`);
    /// the scale is alpha / r, or alpha / √r with rsLoRA.
    public func rankAndScale(for modulePath: String) -> (rank: Int, scale: Float) {
        let rank = Self.patternValue(rankPattern, modulePath) ?? r
        let alpha = Self.patternValue(alphaPattern, modulePath) ?? loraAlpha
        let scale = useRSLoRA ? alpha / Double(rank).squareRoot() : alpha / Double(rank)
        return (rank, Float(scale))
    }

    static func patternValue<T>(_ patterns: [String: T], _ path: String) -> T? {
        for (pattern, value) in patterns.sorted(by: { $0.key < $1.key }) where fullMatch("(.*\\.)?\(pattern)", path) {
            return value
        }
        return nil
    }

    static func fullMatch(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))$") else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
