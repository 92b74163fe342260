import Foundation
@testable import Generation
import LoRA
import Models
import Testing
import TestSupport
import Tokenizers

/// Continuous batching across adapters on the real model: requests for the base and for a PEFT
/// adapter decode in the same forward calls and still give transformers' / PEFT's greedy ids.
@Suite(.timeLimit(.minutes(5))) struct BatchGenerationTests {
    struct Prompt: Decodable {
        var inputIDs: [Int]
        var greedyIDs: [Int]
        enum CodingKeys: String, CodingKey {
            case inputIDs = "input_ids"
            case greedyIDs = "greedy_ids"
        }
    }
    struct AdapterGreedy: Decodable { var greedy_ids: [Int] }

    static func collect(_ stream: AsyncThrowingStream<GenerationEvent, Error>) async throws -> (
        String, GenerationResult
    ) {
        var text = ""
        for try await event in stream {
            switch event {
            case .text(let delta): text += delta
            case .finished(let result): return (text, result)
            }
        }
        throw BatchGeneratorError.shutDown
    }

    @Test func mixedAdaptersInOneBatchGiveEachReferenceGreedy() async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let prompts = try JSONDecoder().decode([Prompt].self, from: Fixtures.data("smollm2/prompts.json"))
        let adapterIDs = try JSONDecoder().decode(
            AdapterGreedy.self, from: Fixtures.data("smollm2/peft-adapter-qv-greedy.json")
        ).greedy_ids
        let adapter = try LoRAAdapter.adapterSet(
            [(try LoRAAdapter.load(folder: Fixtures.url("smollm2/peft-adapter-qv")), 1)], for: loaded.model)
        let batch = try BatchGenerator(model: loaded.model, tokenizer: loaded.tokenizer, slots: 3, context: 512)
        defer { batch.shutDown() }

        var jobs: [(request: GenerationRequest, want: [Int])] = prompts.map { prompt in
            var parameters = GenerationParameters.greedy
            parameters.maxTokens = prompt.greedyIDs.count
            return (GenerationRequest(promptIDs: prompt.inputIDs, parameters: parameters), prompt.greedyIDs)
        }
        var parameters = GenerationParameters.greedy
        parameters.maxTokens = adapterIDs.count
        // Twice, so one waits for a slot and joins a running batch.
        for _ in 0..<2 {
            jobs.append(
                (
                    GenerationRequest(promptIDs: prompts[0].inputIDs, parameters: parameters, adapters: adapter),
                    adapterIDs
                ))
        }
        let streams = try jobs.map { try batch.submit($0.request) }
        try await withThrowingTaskGroup(of: (Int, String, GenerationResult).self) { group in
            for (i, stream) in streams.enumerated() {
                group.addTask {
                    let (text, result) = try await Self.collect(stream)
                    return (i, text, result)
                }
            }
            for try await (i, text, result) in group {
                #expect(result.ids == jobs[i].want, "request \(i)")
                #expect(text == result.text, "request \(i): streamed deltas add up to the text")
            }
        }
        #expect(batch.load.steps < jobs.map(\.want.count).reduce(0, +), "requests shared decoding steps")
    }

    @Test func queueLimitCancellationAndTimeouts() async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let batch = try BatchGenerator(
            model: loaded.model, tokenizer: loaded.tokenizer, slots: 1, context: 4096, maxQueue: 1)
        defer { batch.shutDown() }
        var endless = GenerationParameters.greedy
        endless.maxTokens = 4000
        endless.stop = ["never appears in the text 8c1f"]
        var short = GenerationParameters.greedy
        short.maxTokens = 3
        let prompt = try loaded.chatPromptIDs([ChatMessage(role: "user", content: "Tell me a long story.")])

        // With the decoder held, one request takes the slot, one may wait, the next is refused.
        batch.pause()
        let first = try batch.submit(GenerationRequest(promptIDs: prompt, parameters: short))
        let second = try batch.submit(GenerationRequest(promptIDs: prompt, parameters: short))
        let refused = Result { try batch.submit(GenerationRequest(promptIDs: prompt, parameters: short)) }
        #expect(throws: BatchGeneratorError.queueFull(waiting: 1)) { try refused.get() }
        #expect(throws: GenerationError.promptTooLong(tokens: 4097, context: 4096)) {
            _ = try batch.submit(GenerationRequest(promptIDs: Array(repeating: 1, count: 4097), parameters: short))
        }
        batch.resume()
        for stream in [first, second] {
            let (_, result) = try await Self.collect(stream)
            #expect(result.ids.count == 3 && result.finishReason == .length)
        }

        // A client that goes away after its first text cancels its (otherwise 4000-token) sequence,
        // and the slot serves the next request.
        let before = batch.load.steps
        let abandoned = try batch.submit(GenerationRequest(promptIDs: prompt, parameters: endless))
        let listener = Task {
            for try await event in abandoned {
                if case .text = event { break }
            }
        }
        try await listener.value
        let (_, after) = try await Self.collect(
            try batch.submit(GenerationRequest(promptIDs: prompt, parameters: short)))
        #expect(after.ids.count == 3)
        #expect(batch.load.steps - before < 3000, "steps: \(batch.load.steps - before)")

        // A deadline ends a request with what it has.
        let timed = try batch.submit(
            GenerationRequest(promptIDs: prompt, parameters: endless, deadline: Date().addingTimeInterval(0.3)))
        let (text, late) = try await Self.collect(timed)
        #expect(late.finishReason == .timeout && late.ids.count < 4000 && text == late.text)
        #expect(batch.load.running == 0 && batch.load.waiting == 0)
    }
}
