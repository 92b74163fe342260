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
        if let eos = try optionalInt("tokenizer.ggml.eos_token_id") { config["eos_token_id"] = eos }
        return try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys])
    }
}
