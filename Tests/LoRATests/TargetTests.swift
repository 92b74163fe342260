import Foundation
import Models
import Testing
import TestSupport

@testable import LoRA

@Suite struct TargetTests {
    static let model = try? ModelLoader.load(path: Fixtures.url("tiny-llama").path).model

    @Test func targetModulesMatchAsPEFTDoes() throws {
        let model = try #require(Self.model)
        var c = LoRAConfig()
        c.targetModules = .names(["q_proj", "v_proj"])
        #expect(
            c.targets(in: model).map(\.modulePath) == [
                "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.q_proj",
                "model.layers.1.self_attn.v_proj",
            ])
        c.targetModules = .allLinear
        #expect(c.targets(in: model).count == 14)
        c.targetModules = .names(LlamaProjection.allCases.map(\.rawValue))
        c.excludeModules = .names(["down_proj"])
        c.layersToTransform = [1]
        try c.validate(source: "test")
        #expect(c.targets(in: model).count == 6)
        c = LoRAConfig()
        c.targetModules = .regex(#".*\.1\.mlp\.(up|gate)_proj"#)
        c.layersToTransform = [1]
        #expect(throws: LoRAError.self) { try c.validate(source: "test") }  // PEFT refuses it too
        c.layersToTransform = nil
        #expect(
            c.targets(in: model).map(\.modulePath) == ["model.layers.1.mlp.gate_proj", "model.layers.1.mlp.up_proj"])
        c.targetModules = .names(["model.layers.0.mlp.down_proj"])
        #expect(c.targets(in: model).map(\.modulePath) == ["model.layers.0.mlp.down_proj"])
        c.targetModules = .names(["nothing"])
        #expect {
            try LoRAAdapter.create(config: c, for: model, seed: 1)
        } throws: { error in
            "\(error)".contains(
                "target_modules [nothing] (with exclude_modules and layers_to_transform) matches no module")
        }
        // One misspelt name among good ones is refused by name, not dropped as PEFT drops it.
        c.targetModules = .names(["q_proj", "foo_proj"])
        #expect(c.targets(in: model).count == 2)
        #expect {
            try LoRAAdapter.create(config: c, for: model, seed: 1)
        } throws: { error in
            "\(error)".contains("'foo_proj' matches no module")
        }
    }

    @Test func newAdaptersStartAtTheBaseModelAndAreReproducible() throws {
        let model = try #require(Self.model)
        var c = LoRAConfig()
        c.r = 4
        c.rankPattern = ["o_proj": 2]
        c.targetModules = .allLinear
        let a = try LoRAAdapter.create(config: c, for: model, seed: 7)
        let b = try LoRAAdapter.create(config: c, for: model, seed: 7)
        #expect(
            a.modules["model.layers.0.self_attn.q_proj"]?.a.toArray()
                == b.modules["model.layers.0.self_attn.q_proj"]?.a.toArray())
        #expect(a.modules["model.layers.0.self_attn.o_proj"]?.a.shape == [2, 64])
        let bound = 1 / Float(64).squareRoot()
        #expect(a.modules.values.allSatisfy { $0.b.toArray().allSatisfy { $0 == 0 } })
        #expect(a.modules.values.allSatisfy { $0.a.toArray().allSatisfy { abs($0) <= bound } })
        // B = 0: the adapted model gives the base model's logits.
        let fresh = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        let base = try fresh.logits(inputIDs: [[3, 4, 5]]).toArray()
        try a.attach(to: fresh)
        #expect(try fresh.logits(inputIDs: [[3, 4, 5]]).toArray() == base)
    }

    @Test func trainableParametersLineIsPEFTs() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let model = try ModelLoader.load(path: url.path).model
        #expect(model.parameterCount == 134_515_008)
        let adapter = try LoRAAdapter.create(config: LoRAConfig(), for: model, seed: 0)
        // PEFT on SmolLM2-135M-Instruct with r=8 on q_proj and v_proj.
        #expect(
            adapter.trainableParametersLine(model: model)
                == "trainable params: 460,800 || all params: 134,975,808 || trainable%: 0.3414")
    }
}
