import Foundation
import ModelFiles

/// The Hugging Face `config.json` of a Llama-family model (Llama 2/3, Mistral, SmolLM, Qwen2),
/// decoded with its exact keys. GGUF files are read through the same type: ModelFiles turns their
/// metadata into an equivalent `config.json`.
public struct LlamaConfiguration: Codable, Sendable, Equatable {
    public var modelType: String
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var headDim: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RopeScaling?
    public var maxPositionEmbeddings: Int
    public var vocabSize: Int
    public var tieWordEmbeddings: Bool
    /// Whether q/k/v projections have biases (Qwen2 always; Llama when `attention_bias`).
    public var attentionBias: Bool
    public var bosTokenID: Int?
    public var eosTokenIDs: [Int]
    /// More ids that end generation: `generation_config.json`'s `eos_token_id` (Qwen2.5 and
    /// Llama 3 instruct models list their end-of-turn token there), or a GGUF's end-of-turn
    /// control tokens. Not written to config.json.
    public var generationEOSTokenIDs: [Int] = []

    /// Every id that ends generation.
    public var endOfSequenceIDs: Set<Int> { Set(eosTokenIDs + generationEOSTokenIDs) }

    /// Llama 3's frequency-dependent RoPE scaling (`rope_type: "llama3"`); `linear` divides positions.
    public struct RopeScaling: Codable, Sendable, Equatable {
        public var ropeType: String
        public var factor: Float
        public var lowFreqFactor: Float?
        public var highFreqFactor: Float?
        public var originalMaxPositionEmbeddings: Int?

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type"
            case type
            case factor
            case lowFreqFactor = "low_freq_factor"
            case highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        }

        public init(
            ropeType: String, factor: Float, lowFreqFactor: Float? = nil, highFreqFactor: Float? = nil,
            originalMaxPositionEmbeddings: Int? = nil
        ) {
            self.ropeType = ropeType
            self.factor = factor
            self.lowFreqFactor = lowFreqFactor
            self.highFreqFactor = highFreqFactor
            self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            ropeType =
                try c.decodeIfPresent(String.self, forKey: .ropeType)
                ?? c.decodeIfPresent(String.self, forKey: .type) ?? "default"
            factor = try c.decodeIfPresent(Float.self, forKey: .factor) ?? 1
            lowFreqFactor = try c.decodeIfPresent(Float.self, forKey: .lowFreqFactor)
            highFreqFactor = try c.decodeIfPresent(Float.self, forKey: .highFreqFactor)
            originalMaxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
        }

        public func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(ropeType, forKey: .ropeType)
            try c.encode(factor, forKey: .factor)
            try c.encodeIfPresent(lowFreqFactor, forKey: .lowFreqFactor)
            try c.encodeIfPresent(highFreqFactor, forKey: .highFreqFactor)
            try c.encodeIfPresent(originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
        }
    }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case ropeScaling = "rope_scaling"
        case ropeParameters = "rope_parameters"
        case maxPositionEmbeddings = "max_position_embeddings"
        case vocabSize = "vocab_size"
        case tieWordEmbeddings = "tie_word_embeddings"
        case attentionBias = "attention_bias"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case hiddenAct = "hidden_act"
        case mlpBias = "mlp_bias"
    }

    /// The architectures this type describes, by `model_type`; aliases are data.
    public static let supportedModelTypes: Set<String> = ["llama", "mistral", "qwen2", "smollm", "smollm2"]

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        modelType = try c.decode(String.self, forKey: .modelType)
        guard Self.supportedModelTypes.contains(modelType) else {
            throw DecodingError.dataCorruptedError(
                forKey: .modelType, in: c,
                debugDescription:
                    "unsupported model_type '\(modelType)' (supported: \(Self.supportedModelTypes.sorted().joined(separator: ", ")))"
            )
        }
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        guard hiddenSize > 0, numAttentionHeads > 0, numKeyValueHeads > 0, numHiddenLayers > 0,
            numAttentionHeads % numKeyValueHeads == 0
        else {
            throw DecodingError.dataCorruptedError(
                forKey: .numKeyValueHeads, in: c,
                debugDescription:
                    "num_attention_heads (\(numAttentionHeads)) must be a positive multiple of num_key_value_heads (\(numKeyValueHeads))"
            )
        }
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? hiddenSize / numAttentionHeads
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 4096
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        let bias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        attentionBias = modelType == "qwen2" || bias
        if let act = try c.decodeIfPresent(String.self, forKey: .hiddenAct), act != "silu" {
            throw DecodingError.dataCorruptedError(
                forKey: .hiddenAct, in: c, debugDescription: "unsupported hidden_act '\(act)' (only silu)")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .mlpBias) == true {
            throw DecodingError.dataCorruptedError(
                forKey: .mlpBias, in: c, debugDescription: "mlp_bias true is not supported")
        }
        bosTokenID = try? c.decodeIfPresent(Int.self, forKey: .bosTokenID)
        if let one = try? c.decodeIfPresent(Int.self, forKey: .eosTokenID) {
            eosTokenIDs = [one]
        } else {
            eosTokenIDs = (try? c.decodeIfPresent([Int].self, forKey: .eosTokenID)) ?? []
        }
        // transformers ≥ 5 writes `rope_parameters` (theta and scaling together); older files
        // write `rope_theta` and `rope_scaling` at the top level.
        let parameters = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
        ropeTheta = try parameters?.ropeTheta ?? c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? 10000
        let scaling = try c.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling) ?? parameters?.scaling
        ropeScaling = scaling?.ropeType == "default" ? nil : scaling
        if let scaling = ropeScaling, !["llama3", "linear"].contains(scaling.ropeType) {
            throw DecodingError.dataCorruptedError(
                forKey: .ropeScaling, in: c,
                debugDescription: "unsupported rope scaling type '\(scaling.ropeType)' (supported: llama3, linear)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encode(attentionBias, forKey: .attentionBias)
        try c.encodeIfPresent(bosTokenID, forKey: .bosTokenID)
        if eosTokenIDs.count == 1 {
            try c.encode(eosTokenIDs[0], forKey: .eosTokenID)
        } else if !eosTokenIDs.isEmpty {
            try c.encode(eosTokenIDs, forKey: .eosTokenID)
        }
        try c.encode("silu", forKey: .hiddenAct)
    }

    /// Decodes `config.json` bytes; `source` names the file in errors.
    public static func decode(_ data: Data, source: String) throws -> LlamaConfiguration {
        if let duplicate = JSONDuplicateKeys.first(in: data) {
            throw ModelError.invalidConfiguration(source, "'\(duplicate.path)' is given twice")
        }
        do {
            return try JSONDecoder().decode(LlamaConfiguration.self, from: data)
        } catch let error as DecodingError {
            throw ModelError.invalidConfiguration(source, Self.describe(error))
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, _): "missing key '\(key.stringValue)'"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case .dataCorrupted(let context):
            context.codingPath.isEmpty
                ? context.debugDescription
                : "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        @unknown default: "\(error)"
        }
    }
}

/// transformers 5's `rope_parameters`: the theta and, when present, the scaling settings.
private struct RopeParameters: Decodable {
    var ropeTheta: Float?
    var scaling: LlamaConfiguration.RopeScaling?

    enum CodingKeys: String, CodingKey {
        case ropeTheta = "rope_theta"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta)
        scaling = try LlamaConfiguration.RopeScaling(from: decoder)
    }
}
