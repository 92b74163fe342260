import Foundation
import Kernels
import ModelFiles
import Models

/// A LoRA adapter: its configuration and its A/B weights per module, in PEFT's folder format
/// (`adapter_config.json` + `adapter_model.safetensors`, keys
/// `base_model.model.<module path>.lora_A.weight` `(r, in)` and `.lora_B.weight` `(out, r)`),
/// and the full weights of its `modules_to_save` (`base_model.model.<module path>.weight`).
public struct LoRAAdapter: @unchecked Sendable {
    public var config: LoRAConfig
    /// Weights by module path (`model.layers.0.self_attn.q_proj`).
    public var modules: [String: (a: Tensor, b: Tensor)]
    /// Float32 weights of the modules to save by module path (`lm_head`, `model.embed_tokens`,
    /// `model.layers.0.mlp.down_proj`), laid out as the model's `(rows, columns)`.
    public var savedModules: [String: Tensor]

    public init(config: LoRAConfig, modules: [String: (a: Tensor, b: Tensor)], savedModules: [String: Tensor] = [:]) {
        self.config = config
        self.modules = modules
        self.savedModules = savedModules
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
        // Any other tensor must be the weight of a module that modules_to_save names.
        var saved: [String: Tensor] = [:]
        let prefix = "base_model.model."
        for name in file.names where !name.hasSuffix(".lora_A.weight") && !name.hasSuffix(".lora_B.weight") {
            let listed = config.modulesToSave ?? []
            guard name.hasPrefix(prefix), name.hasSuffix(".weight"),
                listed.contains(where: { name.dropLast(".weight".count).hasSuffix($0) })
            else {
                throw LoRAError.unsupportedSetting(
                    weightsURL.path, key: name, value: "tensor (only lora_A/lora_B weights and modules_to_save weights)"
                )
            }
            let t = try file.tensor(name)
            guard t.shape.count == 2 else {
                throw LoRAError.shapeMismatch(weightsURL.path, key: name, expected: [-1, -1], found: t.shape)
            }
            saved[String(name.dropFirst(prefix.count).dropLast(".weight".count))] = Tensor(
                try t.floats(), shape: t.shape)
        }
        if modules.isEmpty && saved.isEmpty { throw LoRAError.noMatchingModules(weightsURL.path) }
        return LoRAAdapter(config: config, modules: modules, savedModules: saved)
    }

    /// Writes a PEFT adapter folder (weights first, then the config; each file atomically).
    public func save(folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var items: [SafetensorsWriter.Item] = []
        for (path, w) in modules {
            items.append(.init(name: Self.key(path, "A"), shape: w.a.shape, floats: w.a.toArray()))
            items.append(.init(name: Self.key(path, "B"), shape: w.b.shape, floats: w.b.toArray()))
        }
        for (path, w) in savedModules {
            items.append(.init(name: Self.savedKey(path), shape: w.shape, floats: w.toArray()))
        }
        try SafetensorsWriter.write(
            items, metadata: ["format": "pt"], to: folder.appendingPathComponent("adapter_model.safetensors"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(config), to: folder.appendingPathComponent("adapter_config.json"))
    }

    /// Adds this adapter to `model`'s projections, scaled by `weight` (1 = as trained; several
    /// adapters attached with weights combine linearly), and makes its modules to save replace
    /// the model's (see ``applySavedModules(_:to:weight:)``). Checks every tensor's shape first,
    /// so a mismatched adapter changes nothing.
    public func attach(to model: LlamaModel, weight: Float = 1, source: String = "adapter") throws {
        let planned = try linears(for: model, weight: weight, source: source)
        let saved = try savedWeights(for: model, source: source)
        for (key, linear) in planned {
            model.adapters[key, default: []].append(linear)
        }
        applySavedModules(saved, to: model, weight: weight)
    }

    /// This adapter as a per-sequence ``AdapterSet`` for `model` (serving), leaving the model's
    /// own adapters alone. Several `(adapter, weight)` pairs combine linearly. A saved projection
    /// becomes a ``WeightDeltaAdapter``; a saved `lm_head` or `embed_tokens` is refused (they
    /// are not projections a per-sequence adapter can change).
    public static func adapterSet(
        _ parts: [(adapter: LoRAAdapter, weight: Float)], for model: LlamaModel, source: String = "adapter"
    ) throws -> AdapterSet {
        var adapters: [ProjectionKey: [any LinearAdapter]] = [:]
        for part in parts {
            for (key, linear) in try part.adapter.linears(for: model, weight: part.weight, source: source) {
                adapters[key, default: []].append(linear)
            }
            for (module, value) in try part.adapter.savedWeights(for: model, source: source) {
                guard case .projection(let key) = module else {
                    throw LoRAError.unsupportedSetting(
                        source, key: "modules_to_save",
                        value:
                            "\(module.modulePath) (a per-request adapter changes projections only; merge the adapter into the model with lora merge)"
                    )
                }
                let delta = WeightDeltaAdapter(saved: value, base: model.baseWeight(of: module), weight: part.weight)
                adapters[key, default: []].append(delta)
            }
        }
        return AdapterSet(adapters)
    }

    /// One ``LoRALinear`` per module, every tensor's shape checked against `model` first.
    func linears(for model: LlamaModel, weight: Float, source: String) throws -> [(ProjectionKey, LoRALinear)] {
        var planned: [(ProjectionKey, LoRALinear)] = []
        let targets = Set(config.targets(in: model))
        for (path, w) in modules.sorted(by: { $0.key < $1.key }) {
            guard let key = Self.projectionKey(path), key.layer < model.layers.count else {
                throw LoRAError.invalidConfig(source, "module '\(path)' is not a projection of this model")
            }
            // PEFT builds LoRA layers from the config alone and leaves other tensors unused.
            guard targets.contains(key) else {
                throw LoRAError.invalidConfig(
                    source,
                    "tensor '\(Self.key(path, "A"))' is for \(path), which the config's target_modules "
                        + "(with exclude_modules and layers_to_transform) does not select")
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
