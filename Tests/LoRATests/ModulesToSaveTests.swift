import Foundation
import Kernels
import ModelFiles
import Models
import Testing
import TestSupport

@testable import LoRA

/// `modules_to_save`: which modules a config names (PEFT's suffix rule) and what it refuses;
/// saving, loading, merging and serving adapters with full weights.
@Suite struct ModulesToSaveTests {
    static func tinyModel() throws -> LlamaModel { try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model }

    static func config(_ saved: [String], targets: [String] = ["q_proj", "v_proj"]) -> LoRAConfig {
        var c = LoRAConfig()
        c.r = 4
        c.targetModules = .names(targets)
        c.modulesToSave = saved
        return c
    }

    /// An adapter whose LoRA B and saved weights all differ from a fresh one's.
    static func perturbed(_ config: LoRAConfig, for model: LlamaModel) throws -> LoRAAdapter {
        let adapter = try LoRAAdapter.create(config: config, for: model, seed: 5)
        var random = SplitMix64(seed: 9)
        let tensors =
            adapter.modules.sorted { $0.key < $1.key }.map(\.value.b)
            + adapter.savedModules.sorted { $0.key < $1.key }.map(\.value)
        for t in tensors {
            for i in 0..<t.count { t.pointer[i] += 0.02 * random.normal() }
        }
        return adapter
    }

