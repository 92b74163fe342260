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
    /// Ids that end a sequence: the tokenizer's and the model configuration's.
    public let endOfSequenceIDs: Set<Int>

    public init(model: LlamaModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
        endOfSequenceIDs = tokenizer.eosTokenIDs.union(model.configuration.eosTokenIDs)
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
        guard promptIDs.count < limit else {
            throw GenerationError.promptTooLong(tokens: promptIDs.count, context: limit)
        }
        let capacity = min(limit, promptIDs.count + parameters.maxTokens)
        let cache = KVCache(configuration: model.configuration, slots: 1, capacity: capacity)
        var sampler = Sampler(parameters: parameters)
        var stream = TextStream(tokenizer: tokenizer, stop: parameters.stop)
        var context = promptIDs
        var generated: [Int] = []
        var counts: [Int: Int] = [:]
        var finish = FinishReason.length
        let start = Date()
        var promptSeconds = 0.0
        var next = promptIDs
        while generated.count < parameters.maxTokens, cache.lengths[0] + next.count <= capacity {
            let logits = try model.forward([.init(slot: 0, tokens: next)], cache: cache, outputs: .last)
            if generated.isEmpty { promptSeconds = Date().timeIntervalSince(start) }
            let id = sampler.sample(
                logits: UnsafeMutableBufferPointer(start: logits.pointer, count: logits.count), context: context,
                generatedCounts: counts)
            generated.append(id)
            context.append(id)
            counts[id, default: 0] += 1
            if endOfSequenceIDs.contains(id) {
                finish = .stop
                break
            }
            let (delta, stopped) = stream.append(id)
            if !delta.isEmpty, !onText(delta) {
                finish = .cancelled
                break
            }
            if stopped {
                finish = .stop
                break
            }
            next = [id]
        }
        if finish != .cancelled {
            let rest = stream.finish()
            if !rest.isEmpty { _ = onText(rest) }
        }
        return GenerationResult(
            promptIDs: promptIDs, ids: generated, text: stream.text, finishReason: finish,
            promptSeconds: promptSeconds, generationSeconds: Date().timeIntervalSince(start) - promptSeconds)
    }
}
