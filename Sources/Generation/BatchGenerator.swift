import Foundation
import Models
import Tokenizers

/// One request to a ``BatchGenerator``.
public struct GenerationRequest: Sendable {
    public var promptIDs: [Int]
    public var parameters: GenerationParameters
    /// The request's adapter (nil = the base model).
    public var adapters: AdapterSet?
    /// When to give up: the sequence ends with ``FinishReason/timeout`` at this time.
    public var deadline: Date?

    public init(promptIDs: [Int], parameters: GenerationParameters, adapters: AdapterSet? = nil, deadline: Date? = nil)
    {
        self.promptIDs = promptIDs
        self.parameters = parameters
        self.adapters = adapters
        self.deadline = deadline
    }
}

/// What a request's stream yields: text as it is made, then the result.
public enum GenerationEvent: Sendable {
    case text(String)
    case finished(GenerationResult)
}

/// Errors that keep a request out of the batch.
public enum BatchGeneratorError: Error, Equatable, CustomStringConvertible {
    /// `maxQueue` requests are already waiting for a slot.
    case queueFull(waiting: Int)
    /// The generator was shut down.
    case shutDown

    public var description: String {
        switch self {
        case .queueFull(let waiting): "the queue is full (\(waiting) requests waiting)"
        case .shutDown: "the generator is shut down"
        }
    }
}

