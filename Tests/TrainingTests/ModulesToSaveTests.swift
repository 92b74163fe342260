import Foundation
import Kernels
import LoRA
import ModelFiles
import Models
import Testing
import TestSupport
import Tokenizers

@testable import Training

/// `modules_to_save` against PyTorch + PEFT on the tiny Llama (tied embeddings): one backward
/// pass's loss, LoRA gradients and the full-weight gradients of `lm_head`, `embed_tokens` and
/// both `down_proj`s, from `Fixtures/modules-to-save-grads.safetensors` made by
/// `scripts/peft_modules_to_save.py grads`.
@Suite struct ModulesToSaveGradientTests {
    static let reference = Fixtures.repositoryRoot.appendingPathComponent(
        "Tests/TrainingTests/Fixtures/modules-to-save-grads.safetensors")

    /// The script's PEFT model: its LoRA weights, and saved modules that start as base copies.
    static func setUp() throws -> (LlamaModel, LoRAAdapter, SafetensorsFile) {
        let model = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        let file = try SafetensorsFile(url: reference)
        var config = LoRAConfig()
        config.r = 4
        config.loraAlpha = 8
        config.targetModules = .names(["q_proj", "v_proj", "up_proj"])
        config.modulesToSave = ["lm_head", "embed_tokens", "down_proj"]
        var adapter = try LoRAAdapter.create(config: config, for: model, seed: 1)
        for path in adapter.modules.keys {
            let a = try file.tensor("base_model.model.\(path).lora_A.weight")
            let b = try file.tensor("base_model.model.\(path).lora_B.weight")
            adapter.modules[path] = (Tensor(try a.floats(), shape: a.shape), Tensor(try b.floats(), shape: b.shape))
        }
        try adapter.attach(to: model)
        return (model, adapter, file)
    }

    static func relativeError(_ got: [Float], _ want: [Float]) -> Double {
        let diff = zip(got, want).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        let norm = want.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return diff / max(norm, 1e-12)
    }

    @Test(arguments: ["prefix", "scattered"])
    func lossAndSavedModuleGradientsMatchPEFT(labels pattern: String) throws {
        let (model, adapter, file) = try Self.setUp()
        #expect(Set(model.trainableWeights.keys.map(\.modulePath)) == Set(adapter.savedModules.keys))
        #expect(model.trainableWeights.count == 4)
        let ids = try file.tensor("input_ids").int32s().map(Int.init)
        let labels = try file.tensor("\(pattern).labels").int32s().map(Int.init)
        let loss = try model.lossAndGradients(ids: ids, labels: labels)
        let expectedLoss = try file.tensor("\(pattern).loss").floats()[0]
        #expect(abs(loss - expectedLoss) < 1e-5, "loss \(loss) vs \(expectedLoss)")
        var worst: Double = 0
        func check(_ name: String, _ got: [Float], _ want: [Float]) {
            let relative = Self.relativeError(got, want)
            worst = max(worst, relative)
            #expect(relative < 1e-4, "\(name): relative error \(relative)")
        }
        for (key, list) in model.adapters {
            let linear = try #require(list.first as? LoRALinear)
            let prefix = "\(pattern).base_model.model.\(key.modulePath)"
            check(
                "\(key.modulePath).lora_A", linear.gradA.toArray(),
                try file.tensor("\(prefix).lora_A.weight.grad").floats())
            check(
                "\(key.modulePath).lora_B", linear.gradB.toArray(),
                try file.tensor("\(prefix).lora_B.weight.grad").floats())
        }
        let rows = try file.tensor("rows").int32s().map(Int.init)
        for (module, weight) in model.trainableWeights {
            let name = "\(pattern).base_model.model.\(module.modulePath).weight.grad"
            let got = weight.gradient.toArray()
            switch module {
            case .projection:
                check(module.modulePath, got, try file.tensor(name).floats())
            case .lmHead, .embedTokens:
                // Chosen rows (every input id among them) and the norm of the whole gradient.
                let H = weight.value.shape[1]
                let chosen = rows.flatMap { got[($0 * H)..<($0 * H + H)] }
                check("\(module.modulePath) rows", chosen, try file.tensor("\(name).rows").floats())
                let norm = got.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let want = Double(try file.tensor("\(name).norm").floats()[0])
                #expect(abs(norm - want) / want < 1e-4, "\(module.modulePath): norm \(norm) vs \(want)")
            }
        }
        print("modules_to_save (\(pattern)): loss \(loss) vs \(expectedLoss); largest relative gradient error \(worst)")
    }

