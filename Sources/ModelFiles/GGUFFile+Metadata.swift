import Foundation

/// Typed metadata access: each accessor names the key, and the expected and found types on a mismatch.
extension GGUFFile {
    func required(_ key: String) throws -> GGUFValue {
        guard let v = metadata[key] else { throw ModelFileError.missingKey(path, key: key) }
        return v
    }

    func mismatch(_ key: String, _ expected: String, _ v: GGUFValue) -> ModelFileError {
        .wrongType(path, key: key, expected: expected, found: v.typeName)
    }

    public func int(_ key: String) throws -> Int {
        let v = try required(key)
        guard let i = v.intValue else { throw mismatch(key, "an integer", v) }
        return i
    }

    public func optionalInt(_ key: String) throws -> Int? {
        metadata[key] == nil ? nil : try int(key)
    }

    public func float(_ key: String) throws -> Float {
        let v = try required(key)
        guard let f = v.floatValue else { throw mismatch(key, "a number", v) }
        return f
    }

    public func optionalFloat(_ key: String) throws -> Float? {
        metadata[key] == nil ? nil : try float(key)
    }

    public func string(_ key: String) throws -> String {
        let v = try required(key)
        guard case .string(let s) = v else { throw mismatch(key, "string", v) }
        return s
    }

    public func optionalString(_ key: String) throws -> String? {
        metadata[key] == nil ? nil : try string(key)
    }

    public func bool(_ key: String) throws -> Bool {
        let v = try required(key)
        guard case .bool(let b) = v else { throw mismatch(key, "bool", v) }
        return b
    }

    public func optionalBool(_ key: String) throws -> Bool? {
        metadata[key] == nil ? nil : try bool(key)
    }

    public func strings(_ key: String) throws -> [String] {
        let v = try required(key)
        guard case .array(let items) = v else { throw mismatch(key, "array of strings", v) }
        return try items.map {
            guard case .string(let s) = $0 else { throw mismatch(key, "array of strings", v) }
            return s
        }
    }

    public func optionalStrings(_ key: String) throws -> [String]? {
        metadata[key] == nil ? nil : try strings(key)
    }

    public func ints(_ key: String) throws -> [Int] {
        let v = try required(key)
        guard case .array(let items) = v else { throw mismatch(key, "array of integers", v) }
        return try items.map {
            guard let i = $0.intValue else { throw mismatch(key, "array of integers", v) }
            return i
        }
    }

    public func optionalInts(_ key: String) throws -> [Int]? {
        metadata[key] == nil ? nil : try ints(key)
    }

    /// A required metadata value converted to `T`; throws naming the key when it is missing, or
    /// the key with the expected and found types when it has another type.
    ///
    /// ```swift
    /// let layers = try gguf.required("llama.block_count", as: Int.self)
    /// let tokens = try gguf.required("tokenizer.ggml.tokens", as: [String].self)
    /// ```
    public func required<T: GGUFMetadataValue>(_ key: String, as type: T.Type) throws -> T {
        let v = try required(key)
        guard let converted = T(gguf: v) else { throw mismatch(key, T.ggufTypeDescription, v) }
        return converted
    }

    /// As ``required(_:as:)``, but `nil` when the key is absent (a present key of the wrong type still throws).
    public func optional<T: GGUFMetadataValue>(_ key: String, as type: T.Type) throws -> T? {
        metadata[key] == nil ? nil : try required(key, as: type)
    }

    /// `general.architecture`, e.g. "llama" or "qwen2".
    public func architecture() throws -> String { try string("general.architecture") }