/// Continuous batching: every running sequence advances by one token per step in a single
/// forward call (new ones feed their whole prompt in the same call), requests join between steps
/// as slots free up, and finished or cancelled ones leave at once. Sequences of different
/// adapters share the step: the base GEMMs run over all rows, each adapter's delta over its rows.
///
/// ```swift
/// let batch = BatchGenerator(model: model, tokenizer: tokenizer, slots: 8, context: 2048)
/// for try await event in try batch.submit(GenerationRequest(promptIDs: ids, parameters: .greedy)) { ... }
/// ```
public final class BatchGenerator: @unchecked Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    /// Sequences decoded together at most (KV-cache slots).
    public let slots: Int
    /// Tokens per sequence at most, prompt included.
    public let context: Int
    /// Requests that may wait for a slot before new ones are refused.
    public let maxQueue: Int
    let endOfSequenceIDs: Set<Int>
    private let cache: KVCache
    private let condition = NSCondition()
    private var pending: [Entry] = []
    private var running: [Entry] = []
    private var stopped = false
    private var paused = false
    private var steps = 0

    final class Entry: @unchecked Sendable {
        let request: GenerationRequest
        let continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
        var state: DecodingState
        var slot = -1
        /// Set from any thread when the consumer goes away.
        var cancelled = false
        /// The stream already ended with an error.
        var failed = false
        /// Orders sequences so those of one adapter set are adjacent.
        var group: UInt { request.adapters.map { UInt(bitPattern: ObjectIdentifier($0)) } ?? 0 }

        init(
            request: GenerationRequest, state: DecodingState,
            continuation: AsyncThrowingStream<GenerationEvent, Error>.Continuation
        ) {
            self.request = request
            self.state = state
            self.continuation = continuation
        }
    }

    /// Starts the decoding thread. The KV cache for `slots × context` tokens is allocated here.
    public init(model: LlamaModel, tokenizer: Tokenizer, slots: Int, context: Int, maxQueue: Int = 64) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.slots = max(1, slots)
        self.context = min(max(2, context), model.configuration.maxPositionEmbeddings)
        self.maxQueue = maxQueue
        endOfSequenceIDs = tokenizer.eosTokenIDs.union(model.configuration.endOfSequenceIDs)
        cache = try KVCache(configuration: model.configuration, slots: self.slots, capacity: self.context)
        let thread = Thread { [self] in loop() }
        thread.name = "swiftlora-decode"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Queues a request. The stream yields its text and then its result; ending the stream's
    /// iteration early (a client that went away) cancels the sequence.
    public func submit(_ request: GenerationRequest) throws -> AsyncThrowingStream<GenerationEvent, Error> {
        try request.parameters.validate()
        guard !request.promptIDs.isEmpty else { throw GenerationError.emptyPrompt }
        guard request.promptIDs.count <= context else {
            throw GenerationError.promptTooLong(tokens: request.promptIDs.count, context: context)
        }
        let capacity = min(context, request.promptIDs.count + request.parameters.maxTokens)
        let state = DecodingState(
            promptIDs: request.promptIDs, parameters: request.parameters, capacity: capacity, tokenizer: tokenizer)
        let (stream, continuation) = AsyncThrowingStream<GenerationEvent, Error>.makeStream()
        let entry = Entry(request: request, state: state, continuation: continuation)
        condition.lock()
        defer { condition.unlock() }
        if stopped { throw BatchGeneratorError.shutDown }
        // Requests beyond the free slots wait; at most `maxQueue` of them.
        let waiting = pending.count - (slots - running.count)
        if waiting >= maxQueue { throw BatchGeneratorError.queueFull(waiting: max(0, waiting)) }
        continuation.onTermination = { [weak self, entry] termination in
            guard case .cancelled = termination, let self else { return }
            condition.lock()
            entry.cancelled = true
            condition.unlock()
        }
        pending.append(entry)
        condition.signal()
        return stream
    }

    /// Counts for logs and tests: requests decoding, waiting, and decode steps run so far.
    public var load: (running: Int, waiting: Int, steps: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (running.count, pending.count, steps)
    }

    /// Holds the decoding thread between steps (tests use it to fix the queue's state).
    func pause() {
        condition.lock()
        paused = true
        condition.unlock()
    }

    func resume() {
        condition.lock()
        paused = false
        condition.signal()
        condition.unlock()
    }

    /// Ends every request (finished as cancelled) and stops the thread.
    public func shutDown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        var free = Array((0..<slots).reversed())
        while true {
            condition.lock()
            while !stopped && (paused || (running.isEmpty && pending.isEmpty)) { condition.wait() }
            if stopped {
                let all = running + pending
                running = []
                pending = []
                condition.unlock()
                for entry in all {
                    entry.state.end(.cancelled)
                    entry.continuation.yield(.finished(entry.state.result))
                    entry.continuation.finish()
                }
                return
            }
            // Drop sequences whose client left or whose time ran out; admit waiting ones.
            let now = Date()
            var leaving: [Entry] = []
            running.removeAll { entry in
                if entry.cancelled {
                    entry.state.end(.cancelled)
                } else if let deadline = entry.request.deadline, now >= deadline {
                    entry.state.end(.timeout)
                }
                guard entry.state.finish != nil else { return false }
                leaving.append(entry)
                return true
            }
            for entry in leaving where entry.slot >= 0 { free.append(entry.slot) }
            while !free.isEmpty, !pending.isEmpty {
                let entry = pending.removeFirst()
                if entry.cancelled {
                    entry.state.end(.cancelled)
                    leaving.append(entry)
                    continue
                }
                entry.slot = free.removeLast()
                cache.reset(slot: entry.slot)
                running.append(entry)
            }
            // Sequences of one adapter next to each other, so their rows form one block.
            running.sort { ($0.group, $0.slot) < ($1.group, $1.slot) }
            let batch = running
            steps += 1
            condition.unlock()

            for entry in leaving { complete(entry) }
            let finishedEarly = batch.filter { $0.state.finish != nil }
            let active = batch.filter { $0.state.finish == nil }
            if !active.isEmpty { step(active) }
            for entry in finishedEarly { complete(entry) }

            condition.lock()
            running.removeAll { entry in
                guard entry.state.finish != nil else { return false }
                free.append(entry.slot)
                return true
            }
            condition.unlock()
            for entry in active where entry.state.finish != nil { complete(entry) }
        }
    }

    /// One forward call for all active sequences, then one sampled token each.
    private func step(_ active: [Entry]) {
        let sequences = active.map {
            LlamaModel.Sequence(slot: $0.slot, tokens: $0.state.next, adapters: $0.request.adapters)
        }
        do {
            let logits = try model.forward(sequences, cache: cache, outputs: .last)
            let vocab = logits.shape[1]
            for (i, entry) in active.enumerated() {
                let delta = entry.state.accept(
                    logits: UnsafeMutableBufferPointer(start: logits.pointer + i * vocab, count: vocab),
                    endOfSequenceIDs: endOfSequenceIDs, cacheLength: cache.lengths[entry.slot])
                if !delta.isEmpty { entry.continuation.yield(.text(delta)) }
            }
        } catch {
            for entry in active {
                entry.state.end(.cancelled)
                entry.failed = true
                entry.continuation.finish(throwing: error)
            }
        }
    }

    private func complete(_ entry: Entry) {
        guard !entry.failed else { return }
        entry.continuation.yield(.finished(entry.state.result))
        entry.continuation.finish()
    }
}
