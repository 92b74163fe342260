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
