import Foundation
import Generation
import Models
import Testing
import TestSupport
import Tokenizers

/// Greedy decoding with the KV cache reproduces transformers' `generate` token for token.
@Suite struct GreedyContinuationTests {
    struct Prompt: Decodable {
        var messages: [ChatMessage]
        var chatText: String
        var inputIDs: [Int]
        var greedyIDs: [Int]
        var greedyText: String

        enum CodingKeys: String, CodingKey {
            case messages
            case chatText = "chat_text"
            case inputIDs = "input_ids"
            case greedyIDs = "greedy_ids"
            case greedyText = "greedy_text"
        }
    }

    @Test func smolLM2GreedyEqualsTransformers() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let prompts = try JSONDecoder().decode([Prompt].self, from: Fixtures.data("smollm2/prompts.json"))
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
        for (i, prompt) in prompts.enumerated() {
            let ids = try loaded.chatPromptIDs(prompt.messages)
            #expect(ids == prompt.inputIDs, "prompt \(i): chat template + tokenizer")
            var parameters = GenerationParameters.greedy
            parameters.maxTokens = prompt.greedyIDs.count
            let result = try generator.generate(promptIDs: prompt.inputIDs, parameters: parameters)
            #expect(result.ids == prompt.greedyIDs, "prompt \(i)")
            // A continuation that ends in <|im_end|> stops there (end of sequence), else at max tokens.
            let endsWithEOS = prompt.greedyIDs.last.map(generator.endOfSequenceIDs.contains) ?? false
            #expect(result.finishReason == (endsWithEOS ? .stop : .length), "prompt \(i)")
            // transformers' greedy_text is decode(greedy_ids) with special tokens kept (an <|im_end|> may end it).
            #expect(loaded.tokenizer.decode(result.ids) == prompt.greedyText, "prompt \(i)")
            #expect(result.text == loaded.tokenizer.decode(result.ids, skipSpecialTokens: true))
        }
    }

    @Test func aCacheTooLargeToReserveIsAnError() throws {
        let configuration = try ModelLoader.load(path: Fixtures.url("tiny-qwen2").path).model.configuration
        let row = configuration.numKeyValueHeads * configuration.headDim
        // 2^49 bytes per layer: past the 47-bit user address space, so mmap refuses it.
        #expect(throws: ModelError.self) {
            try KVCache(configuration: configuration, slots: 1, capacity: (1 << 47) / row)
        }
        // A size that does not fit in an Int.
        #expect(throws: ModelError.self) { try KVCache(configuration: configuration, slots: 4, capacity: Int.max / 2) }
        #expect(throws: ModelError.self) { try KVCache(configuration: configuration, slots: -1, capacity: 8) }
    }

    @Test func batchedDecodingEqualsOneAtATime() throws {
        // Two sequences of different lengths in one forward call, then decoding steps together,
        // give the same logits as running each alone.
        let loaded = try ModelLoader.load(path: Fixtures.url("tiny-qwen2").path)
        let model = loaded.model
        let V = model.configuration.vocabSize
        let a = [5, 17, 300, 9, 44, 1000, 2]
        let b = [7, 7, 80]
        let together = try KVCache(configuration: model.configuration, slots: 2, capacity: 16)
        let prefill = try model.forward(
            [.init(slot: 0, tokens: a), .init(slot: 1, tokens: b)], cache: together, outputs: .last)
        let step = try model.forward(
            [.init(slot: 0, tokens: [11]), .init(slot: 1, tokens: [12])], cache: together, outputs: .last)
        for (slot, tokens, next) in [(0, a, 11), (1, b, 12)] {
            let alone = try KVCache(configuration: model.configuration, slots: 1, capacity: 16)
            let p = try model.forward([.init(slot: 0, tokens: tokens)], cache: alone, outputs: .last)
            let s = try model.forward([.init(slot: 0, tokens: [next])], cache: alone, outputs: .last)
            for j in 0..<V {
                #expect(abs(p.pointer[j] - prefill.pointer[slot * V + j]) < 1e-4)
                #expect(abs(s.pointer[j] - step.pointer[slot * V + j]) < 1e-4)
            }
        }
        // The cache tracks each slot's length; overflow is an error, not a crash.
        #expect(together.lengths == [8, 4])
        #expect(throws: ModelError.self) {
            try model.forward([.init(slot: 1, tokens: Array(repeating: 3, count: 13))], cache: together, outputs: .last)
        }
    }

    /// A prompt that fills the context still gets one token (its logits need no room after it).
    @Test func aPromptAsLongAsTheContextGetsOneToken() throws {
        let loaded = try ModelLoader.load(path: Fixtures.url("tiny-llama").path)
        let limit = loaded.model.configuration.maxPositionEmbeddings
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
        var parameters = GenerationParameters.greedy
        parameters.maxTokens = 5
        let result = try generator.generate(promptIDs: Array(repeating: 5, count: limit), parameters: parameters)
        #expect(result.ids.count == 1 && result.finishReason == .length)
        #expect(throws: GenerationError.promptTooLong(tokens: limit + 1, context: limit)) {
            try generator.generate(promptIDs: Array(repeating: 5, count: limit + 1), parameters: parameters)
        }
    }

    @Test func badPathsAreClearErrors() throws {
        #expect(throws: ModelError.notFound("/nonexistent/model.gguf")) {
            try ModelLoader.load(path: "/nonexistent/model.gguf")
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-bert-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Data(#"{"model_type": "bert", "hidden_size": 8}"#.utf8).write(
            to: folder.appendingPathComponent("config.json"))
        #expect {
            try ModelLoader.load(path: folder.path)
        } throws: { error in
            "\(error)".contains("unsupported model_type 'bert'")
        }
        try Data(#"{"model_type": "llama", "model_type": "bert"}"#.utf8).write(
            to: folder.appendingPathComponent("config.json"))
        #expect {
            try ModelLoader.load(path: folder.path)
        } throws: { error in
            "\(error)".contains("config.json: 'model_type' is given twice")
        }
        // A config.json whose sizes are not the weights' names the folder and the file to fix.
        let edited = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-sizes-\(getpid())")
        try? FileManager.default.removeItem(at: edited)
        try FileManager.default.copyItem(at: Fixtures.url("tiny-llama"), to: edited)
        defer { try? FileManager.default.removeItem(at: edited) }
        let configURL = edited.appendingPathComponent("config.json")
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any] ?? [:]
        config["hidden_size"] = 96
        try JSONSerialization.data(withJSONObject: config).write(to: configURL)
        #expect {
            try ModelLoader.load(path: edited.path)
        } throws: { error in
            "\(error)".hasPrefix(edited.path + ": tensor '") && "\(error)".contains("the sizes in config.json need")
        }
    }
}
