import Kernels
import Models

extension LoRAConfig {
    /// The modules `modules_to_save` names in `model`, matched as PEFT's `_set_trainable` does:
    /// every module whose full name (`base_model.model.` + path) ends with a listed string, a
    /// plain suffix (`proj` matches all seven projections of every layer).
    ///
    /// Refused, naming the module or the string: a match we cannot train in full (a norm, a
    /// whole block: only the projections, `embed_tokens` and `lm_head` are supported), a listed
    /// string that matches nothing, a module that is also a LoRA target, and a projection with a
    /// bias (Qwen2's q/k/v: PEFT would train the bias too).
    public func savedModules(in model: LlamaModel, source: String) throws -> [LlamaModule] {
        guard let names = modulesToSave, !names.isEmpty else { return [] }
        try validate(source: source)
        let targets = Set(self.targets(in: model))
        var found: [LlamaModule] = []
        for name in names {
            let matched = Self.moduleNames(layers: model.layers.count).filter {
                ("base_model.model." + $0.path).hasSuffix(name)
            }
            guard !matched.isEmpty else {
                throw LoRAError.invalidConfig(
                    source, "modules_to_save: '\(name)' matches no module of the model (\(Self.supportedNames))")
            }
            for (path, module) in matched {
                guard let module else {
                    throw LoRAError.invalidConfig(
                        source,
                        "modules_to_save: '\(name)' matches \(path), which cannot be trained in full here (\(Self.supportedNames))"
                    )
                }
                if case .projection(let key) = module {
                    guard !targets.contains(key) else {
                        throw LoRAError.invalidConfig(
                            source, "\(path) is both a LoRA target (target_modules) and in modules_to_save")
                    }
                    let layer = model.layers[key.layer]
                    let bias = [LlamaProjection.qProj: layer.qBias, .kProj: layer.kBias, .vProj: layer.vBias]
                    guard bias[key.projection].flatMap({ $0 }) == nil else {
                        throw LoRAError.invalidConfig(
                            source, "modules_to_save: \(path) has a bias, and training a bias is not implemented")
                    }
                }
                if !found.contains(module) { found.append(module) }
            }
        }
        return found.sorted { $0.modulePath < $1.modulePath }
    }

    static let supportedNames =
        "supported: \(LlamaProjection.allCases.map(\.rawValue).joined(separator: ", ")), embed_tokens, lm_head"

    /// Every module of a Hugging Face `LlamaForCausalLM` by path (`named_modules()` without the
    /// root), with the module we can train in full, or `nil` for one we cannot.
    static func moduleNames(layers: Int) -> [(path: String, module: LlamaModule?)] {
        var all: [(String, LlamaModule?)] = [
            ("model", nil), ("model.embed_tokens", .embedTokens), ("model.layers", nil),
        ]
        for l in 0..<layers {
            all += [("model.layers.\(l)", nil), ("model.layers.\(l).self_attn", nil)]
            for projection in [LlamaProjection.qProj, .kProj, .vProj, .oProj] {
                all.append(
                    (projection.modulePath(layer: l), .projection(ProjectionKey(layer: l, projection: projection))))
            }
            all.append(("model.layers.\(l).mlp", nil))
            for projection in [LlamaProjection.gateProj, .upProj, .downProj] {
                all.append(
                    (projection.modulePath(layer: l), .projection(ProjectionKey(layer: l, projection: projection))))
            }
            all += [
                ("model.layers.\(l).mlp.act_fn", nil), ("model.layers.\(l).input_layernorm", nil),
                ("model.layers.\(l).post_attention_layernorm", nil),
            ]
        }
        all += [("model.norm", nil), ("model.rotary_emb", nil), ("lm_head", .lmHead)]
        return all
    }
}

extension LoRAAdapter {
    /// The tensor name of a saved module's weight, as PEFT writes it (without the wrapper's
    /// `modules_to_save.default` part): `base_model.model.lm_head.weight`.
    static func savedKey(_ path: String) -> String { "base_model.model.\(path).weight" }

    /// Each module of `modules_to_save` in `model` with its saved weight, shapes checked.
    func savedWeights(for model: LlamaModel, source: String) throws -> [(LlamaModule, Tensor)] {
        let wanted = try config.savedModules(in: model, source: source)
        if let stray = savedModules.keys.sorted().first(where: { path in !wanted.contains { $0.modulePath == path } }) {
            throw LoRAError.invalidConfig(
                source, "tensor '\(Self.savedKey(stray))' is not a module to save of this model")
        }
        return try wanted.map { module in
            guard let value = savedModules[module.modulePath] else {
                throw LoRAError.missingWeight(source, key: Self.savedKey(module.modulePath))
            }
            let base = model.baseWeight(of: module)
            guard value.shape == [base.rows, base.columns] else {
                throw LoRAError.shapeMismatch(
                    source, key: Self.savedKey(module.modulePath), expected: [base.rows, base.columns],
                    found: value.shape)
            }
            return (module, value)
        }
    }

    /// Makes `model` read this adapter's saved modules. With `weight` 1 on a module nothing else
    /// replaced, the model reads the adapter's own tensor (training updates it in place);
    /// otherwise it reads `W + weight·(W_saved − W_base)` (W what it reads now, W_base as loaded),
    /// so weighted adapters combine linearly as their LoRA deltas do.
    func applySavedModules(_ saved: [(LlamaModule, Tensor)], to model: LlamaModel, weight: Float) {
        for (module, value) in saved {
            if weight == 1 && model.trainableWeights[module] == nil {
                model.replaceWeight(of: module, with: TrainableWeight(value))
                continue
            }
            let combined = model.weight(of: module).dequantized()
            let base = model.baseWeight(of: module).dequantized()
            let (c, b, s) = (combined.pointer, base.pointer, value.pointer)
            for i in 0..<combined.count { c[i] += weight * (s[i] - b[i]) }
            model.replaceWeight(of: module, with: TrainableWeight(combined))
        }
    }
}
