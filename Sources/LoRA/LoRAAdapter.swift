import Foundation
import Kernels
import ModelFiles
import Models

/// A LoRA adapter: its configuration and its A/B weights per module, in PEFT's folder format
/// (`adapter_config.json` + `adapter_model.safetensors`, keys
/// `base_model.model.<module path>.lora_A.weight` `(r, in)` and `.lora_B.weight` `(out, r)`).
public struct LoRAAdapter: @unchecked Sendable {
    public var config: LoRAConfig
    /// Weights by module path (`model.layers.0.self_attn.q_proj`).
    public var modules: [String: (a: Tensor, b: Tensor)]

    public init(config: LoRAConfig, modules: [String: (a: Tensor, b: Tensor)]) {
        self.config = config
        self.modules = modules
    }

    static func key(_ path: String, _ which: String) -> String { "base_model.model.\(path).lora_\(which).weight" }

    /// Loads a PEFT adapter folder.
    public static func load(folder: URL) throws -> LoRAAdapter {
        let config = try LoRAConfig.load(folder.appendingPathComponent("adapter_config.json"))
        let weightsURL = folder.appendingPathComponent("adapter_model.safetensors")
        let file = try SafetensorsFile(url: weightsURL)
        var modules: [String: (a: Tensor, b: Tensor)] = [:]
        for name in file.names where name.hasSuffix(".lora_A.weight") {
            let path = String(name.dropFirst("base_model.model.".count).dropLast(".lora_A.weight".count))
            guard name.hasPrefix("base_model.model.") else {
                throw LoRAError.invalidConfig(weightsURL.path, "unexpected tensor name '\(name)'")
            }
            guard file.contains(key(path, "B")) else {
                throw LoRAError.missingWeight(weightsURL.path, key: key(path, "B"))
            }
            let a = try file.tensor(name)
            let b = try file.tensor(key(path, "B"))
            guard a.shape.count == 2, b.shape.count == 2, a.shape[0] == b.shape[1] else {
                throw LoRAError.shapeMismatch(
                    weightsURL.path, key: name, expected: [b.shape.last ?? 0, a.shape.last ?? 0], found: a.shape)
            }
            modules[path] = (Tensor(try a.floats(), shape: a.shape), Tensor(try b.floats(), shape: b.shape))
        }
        for name in file.names where !name.hasSuffix(".lora_A.weight") && !name.hasSuffix(".lora_B.weight") {
            throw LoRAError.unsupportedSetting(weightsURL.path, key: name, value: "tensor (only lora_A/lora_B weights)")
        }
        if modules.isEmpty { throw LoRAError.noMatchingModules(weightsURL.path) }
        return LoRAAdapter(config: config, modules: modules)
    }

    /// Writes a PEFT adapter folder (weights first, then the config; each file atomically).
    public func save(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var items: [SafetensorsWriter.Item] = []
        for (path, w) in modules {
            items.append(.init(name: Self.key(path, "A"), shape: w.a.shape, floats: w.a.toArray()))
            items.append(.init(name: Self.key(path, "B"), shape: w.b.shape, floats: w.b.toArray()))
        }
        try SafetensorsWriter.write(
            items, metadata: ["format": "pt"], to: folder.appendingPathComponent("adapter_model.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(config), to: folder.appendingPathComponent("adapter_config.json"))
    }

    /// Adds this adapter to `model`'s projections, scaled by `weight` (1 = as trained; several
    /// adapters attached with weights combine linearly). Checks every tensor's shape first, so a
    /// mismatched adapter changes nothing.
    public func attach(to model: LlamaModel, weight: Float = 1, source: String = "adapter") throws {
        for (key, linear) in try linears(for: model, weight: weight, source: source) {
            model.adapters[key, default: []].append(linear)
        }
    }

    /// This adapter as a per-sequence ``AdapterSet`` for `model` (serving), leaving the model's
    /// own adapters alone. Several `(adapter, weight)` pairs combine linearly.
    public static func adapterSet(
        _ parts: [(adapter: LoRAAdapter, weight: Float)], for model: LlamaModel, source: String = "adapter"
    ) throws -> AdapterSet {
        var adapters: [ProjectionKey: [any LinearAdapter]] = [:]
        for part in parts {
            for (key, linear) in try part.adapter.linears(for: model, weight: part.weight, source: source) {
                adapters[key, default: []].append(linear)
            }
        }
        return AdapterSet(adapters)
    }

    /// One ``LoRALinear`` per module, every tensor's shape checked against `model` first.
    func linears(for model: LlamaModel, weight: Float, source: String) throws -> [(ProjectionKey, LoRALinear)] {
        var planned: [(ProjectionKey, LoRALinear)] = []
        for (path, w) in modules.sorted(by: { $0.key < $1.key }) {
            guard let key = Self.projectionKey(path), key.layer < model.layers.count else {
                throw LoRAError.invalidConfig(source, "module '\(path)' is not a projection of this model")
            }
            let (inFeatures, outFeatures) = model.shape(of: key)
            let rank = w.a.shape[0]
            guard w.a.shape == [rank, inFeatures] else {
                throw LoRAError.shapeMismatch(
                    source, key: Self.key(path, "A"), expected: [rank, inFeatures], found: w.a.shape)
            }
            guard w.b.shape == [outFeatures, rank] else {
                throw LoRAError.shapeMismatch(
                    source, key: Self.key(path, "B"), expected: [outFeatures, rank], found: w.b.shape)
            }
            let (configured, scale) = config.rankAndScale(for: path)
            // The scale is alpha / r from the config: a rank that disagrees with the tensors would
            // silently scale the adapter wrongly (PEFT refuses it as a size mismatch).
            guard configured == rank else {
                throw LoRAError.rankMismatch(source, key: Self.key(path, "A"), configured: configured, found: rank)
            }
            planned.append((key, LoRALinear(a: w.a, b: w.b, scale: scale * weight)))
        }
        return planned
    }

    /// `model.layers.N.self_attn.q_proj` → (N, .qProj).
    static func projectionKey(_ path: String) -> ProjectionKey? {
        let parts = path.split(separator: ".")
        guard parts.count == 5, parts[0] == "model", parts[1] == "layers", let layer = Int(parts[2]),
            let projection = LlamaProjection(rawValue: String(parts[4])),
            projection.modulePath(layer: layer) == path
        else { return nil }
        return ProjectionKey(layer: layer, projection: projection)
    }
}