    static func refusal(_ config: LoRAConfig, _ model: LlamaModel) -> String? {
        do {
            _ = try LoRAAdapter.create(config: config, for: model, seed: 1)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func namesMatchAsPEFTsSuffixRule() throws {
        let model = try Self.tinyModel()
        let paths = { (names: [String]) in
            try Self.config(names).savedModules(in: model, source: "test").map(\.modulePath)
        }
        #expect(try paths(["lm_head"]) == ["lm_head"])
        #expect(try paths(["embed_tokens"]) == ["model.embed_tokens"])
        #expect(try paths(["down_proj"]) == ["model.layers.0.mlp.down_proj", "model.layers.1.mlp.down_proj"])
        #expect(try paths(["layers.1.mlp.down_proj", "o_proj"]).count == 3)
        #expect(try paths(["gate_proj", "p_proj"]).count == 4, "a plain suffix: p_proj is up_proj")
        #expect(try paths([]) == [])
    }

    @Test func unsupportedUnmatchedOverlappingAndTiedAreRefused() throws {
        let model = try Self.tinyModel()
        let norm = Self.refusal(Self.config(["input_layernorm"]), model)
        #expect(norm?.contains("model.layers.0.input_layernorm") == true, "\(norm ?? "accepted")")
        let block = Self.refusal(Self.config(["mlp"]), model)
        #expect(block?.contains("model.layers.0.mlp,") == true, "\(block ?? "accepted")")
        let none = Self.refusal(Self.config(["lm_hed"]), model)
        #expect(none?.contains("'lm_hed' matches no module") == true, "\(none ?? "accepted")")
        let both = Self.refusal(Self.config(["q_proj"]), model)
        #expect(both?.contains("both a LoRA target") == true, "\(both ?? "accepted")")
        var tied = Self.config(["lm_head"])
        tied.ensureWeightTying = true
        let tying = Self.refusal(tied, model)
        #expect(tying?.contains("'ensure_weight_tying'") == true, "\(tying ?? "accepted")")
        // In a file: refused at load, before any model is read.
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-mts-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data(#"{"r": 4, "modules_to_save": ["lm_head"], "ensure_weight_tying": true}"#.utf8).write(to: url)
        #expect(throws: LoRAError.self) { try LoRAConfig.load(url) }
        // ensure_weight_tying alone changes nothing and is accepted.
        try Data(#"{"r": 4, "ensure_weight_tying": true}"#.utf8).write(to: url)
        #expect(try LoRAConfig.load(url).ensureWeightTying)
    }

    @Test func savedWeightsRoundTripAndMergeAndUntie() throws {
        let model = try Self.tinyModel()
        let adapter = try Self.perturbed(Self.config(["lm_head", "down_proj"]), for: model)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-mts-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }
        try adapter.save(folder: folder)
        let file = try SafetensorsFile(url: folder.appendingPathComponent("adapter_model.safetensors"))
        #expect(file.contains("base_model.model.lm_head.weight"))
        #expect(file.contains("base_model.model.model.layers.1.mlp.down_proj.weight"))
        let loaded = try LoRAAdapter.load(folder: folder)
        #expect(loaded.config.modulesToSave == ["lm_head", "down_proj"])
        for (path, t) in adapter.savedModules { #expect(loaded.savedModules[path]?.toArray() == t.toArray()) }

        let ids = [[1, 504, 3458, 28, 5248, 30, 1392, 1033, 11, 2]]
        let attached = try Self.tinyModel()
        try loaded.attach(to: attached)
        let want = try attached.logits(inputIDs: ids).toArray()
        // Merging gives the same model: the saved weights, the head untied from the embedding.
        let merged = try loaded.merged(into: try Self.tinyModel())
        #expect(merged.weight(of: .lmHead).dequantized().toArray() == adapter.savedModules["lm_head"]!.toArray())
        #expect(merged.weight(of: .lmHead).data != merged.weight(of: .embedTokens).data)
        let got = try merged.logits(inputIDs: ids).toArray()
        let error = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error < 1e-4, "merged vs attached: max |Δlogit| = \(error)")
        // The merged model's export unties the config (transformers would tie the head back).
        let out = folder.appendingPathComponent("merged")
        _ = try ModelExport.writeHuggingFaceFolder(
            merged, format: .f32, sourceFolder: Fixtures.url("tiny-llama"), to: out)
        let config =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: out.appendingPathComponent("config.json"))) as? [String: Any]
        #expect(config?["tie_word_embeddings"] as? Bool == false)
        let reloaded = try ModelLoader.load(path: out.path).model
        let again = try reloaded.logits(inputIDs: ids).toArray()
        let exported = zip(again, want).map { abs($0 - $1) }.max() ?? .infinity
        #expect(exported < 1e-4, "exported merged model: max |Δlogit| = \(exported)")
        // A file whose tensor no listed name matches is refused, naming the tensor.
        var other = loaded
        other.config.modulesToSave = ["down_proj"]
        try other.save(folder: folder)
        #expect(throws: LoRAError.self) { try LoRAAdapter.load(folder: folder) }
    }

    @Test func servingAppliesSavedProjectionsAndRefusesTheHead() throws {
        let model = try Self.tinyModel()
        let adapter = try Self.perturbed(Self.config(["down_proj", "o_proj"]), for: model)
        let ids = [1, 504, 3458, 28, 5248, 30, 1392, 1033, 11, 2]
        let attached = try Self.tinyModel()
        try adapter.attach(to: attached)
        let want = try attached.logits(inputIDs: [ids]).toArray()
        let set = try LoRAAdapter.adapterSet([(adapter, 1)], for: model)
        let cache = try KVCache(configuration: model.configuration, slots: 1, capacity: 16)
        let got = try model.forward([.init(slot: 0, tokens: ids, adapters: set)], cache: cache, outputs: .all).toArray()
        // (W_saved − W_base)·x + W_base·x rounds differently from W_saved·x: a few float32 ulps.
        let error = zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error < 1e-4, "per-request vs attached: max |Δlogit| = \(error)")
        print("serving a saved projection as a weight delta: max |Δlogit| = \(error)")

        let head = try Self.perturbed(Self.config(["lm_head"]), for: model)
        #expect {
            try LoRAAdapter.adapterSet([(head, 1)], for: model)
        } throws: { error in "\(error)".contains("lm_head") && "\(error)".contains("lora merge") }
    }

    @Test func savingTheEmbeddingLeavesTheTiedHeadOnTheLoadedWeight() throws {
        let model = try Self.tinyModel()
        let adapter = try LoRAAdapter.create(
            config: Self.config(["embed_tokens"], targets: ["q_proj"]), for: model, seed: 1)
        // PEFT 0.21.2 on the same model and config prints this line.
        #expect(
            adapter.trainableParametersLine(model: model)
                == "trainable params: 3,146,752 || all params: 6,378,816 || trainable%: 49.3313")
        try adapter.attach(to: model)
        #expect(model.weight(of: .embedTokens).data == adapter.savedModules["model.embed_tokens"]!.pointer)
        #expect(model.weight(of: .lmHead).data == model.baseWeight(of: .embedTokens).data)
        #expect(model.trainableWeights.keys.map(\.modulePath) == ["model.embed_tokens"])
    }

    @Test func weightedAttachCombinesLinearly() throws {
        let model = try Self.tinyModel()
        let adapter = try Self.perturbed(Self.config(["lm_head"]), for: model)
        try adapter.attach(to: model, weight: 0.5)
        try adapter.attach(to: model, weight: 0.5)
        let head = model.weight(of: .lmHead).dequantized().toArray()
        let saved = adapter.savedModules["lm_head"]!.toArray()
        let error = zip(head, saved).map { abs($0 - $1) }.max() ?? .infinity
        #expect(error < 1e-6, "base + ½Δ + ½Δ = saved: \(error)")
    }
}

