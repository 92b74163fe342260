import Foundation
import Tokenizers

/// One sequence being generated: its sampler, text stream and counters. ``Generator`` runs one;
/// ``BatchGenerator`` runs many side by side, one forward call per step for all of them.
struct DecodingState {
    let promptIDs: [Int]
    let parameters: GenerationParameters
    /// The most tokens the sequence may hold (prompt included), within the cache slot.
    let capacity: Int
    private var sampler: Sampler
    private var stream: TextStream
    private var context: [Int]
    private(set) var generated: [Int] = []
    private var counts: [Int: Int] = [:]
    /// Why it ended; nil while running.
    private(set) var finish: FinishReason?
    /// Tokens to feed next: the prompt first, then the last sampled token.
    private(set) var next: [Int]
    let start = Date()
    private(set) var promptSeconds = 0.0

    init(promptIDs: [Int], parameters: GenerationParameters, capacity: Int, tokenizer: Tokenizer) {
        self.promptIDs = promptIDs
        self.parameters = parameters
        self.capacity = capacity
        sampler = Sampler(parameters: parameters)
        stream = TextStream(tokenizer: tokenizer, stop: parameters.stop)
        context = promptIDs
        next = promptIDs
        if parameters.maxTokens == 0 || promptIDs.count > capacity { finish = .length }
    }

    /// Samples from the logits of the last fed position and returns the new text (possibly
    /// empty: half a character or a possible stop string is held back).
    mutating func accept(logits: UnsafeMutableBufferPointer<Float>, endOfSequenceIDs: Set<Int>, cacheLength: Int)
        -> String
    {
        if generated.isEmpty { promptSeconds = Date().timeIntervalSince(start) }
        let id = sampler.sample(logits: logits, context: context, generatedCounts: counts)
        generated.append(id)
        context.append(id)
        counts[id, default: 0] += 1
        if endOfSequenceIDs.contains(id) {
            finish = .stop
            return stream.finish()
        }
        let (delta, stopped) = stream.append(id)
        if stopped {
            finish = .stop
        } else if generated.count >= parameters.maxTokens || cacheLength + 1 > capacity {
            finish = .length
        }
        next = [id]
        return finish == nil ? delta : delta + stream.finish()
    }

    /// Ends the sequence early (the caller stopped it or its time ran out).
    mutating func end(_ reason: FinishReason) {
        finish = reason
    }

    /// The outcome so far.
    var result: GenerationResult {
        let total = Date().timeIntervalSince(start)
        return GenerationResult(
            promptIDs: promptIDs, ids: generated, text: stream.text, finishReason: finish ?? .cancelled,
            promptSeconds: promptSeconds, generationSeconds: total - promptSeconds)
    }
}
