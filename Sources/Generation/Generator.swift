import Foundation
import Kernels
import Models
import Tokenizers

/// Why generation ended.
public enum FinishReason: String, Sendable, Codable {
    /// An end-of-sequence token or a stop string.
    case stop
    /// `maxTokens` or the context was reached.
    case length
    /// The caller asked to stop.
    case cancelled
    /// The request's deadline passed.
    case timeout
}

/// The outcome of one generation.
public struct GenerationResult: Sendable {
    public var promptIDs: [Int]
    /// Generated ids only (an end-of-sequence token included, as transformers returns it).
    public var ids: [Int]
    /// The generated text without special tokens, cut before any stop string.
    public var text: String
    public var finishReason: FinishReason
    /// Seconds spent on the prompt (prefill) and on the generated tokens (decode).
    public var promptSeconds: Double
    public var generationSeconds: Double
}

/// Runs a prompt through a model and samples a continuation, streaming text as it is made.
///
/// ```swift
/// let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
/// let result = try generator.generate(promptIDs: ids, parameters: .greedy) { delta in
///     print(delta, terminator: ""); return true  // false stops
/// }
/// ```
public final class Generator: @unchecked Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    /// Ids that end a sequence: the tokenizer's, the model configuration's and its generation config's.
    public let endOfSequenceIDs: Set<Int>

    public init(model: LlamaModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
        endOfSequenceIDs = tokenizer.eosTokenIDs.union(model.configuration.endOfSequenceIDs)
    }

    /// Generates after `promptIDs`. `onText` receives each new piece of text (never half a
    /// character, never part of a stop string) and returns `false` to stop early.
    public func generate(
        promptIDs: [Int], parameters: GenerationParameters, context: Int? = nil,
        onText: (String) -> Bool = { _ in true }
    ) throws -> GenerationResult {
        try parameters.validate()
        guard !promptIDs.isEmpty else { throw GenerationError.emptyPrompt }
        let limit = min(context ?? model.configuration.maxPositionEmbeddings, model.configuration.maxPositionEmbeddings)
        guard promptIDs.count <= limit else {
            throw GenerationError.promptTooLong(tokens: promptIDs.count, context: limit)
        }
        let capacity = min(limit, promptIDs.count + parameters.maxTokens)
        let cache = try KVCache(configuration: model.configuration, slots: 1, capacity: capacity)
        var state = DecodingState(
            promptIDs: promptIDs, parameters: parameters, capacity: capacity, tokenizer: tokenizer)
        while state.finish == nil {
            let logits = try model.forward([.init(slot: 0, tokens: state.next)], cache: cache, outputs: .last)
            let delta = state.accept(
                logits: UnsafeMutableBufferPointer(start: logits.pointer, count: logits.count),
                endOfSequenceIDs: endOfSequenceIDs, cacheLength: cache.lengths[0])
            if !delta.isEmpty, !onText(delta), state.finish == nil { state.end(.cancelled) }
        }
        return state.result
    }
}
