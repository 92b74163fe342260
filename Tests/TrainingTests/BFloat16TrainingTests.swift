import Foundation
import Kernels
import LoRA
import Models
import Testing
import TestSupport

@testable import Training

/// Training with bfloat16 GEMMs follows the float32 run: the real model, real instruction data,
/// the same seed and order, step by step.
@Suite struct BFloat16TrainingTests {
    /// Frozen float weights packed once for the pair kernel (what a bf16 run does) give the loss
    /// and adapter gradients of packing them per call, to the bit; the run frees them at its end.
    @Test func prepackedBaseGivesTheSameGradients() throws {
        let run = try TinyRun(TinyRun.sayNumbers(3))
        let model = run.loaded.model
        var p = LoRATrainer.Parameters()
        p.precision = .bfloat16
        p.maxSteps = 1
        let trainer = try run.trainer(try run.adapter(seed: 4) { $0.targetModules = .allLinear }, p)
        let e = run.examples[0]
        func lossAndGradients() throws -> (Float, [[Float]]) {
            trainer.linears.forEach { $0.zeroGradients() }
            let loss = try model.lossAndGradients(ids: e.ids, labels: e.labels, precision: .bfloat16)
            return (loss, trainer.linears.flatMap { [$0.gradA.toArray(), $0.gradB.toArray()] })
        }
        try Gemm.$forcedBF16Kernel.withValue(.pairs) {
            let perCall = try lossAndGradients()
            #expect(model.packBFloat16Panels() > 0)
            #expect(model.layers[0].qProj.bf16Panels != nil && model.lmHead.bf16Panels != nil)
            let packed = try lossAndGradients()
            #expect(packed.0 == perCall.0)
            #expect(packed.1 == perCall.1)
            #expect(perCall.1.contains { $0.contains { $0 != 0 } })
            try trainer.run()
            #expect(model.layers[0].qProj.bf16Panels == nil && model.lmHead.bf16Panels == nil)
        }
    }

    @Test(.enabled(if: Fixtures.hasSmolLM2)) func lossCurveMatchesFloat32WithinOnePercent() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let data = Fixtures.directory.deletingLastPathComponent().appendingPathComponent(
            "data/instruct/alpaca_en_demo.json")
        func losses(_ precision: GemmPrecision) throws -> [Float] {
            let loaded = try ModelLoader.load(path: url.path)
            let encoder = ExampleEncoder(
                tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate,
                options: .init(maxSequenceLength: 96))
            let rows = try DatasetReader.read(data, format: .auto, fieldMap: [:]).prefix(24)
            let (examples, _) = try encoder.encode(Array(rows), file: data.path)
            var config = LoRAConfig()
            config.targetModules = .allLinear
            let adapter = try LoRAAdapter.create(config: config, for: loaded.model, seed: 5)
            var p = LoRATrainer.Parameters()
            p.batchSize = 3
            p.maxSteps = 8
            p.learningRate = 1e-3
            p.precision = precision
            return try LoRATrainer(model: loaded.model, adapter: adapter, examples: examples, parameters: p)
                .lossesToTheEnd()
        }
        let float32 = try losses(.float32)
        let bfloat16 = try losses(.bfloat16)
        #expect(float32.count == 8 && bfloat16.count == 8)
        #expect(float32.last! < float32.first!, "the run learns: \(float32)")
        for (step, (a, b)) in zip(float32, bfloat16).enumerated() {
            #expect(abs(a - b) / a < 0.01, "step \(step + 1): float32 \(a), bfloat16 \(b)")
        }
        // Rounding shows: the curves are close, not identical.
        #expect(float32 != bfloat16)
    }
}
