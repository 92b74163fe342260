import Foundation
import Generation
import Kernels
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

    @Test func aConfigRankThatIsNotTheTensorsIsRefused() throws {
        // alpha / r scales the adapter: an edited "r" would change its effect without a word.
        var adapter = try LoRAAdapter.load(folder: Fixtures.url("tiny-llama/peft-adapter"))
        let model = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        let rank = adapter.config.r
        adapter.config.r = rank * 2
        let refused = { (error: any Error) -> Bool in
            guard case .rankMismatch(_, _, let configured, let found) = error as? LoRAError else { return false }
            return configured == rank * 2 && found == rank
        }
        #expect(performing: { try adapter.attach(to: model) }, throws: refused)
        #expect(performing: { _ = try adapter.merged(into: model) }, throws: refused)
        #expect(model.adapters.isEmpty)
    }

    @Test func tensorsOfModulesTheConfigDoesNotTargetAreRefused() throws {
        // PEFT builds layers from target_modules alone: a tensor outside them is never applied.
        var adapter = try LoRAAdapter.load(folder: Fixtures.url("tiny-llama/peft-adapter"))
        let model = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        adapter.config.targetModules = .names(["q_proj"])
        #expect {
            try adapter.attach(to: model)
        } throws: { error in
            "\(error)".contains("model.layers.0.mlp.down_proj, which the config's target_modules")
        }
        #expect(model.adapters.isEmpty)
        adapter.config.targetModules = .names(LlamaProjection.allCases.map(\.rawValue))
        adapter.config.layersToTransform = [0]
        #expect(throws: LoRAError.self) { try adapter.attach(to: model) }
        adapter.config.layersToTransform = nil
        try adapter.attach(to: model)
        #expect(model.adapters.count == 14)
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

/// LoRA dropout: a fixed mask in forward and the same mask in backward.
@Suite struct DropoutTests {
    /// The mask drawn on the pool, word by word, is the mask of one generator drawn input by input
    /// (kept when unit() >= p), and leaves the generator where the sequential draws would.
    @Test(arguments: [(1, Float(0.5)), (63, 0.05), (64, 0.1), (100_003, 0.05), (200_000, 0.9)])
    func maskIsTheSequentialDraws(count: Int, p: Float) {
        var pooled = SplitMix64(seed: 99 &+ UInt64(count))
        let mask = DropoutMask(count: count, probability: p, random: &pooled)
        var sequential = SplitMix64(seed: 99 &+ UInt64(count))
        let keep = 1 / (1 - p)
        let expected = (0..<count).map { _ in sequential.unit() >= p ? keep : 0 }
        #expect((0..<count).map { mask[$0] } == expected)
        #expect(pooled == sequential)
        let x = (0..<count).map { Float($0 % 13) - 6 }
        var dropped = [Float](repeating: 7, count: count)
        mask.apply(x, into: &dropped)
        #expect(dropped == zip(x, expected).map { $1 == 0 ? 0 : $0 * keep })
        var sum = [Float](repeating: 1, count: count)
        mask.accumulate(x, into: &sum)
        #expect(sum == zip(x, expected).map { $1 == 0 ? 1 : 1 + $0 * keep })
    }

    @Test func dropoutGradientMatchesFiniteDifferences() {
        let (rows, inF, outF, r) = (3, 8, 5, 2)
        func values(_ n: Int, _ seed: Int) -> [Float] { (0..<n).map { Float(sin(Double($0 * 7 + seed))) } }
        let linear = LoRALinear(
            a: Tensor(values(r * inF, 1), shape: [r, inF]), b: Tensor(values(outF * r, 2), shape: [outF, r]), scale: 1.5
        )
        linear.dropout = 0.5
        linear.training = true
        let x = values(rows * inF, 3)
        let probe = values(rows * outF, 4)
        func loss(_ x: [Float]) -> Double {
            linear.randomState = 99
            var out = [Float](repeating: 0, count: rows * outF)
            linear.apply(x, rows: rows, accumulateInto: &out)
            return zip(out, probe).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        }
        linear.training = false
        var dx0 = [Float](repeating: 0, count: rows * inF)
        _ = loss(x)
        linear.backward(probe, x: x, rows: rows, accumulateInputGradient: &dx0)
        let numeric0 =
            (loss(x.enumerated().map { $0 == 0 ? $1 + 1e-2 : $1 })
                - loss(x.enumerated().map { $0 == 0 ? $1 - 1e-2 : $1 })) / 2e-2
        #expect(abs(numeric0 - Double(dx0[0])) < 1e-3, "without dropout: \(numeric0) vs \(dx0[0])")
        linear.training = true
        _ = loss(x)
        let mask = linear.lastMask.map { m in (0..<m.count).map { m[$0] } } ?? []
        #expect(mask.contains(0) && mask.contains(2), "some inputs dropped, the rest scaled by 1/(1-p)")
        var dx = [Float](repeating: 0, count: rows * inF)
        linear.backward(probe, x: x, rows: rows, accumulateInputGradient: &dx)
        for i in x.indices {
            var plus = x
            var minus = x
            plus[i] += 1e-2
            minus[i] -= 1e-2
            let numeric = (loss(plus) - loss(minus)) / 2e-2
            #expect(
                abs(numeric - Double(dx[i])) < 1e-3, "x[\(i)]: numeric \(numeric) analytic \(dx[i]) mask \(mask[i])")
        }
        // Out of training, nothing is dropped.
        linear.training = false
        var a = [Float](repeating: 0, count: rows * outF)
        var b = [Float](repeating: 0, count: rows * outF)
        linear.apply(x, rows: rows, accumulateInto: &a)
        linear.apply(x, rows: rows, accumulateInto: &b)
        #expect(a == b && linear.lastMask == nil)
    }
}
