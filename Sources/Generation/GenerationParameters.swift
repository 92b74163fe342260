/// How to pick tokens and when to stop. Defaults match `lora generate`'s flags.
public struct GenerationParameters: Sendable, Equatable, Codable {
    /// Most new tokens to generate.
    public var maxTokens: Int = 256
    /// Softmax temperature; `0` means greedy (argmax).
    public var temperature: Float = 0.7
    /// Keep only the `topK` most likely tokens (`0` = off).
    public var topK: Int = 0
    /// Keep the smallest set of tokens whose probability reaches `topP` (`1` = off).
    public var topP: Float = 1
    /// Drop tokens less likely than `minP` × the top token's probability (`0` = off).
    public var minP: Float = 0
    /// transformers' `repetition_penalty`: logits of tokens already in the context are divided
    /// by it when positive and multiplied by it when negative (`1` = off).
    public var repetitionPenalty: Float = 1
    /// OpenAI's `presence_penalty`: subtracted once from every token already generated.
    public var presencePenalty: Float = 0
    /// OpenAI's `frequency_penalty`: subtracted per occurrence of a token already generated.
    public var frequencyPenalty: Float = 0
    /// Seed of the sampler's random generator; the same seed gives the same text.
    public var seed: UInt64 = 0
    /// Strings that end generation; the text up to (not including) the stop string is returned.
    public var stop: [String] = []
    /// OpenAI's `logit_bias`: added to the logit of each listed token id before the penalties and
    /// sampling (-100 practically bans a token, 100 practically forces it).
    public var logitBias: [Int: Float] = [:]

    public init(
        maxTokens: Int = 256, temperature: Float = 0.7, topK: Int = 0, topP: Float = 1, minP: Float = 0,
        repetitionPenalty: Float = 1, presencePenalty: Float = 0, frequencyPenalty: Float = 0, seed: UInt64 = 0,
        stop: [String] = [], logitBias: [Int: Float] = [:]
    ) {
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
        self.stop = stop
        self.logitBias = logitBias
    }

    /// Greedy decoding: always the most likely token.
    public static let greedy = GenerationParameters(temperature: 0)

    /// Checks every setting, naming the first one out of range.
    public func validate() throws(GenerationError) {
        if maxTokens < 0 { throw .invalidParameter("max_tokens", "\(maxTokens) is negative") }
        if !(temperature >= 0) || !temperature.isFinite {
            throw .invalidParameter("temperature", "\(temperature) must be a finite number ≥ 0")
        }
        if topK < 0 { throw .invalidParameter("top_k", "\(topK) is negative") }
        if !(topP > 0 && topP <= 1) { throw .invalidParameter("top_p", "\(topP) must be in (0, 1]") }
        if !(minP >= 0 && minP <= 1) { throw .invalidParameter("min_p", "\(minP) must be in [0, 1]") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite {
            throw .invalidParameter("repetition_penalty", "\(repetitionPenalty) must be a finite number > 0")
        }
        if !presencePenalty.isFinite { throw .invalidParameter("presence_penalty", "must be finite") }
        if !frequencyPenalty.isFinite { throw .invalidParameter("frequency_penalty", "must be finite") }
        if stop.contains("") { throw .invalidParameter("stop", "empty stop string") }
        for (id, bias) in logitBias.sorted(by: { $0.key < $1.key }) {
            if id < 0 { throw .invalidParameter("logit_bias", "token id \(id) is negative") }
            if !(-100...100).contains(bias) {
                throw .invalidParameter("logit_bias", "the bias of token \(id) is \(bias), not between -100 and 100")
            }
        }
    }
}

/// Errors from generation settings or inputs.
public enum GenerationError: Error, CustomStringConvertible, Equatable {
    case invalidParameter(String, String)
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)

    public var description: String {
        switch self {
        case .invalidParameter(let name, let message): "invalid \(name): \(message)"
        case .emptyPrompt: "the prompt is empty"
        case .promptTooLong(let tokens, let context):
            "the prompt has \(tokens) tokens, more than the context of \(context)"
        }
    }
}