    @Test func parameterCountsAreTheSameAsPEFTs() throws {
        let (model, adapter, file) = try Self.setUp()
        let counts = try file.tensor("parameter_counts").int32s()
        #expect(
            adapter.trainableParametersLine(model: model)
                == "trainable params: 6,315,520 || all params: 9,547,584 || trainable%: 66.1478")
        #expect(counts == [6_315_520, 9_547_584])
    }

    @Test func gradientScaleScalesTheSavedGradients() throws {
        let (model, _, file) = try Self.setUp()
        let ids = try file.tensor("input_ids").int32s().map(Int.init)
        let labels = try file.tensor("scattered.labels").int32s().map(Int.init)
        _ = try model.lossAndGradients(ids: ids, labels: labels)
        let sorted = model.trainableWeights.sorted { $0.key.modulePath < $1.key.modulePath }.map(\.value)
        let once = sorted.map { $0.gradient.toArray() }
        sorted.forEach { $0.zeroGradient() }
        _ = try model.lossAndGradients(ids: ids, labels: labels, gradientScale: 0.25)
        for (weight, full) in zip(sorted, once) {
            let quarter = full.map { $0 * 0.25 }
            #expect(Self.relativeError(weight.gradient.toArray(), quarter) < 1e-6)
        }
    }
}

/// Training with `modules_to_save`: the loss falls, the saved copy of the tied head moves while
/// the embedding stays (they are untied), and an interrupted, resumed run ends byte-identical.
@Suite struct ModulesToSaveTrainingTests {
    func run(_ folder: URL, steps: Int, stopAfter: Int? = nil, resume: Bool = false) throws -> (
        LlamaModel, [Float]
    ) {
        let tiny = try TinyRun(TinyRun.sayNumbers(4))
        let adapter = try tiny.adapter(seed: 1) {
            $0.targetModules = .names(["q_proj", "v_proj"])
            $0.modulesToSave = ["lm_head", "down_proj"]
            $0.r = 4
            $0.loraDropout = 0.1
        }
        var p = LoRATrainer.Parameters()
        p.maxSteps = steps
        p.batchSize = 2
        p.learningRate = 1e-3
        p.weightDecay = 0.01
        p.schedule = .constant
        p.saveSteps = 3
        p.outputDirectory = folder
        let trainer = try tiny.trainer(adapter, p)
        if resume, let checkpoint = LoRATrainer.latestCheckpoint(in: folder) { try trainer.resume(from: checkpoint) }
        var losses: [Float] = []
        try trainer.run { progress in
            losses.append(progress.loss)
            return progress.step == stopAfter ? .stop : .continue
        }
        return (tiny.loaded.model, losses)
    }

    @Test func trainingMovesTheLossUntiesTheHeadAndResumesExactly() throws {
        let base = TinyRun.folder("mts")
        defer { try? FileManager.default.removeItem(at: base) }
        let straight = base.appendingPathComponent("straight")
        let (model, losses) = try run(straight, steps: 8)
        #expect(losses.last! < losses.first! - 0.5, "loss \(losses.first!) → \(losses.last!)")
        let saved = try LoRAAdapter.load(folder: straight.appendingPathComponent("adapter"))
        #expect(
            Set(saved.savedModules.keys) == ["lm_head", "model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"])
        // The head's copy trained; the embedding it was tied to is the loaded one, untouched.
        let embed = model.weight(of: .embedTokens).dequantized().toArray()
        let head = try #require(saved.savedModules["lm_head"]).toArray()
        #expect(head != embed)
        #expect(embed == model.baseWeight(of: .lmHead).dequantized().toArray())
        #expect(model.weight(of: .lmHead).data != model.weight(of: .embedTokens).data)

        let interrupted = base.appendingPathComponent("interrupted")
        _ = try run(interrupted, steps: 8, stopAfter: 4)
        _ = try run(interrupted, steps: 8, resume: true)
        let a = try Data(contentsOf: straight.appendingPathComponent("adapter/adapter_model.safetensors"))
        let b = try Data(contentsOf: interrupted.appendingPathComponent("adapter/adapter_model.safetensors"))
        #expect(a == b, "the resumed run's adapter (saved modules and AdamW moments restored) is byte-identical")

        // The written adapter reproduces the trained model's loss on a fresh model.
        let fresh = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        try saved.attach(to: fresh)
        let ids = [1, 504, 3458, 28, 5248, 30, 1392, 1033]
        let labels = ids
        #expect(
            abs(
                try fresh.lossAndGradients(ids: ids, labels: labels)
                    - (try model.lossAndGradients(ids: ids, labels: labels))) < 1e-5)
    }
}