/// Adapters with `modules_to_save` cross between PEFT and SwiftLoRA with the same logits. Runs
/// when the Python reference stack is installed (`SWIFTLORA_PEERS_PYTHON` names its python).
@Suite struct ModulesToSavePEFTInteropTests {
    static var python: String? {
        let candidates = [
            ProcessInfo.processInfo.environment["SWIFTLORA_PEERS_PYTHON"],
            NSHomeDirectory() + "/.cache/swiftlora-peers/venv/bin/python",
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func script(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python!)
        process.arguments =
            [Fixtures.repositoryRoot.appendingPathComponent("scripts/peft_modules_to_save.py").path] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    static func maxError(_ model: LlamaModel, _ logitsFile: URL) throws -> Float {
        let reference = try SafetensorsFile(url: logitsFile)
        let ids = try reference.tensor("input_ids").int32s().map(Int.init)
        let want = try reference.tensor("logits").floats()
        let got = try model.logits(inputIDs: [ids]).toArray()
        #expect(got.count == want.count)
        return zip(got, want).map { abs($0 - $1) }.max() ?? .infinity
    }

    @Test(.enabled(if: python != nil, "needs the Python reference stack (torch, transformers, peft)"))
    func adaptersCrossBetweenPEFTAndSwiftLoRA() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-mts-peft-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let tiny = Fixtures.url("tiny-llama").path

        // PEFT's save_pretrained → SwiftLoRA (attached, and merged).
        let peftAdapter = folder.appendingPathComponent("peft")
        let peftLogits = folder.appendingPathComponent("peft-logits.safetensors")
        #expect(try Self.script(["make", tiny, peftAdapter.path, peftLogits.path]) == 0)
        let theirs = try LoRAAdapter.load(folder: peftAdapter)
        #expect(theirs.savedModules.count == 4)
        let model = try ModulesToSaveTests.tinyModel()
        try theirs.attach(to: model)
        let loadError = try Self.maxError(model, peftLogits)
        #expect(loadError < 1e-4, "PEFT adapter in SwiftLoRA: max |Δlogit| = \(loadError)")
        let mergeError = try Self.maxError(try theirs.merged(into: try ModulesToSaveTests.tinyModel()), peftLogits)
        #expect(mergeError < 1e-4, "PEFT adapter merged by SwiftLoRA: max |Δlogit| = \(mergeError)")

        // SwiftLoRA's save → PEFT's from_pretrained.
        let base = try ModulesToSaveTests.tinyModel()
        let config = ModulesToSaveTests.config(["lm_head", "embed_tokens", "down_proj"])
        let ours = try ModulesToSaveTests.perturbed(config, for: base)
        let ourAdapter = folder.appendingPathComponent("ours")
        try ours.save(folder: ourAdapter)
        let ourLogits = folder.appendingPathComponent("our-logits.safetensors")
        #expect(try Self.script(["logits", tiny, ourAdapter.path, ourLogits.path]) == 0)
        try ours.attach(to: base)
        let peftError = try Self.maxError(base, ourLogits)
        #expect(peftError < 1e-4, "SwiftLoRA adapter in PEFT: max |Δlogit| = \(peftError)")
        print("modules_to_save interop: PEFT→ours \(loadError), merged \(mergeError), ours→PEFT \(peftError)")
    }
}
