import Foundation
import Kernels
import LoRA
import ModelFiles
import Models
import Testing
import TestSupport

@testable import Training

/// The training step against PyTorch + PEFT (../shared/fixtures/tiny-llama): loss, every LoRA
/// gradient after one backward pass, and ten AdamW steps.
@Suite struct GradientTests {
    static func setUp() throws -> (LlamaModel, [String: LoRALinear], [Int], [Int], SafetensorsFile) {
        let model = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        let adapter = try LoRAAdapter.load(folder: Fixtures.url("tiny-llama/peft-adapter"))
        try adapter.attach(to: model)
        var linears: [String: LoRALinear] = [:]
        for (key, list) in model.adapters { linears[key.modulePath] = list.first as? LoRALinear }
        let reference = try SafetensorsFile(url: Fixtures.url("tiny-llama/lora-grads.safetensors"))
        let ids = try reference.tensor("input_ids").int32s().map(Int.init)
        let labels = try reference.tensor("labels").int32s().map(Int.init)
        return (model, linears, ids, labels, reference)
    }

    @Test func lossAndEveryLoRAGradientMatchPEFT() throws {
        let (model, linears, ids, labels, reference) = try Self.setUp()
        #expect(linears.count == 14)
        let loss = try model.lossAndGradients(ids: ids, labels: labels)
        let expectedLoss = try reference.tensor("loss").floats()[0]
        #expect(abs(loss - expectedLoss) < 1e-5, "loss \(loss) vs \(expectedLoss)")
        var worst: Double = 0
        for (path, linear) in linears {
            for (which, grad) in [("A", linear.gradA), ("B", linear.gradB)] {
                let want = try reference.tensor("base_model.model.\(path).lora_\(which).weight.grad").floats()
                let got = grad.toArray()
                let diff = zip(got, want).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
                let norm = want.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let relative = diff / max(norm, 1e-12)
                worst = max(worst, relative)
                #expect(relative < 1e-4, "\(path).lora_\(which): relative error \(relative)")
            }
        }
        print("largest relative gradient error: \(worst)")
    }

    @Test func tenAdamWStepsFollowPyTorch() throws {
        struct Trajectory: Decodable { var losses_before_each_step: [Float] }
        let expected = try JSONDecoder().decode(
            Trajectory.self, from: Fixtures.data("tiny-llama/adamw-trajectory.json"))
        let (model, linears, ids, labels, _) = try Self.setUp()
        var optimizer = AdamW(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01)
        let ordered = linears.sorted { $0.key < $1.key }.map(\.value)
        let parameters = ordered.flatMap { [($0.a, $0.gradA), ($0.b, $0.gradB)] }
        for (step, want) in expected.losses_before_each_step.enumerated() {
            ordered.forEach { $0.zeroGradients() }
            let loss = try model.lossAndGradients(ids: ids, labels: labels)
            #expect(abs(loss - want) < 1e-4, "step \(step): \(loss) vs \(want)")
            optimizer.update(parameters)
        }
        let after = try SafetensorsFile(url: Fixtures.url("tiny-llama/adamw-after-10-steps.safetensors"))
        for (path, linear) in linears {
            let want = try after.tensor("base_model.model.\(path).lora_A.weight").floats()
            let worst = zip(linear.a.toArray(), want).map { abs($0 - $1) }.max() ?? 0
            #expect(worst < 1e-5, "\(path).lora_A after 10 steps: \(worst)")
        }
    }
}

@Suite struct CheckpointingTests {
    @Test func recomputingLayersGivesIdenticalLossAndGradients() throws {
        func gradients(checkpointing: Bool) throws -> (Float, [[Float]]) {
            let (model, linears, ids, labels, _) = try GradientTests.setUp()
            for (i, linear) in linears.sorted(by: { $0.key < $1.key }).map(\.value).enumerated() {
                linear.dropout = 0.2
                linear.training = true
                linear.randomState = UInt64(100 + i)
            }
            let ordered = linears.sorted { $0.key < $1.key }.map(\.value)
            let loss = try model.lossAndGradients(ids: ids, labels: labels, checkpointing: checkpointing)
            return (
                loss,
                ordered.flatMap {
                    [
                        $0.gradA.toArray(), $0.gradB.toArray(),
                        [Float(bitPattern: UInt32(truncatingIfNeeded: $0.randomState))],
                    ]
                }
            )
        }
        let plain = try gradients(checkpointing: false)
        let recomputed = try gradients(checkpointing: true)
        #expect(plain.0 == recomputed.0)
        #expect(plain.1 == recomputed.1, "gradients and final dropout states are bit-identical")
    }
}