    /// The equivalent Hugging Face `config.json` (as JSON bytes), so one `Codable` configuration
    /// type reads both formats. Keys follow transformers' GGUF loader mapping.
    public func huggingFaceConfig() throws -> Data {
        let arch = try architecture()
        var config: [String: Any] = ["model_type": arch]
        config["hidden_size"] = try int("\(arch).embedding_length")
        config["intermediate_size"] = try int("\(arch).feed_forward_length")
        config["num_hidden_layers"] = try int("\(arch).block_count")
        let heads = try int("\(arch).attention.head_count")
        config["num_attention_heads"] = heads
        config["num_key_value_heads"] = try optionalInt("\(arch).attention.head_count_kv") ?? heads
        config["rms_norm_eps"] = try optionalFloat("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-6
        config["rope_theta"] = try optionalFloat("\(arch).rope.freq_base") ?? 10000
        config["max_position_embeddings"] = try optionalInt("\(arch).context_length") ?? 2048
        if let keyLength = try optionalInt("\(arch).attention.key_length") { config["head_dim"] = keyLength }
        if let tokens = try optionalStrings("tokenizer.ggml.tokens") {
            config["vocab_size"] = tokens.count
        } else if let embed = tensorInfos.first(where: { $0.name == "token_embd.weight" }), embed.dimensions.count == 2
        {
            config["vocab_size"] = embed.dimensions[1]
        }
        config["tie_word_embeddings"] = !tensorInfos.contains { $0.name == "output.weight" }
        if let type = try optionalString("\(arch).rope.scaling.type"), type != "none" {
            var scaling: [String: Any] = [
                "rope_type": type, "factor": try optionalFloat("\(arch).rope.scaling.factor") ?? 1,
            ]
            if let original = try optionalInt("\(arch).rope.scaling.original_context_length") {
                scaling["original_max_position_embeddings"] = original
            }
            config["rope_scaling"] = scaling
        }
        if let bos = try optionalInt("tokenizer.ggml.bos_token_id") { config["bos_token_id"] = bos }
        // End of turn (Llama 3's <|eot_id|>) ends generation too, as in llama.cpp.
        let ends = try ["tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"].compactMap { try optionalInt($0) }
        if let eos = ends.first { config["eos_token_id"] = Set(ends).count > 1 ? ends : eos }
        if let pad = try optionalInt("tokenizer.ggml.padding_token_id") { config["pad_token_id"] = pad }
        return try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
    }
}

/// A Swift type a GGUF metadata value can be read as (see ``GGUFFile/required(_:as:)``).
public protocol GGUFMetadataValue {
    /// The value converted, or nil when it has another type.
    init?(gguf value: GGUFValue)
    /// What the type is called in an error message.
    static var ggufTypeDescription: String { get }
}

extension Int: GGUFMetadataValue {
    /// Any GGUF integer type whose value fits.
    public init?(gguf value: GGUFValue) {
        guard let i = value.intValue else { return nil }
        self = i
    }
    public static var ggufTypeDescription: String { "an integer" }
}

extension Float: GGUFMetadataValue {
    /// float32, float64 or an integer.
    public init?(gguf value: GGUFValue) {
        guard let f = value.floatValue else { return nil }
        self = f
    }
    public static var ggufTypeDescription: String { "a number" }
}

extension Double: GGUFMetadataValue {
    /// float64 exactly, float32 widened, or an integer.
    public init?(gguf value: GGUFValue) {
        switch value {
        case .float64(let d): self = d
        case .float32(let f): self = Double(f)
        default:
            guard let i = value.intValue else { return nil }
            self = Double(i)
        }
    }
    public static var ggufTypeDescription: String { "a number" }
}

extension Bool: GGUFMetadataValue {
    public init?(gguf value: GGUFValue) {
        guard case .bool(let b) = value else { return nil }
        self = b
    }
    public static var ggufTypeDescription: String { "bool" }
}

extension String: GGUFMetadataValue {
    public init?(gguf value: GGUFValue) {
        guard case .string(let s) = value else { return nil }
        self = s
    }
    public static var ggufTypeDescription: String { "string" }
}

extension Array: GGUFMetadataValue where Element: GGUFMetadataValue {
    /// An array whose every element converts.
    public init?(gguf value: GGUFValue) {
        guard case .array(let items) = value else { return nil }
        var out: [Element] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let e = Element(gguf: item) else { return nil }
            out.append(e)
        }
        self = out
    }
    public static var ggufTypeDescription: String { "array of \(Element.ggufTypeDescription)" }
}
