import Foundation
import Generation
import ModelFiles
import Models
import Testing
import TestSupport

@testable import LoRA

/// Adapters saved by PEFT give PEFT's logits and greedy tokens.
@Suite struct PEFTAdapterTests {
    static func maxError(_ a: UnsafePointer<Float>, _ b: [Float], count: Int) -> Float {
        var worst: Float = 0
        for i in 0..<count { worst = max(worst, abs(a[i] - b[i])) }
        return worst
    }

    @Test func tinyLlamaAllLinearAdapterMatchesPEFT() throws {
        let loaded = try ModelLoader.load(path: Fixtures.url("tiny-llama").path)
        let adapter = try LoRAAdapter.load(folder: Fixtures.url("tiny-llama/peft-adapter"))
        #expect(adapter.modules.count == 14)
        try adapter.attach(to: loaded.model)
        let reference = try SafetensorsFile(url: Fixtures.url("tiny-llama/peft-adapter-logits.safetensors"))
        let ids = try reference.tensor("input_ids").int32s().map(Int.init)
        let expected = try reference.tensor("logits").floats()
        let logits = try loaded.model.logits(inputIDs: [Array(ids[0..<16]), Array(ids[16..<32])])
        let error = Self.maxError(logits.pointer, expected, count: expected.count)
        #expect(error < 1e-4, "max |Δlogit| = \(error)")
    }

    @Test func smolLM2QVAdapterMatchesPEFT() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        try LoRAAdapter.load(folder: Fixtures.url("smollm2/peft-adapter-qv")).attach(to: loaded.model)
        let reference = try SafetensorsFile(url: Fixtures.url("smollm2/peft-adapter-qv-logits.safetensors"))
        let ids = try reference.tensor("input_ids").int32s().map(Int.init)
        let expected = try reference.tensor("logits").floats()
        let logits = try loaded.model.logits(inputIDs: [ids])
        let error = Self.maxError(logits.pointer, expected, count: expected.count)
        #expect(error < 2e-3, "max |Δlogit| = \(error)")

        struct Greedy: Decodable { var greedy_ids: [Int] }
        let greedy = try JSONDecoder().decode(Greedy.self, from: Fixtures.data("smollm2/peft-adapter-qv-greedy.json"))
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
        var parameters = GenerationParameters.greedy
        parameters.maxTokens = greedy.greedy_ids.count
        #expect(try generator.generate(promptIDs: ids, parameters: parameters).ids == greedy.greedy_ids)
    }

    @Test func weightsCombineLinearly() throws {
        let folder = Fixtures.url("tiny-llama/peft-adapter")
        let adapter = try LoRAAdapter.load(folder: folder)
        let ids = [[5, 99, 1000, 7, 42]]
        func logits(_ weights: [Float]) throws -> [Float] {
            let model = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
            for w in weights { try adapter.attach(to: model, weight: w) }
            return try model.logits(inputIDs: ids).toArray()
        }
        let base = try logits([])
        let zero = try logits([0])
        let full = try logits([1])
        let halves = try logits([0.5, 0.5])
        #expect(zip(base, zero).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(zip(full, halves).allSatisfy { abs($0 - $1) < 1e-4 })
        #expect(zip(base, full).contains { abs($0 - $1) > 1e-3 }, "the adapter changes the output")
    }

    @Test func savedAdapterLoadsBackIdentically() throws {
        let adapter = try LoRAAdapter.load(folder: Fixtures.url("tiny-llama/peft-adapter"))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-adapter-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try adapter.save(folder: folder)
        let again = try LoRAAdapter.load(folder: folder)
        #expect(again.config == adapter.config)
        for (path, w) in adapter.modules {
            #expect(again.modules[path]?.a.toArray() == w.a.toArray())
            #expect(again.modules[path]?.b.toArray() == w.b.toArray())
        }
        let file = try SafetensorsFile(url: folder.appendingPathComponent("adapter_model.safetensors"))
        #expect(file.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
    }

    @Test func mismatchedAdapterChangesNothing() throws {
        // The SmolLM2 adapter (576 wide) on the tiny model (64 wide).
        let adapter = try LoRAAdapter.load(folder: Fixtures.url("smollm2/peft-adapter-qv"))
        let model = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        #expect(throws: LoRAError.self) { try adapter.attach(to: model) }
        #expect(model.adapters.isEmpty)
    }
}

/// Merging gives the adapter's logits (float32) and PEFT's `merge_and_unload()` logits.
@Suite struct MergeTests {
    @Test func mergedTinyModelEqualsAdapterLogits() throws {
        let ids = [[5, 99, 1000, 7, 42, 300, 2]]
        let adapter = try LoRAAdapter.load(folder: Fixtures.url("tiny-llama/peft-adapter"))
        let model = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        let before = try model.logits(inputIDs: ids).toArray()
        let merged = try adapter.merged(into: model)
        try adapter.attach(to: model)
        let withAdapter = try model.logits(inputIDs: ids).toArray()
        let fromMerge = try merged.logits(inputIDs: ids).toArray()
        let worst = zip(withAdapter, fromMerge).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-4, "max |Δlogit| = \(worst)")
        // The original weights are untouched: without its adapters the model gives its old logits.
        model.adapters = [:]
        #expect(try model.logits(inputIDs: ids).toArray() == before)
    }

    @Test func mergedSmolLM2EqualsPEFTMergeAndUnload() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let adapter = try LoRAAdapter.load(folder: Fixtures.url("smollm2/peft-adapter-qv"))
        let merged = try adapter.merged(into: loaded.model)
        let reference = try SafetensorsFile(url: Fixtures.url("smollm2/peft-adapter-qv-logits.safetensors"))
        let ids = try reference.tensor("input_ids").int32s().map(Int.init)
        let expected = try reference.tensor("merged_logits_last4").floats()
        let logits = try merged.logits(inputIDs: [ids])
        let V = loaded.model.configuration.vocabSize
        let tail = logits.pointer + (ids.count - 4) * V
        let worst = PEFTAdapterTests.maxError(tail, expected, count: 4 * V)
        #expect(worst < 2e-3, "max |Δlogit| = \(worst)")
    }
}
