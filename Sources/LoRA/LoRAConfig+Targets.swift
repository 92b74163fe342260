import Foundation
import Kernels
import Models

extension LoRAConfig {
    /// The projections this configuration adapts in `model`, as PEFT's `check_target_module_exists`
    /// decides: a list matches a module whose path equals an entry or ends with `.entry`; a string
    /// is a regular expression full-matched against the path; `all-linear` is every projection (the
    /// output head excluded). `exclude_modules` removes matches, `layers_to_transform` keeps only
    /// the listed layers.
    public func targets(in model: LlamaModel) -> [ProjectionKey] {
        var keys: [ProjectionKey] = []
        for layer in 0..<model.layers.count {
            if let layers = layersToTransform, !layers.contains(layer) { continue }
            for projection in LlamaProjection.allCases {
                let key = ProjectionKey(layer: layer, projection: projection)
                let path = key.modulePath
                guard Self.matches(targetModules, path) else { continue }
                if let excludeModules, Self.matches(excludeModules, path) { continue }
                keys.append(key)
            }
        }
        return keys
    }

    static func matches(_ targets: TargetModules, _ path: String) -> Bool {
        switch targets {
        case .allLinear: return true
        case .regex(let pattern): return fullMatch(pattern, path)
        case .names(let names): return names.contains { LoRAAdapter.matchesName($0, path) }
        }
    }
}

extension LoRAAdapter {
    /// A listed target name matches a module path equal to it or ending with `.name` (PEFT's rule).
    static func matchesName(_ name: String, _ path: String) -> Bool { path == name || path.hasSuffix("." + name) }

    /// A new adapter for `model` initialized as PEFT does: `A` Kaiming-uniform (bound 1/√in) or
    /// Gaussian (σ = 1/r), `B` zero, so the adapted model starts equal to the base. `seed` makes
    /// the initialization reproducible.
    public static func create(config: LoRAConfig, for model: LlamaModel, seed: UInt64) throws -> LoRAAdapter {
        try config.validate(source: "LoRA configuration")
        let keys = config.targets(in: model)
        guard !keys.isEmpty else {
            let names = LlamaProjection.allCases.map(\.rawValue).joined(separator: ", ")
            throw LoRAError.invalidConfig(
                "LoRA configuration",
                "target_modules \(config.targetModules) (with exclude_modules and layers_to_transform) "
                    + "matches no module of the model (names: \(names), all-linear; paths look like "
                    + "\(LlamaProjection.qProj.modulePath(layer: 0)); a regular expression must match a whole path)")
        }
        // PEFT drops listed names that match nothing as long as one matches; a new adapter refuses
        // them (a misspelt name would silently train fewer modules than asked).
        if case .names(let names) = config.targetModules {
            let paths = (0..<model.layers.count).flatMap { layer in
                LlamaProjection.allCases.map { ProjectionKey(layer: layer, projection: $0).modulePath }
            }
            if let unknown = names.first(where: { name in !paths.contains { Self.matchesName(name, $0) } }) {
                let known = LlamaProjection.allCases.map(\.rawValue).joined(separator: ", ")
                throw LoRAError.invalidConfig(
                    "LoRA configuration", "target_modules: '\(unknown)' matches no module of the model (\(known))")
            }
        }
        var random = SplitMix64(seed: seed)
        var modules: [String: (a: Tensor, b: Tensor)] = [:]
        for key in keys {
            let (inFeatures, outFeatures) = model.shape(of: key)
            let (rank, _) = config.rankAndScale(for: key.modulePath)
            let a: [Float]
            var b = [Float](repeating: 0, count: outFeatures * rank)
            switch config.initLoRAWeights {
            case .kaiming, .none:
                let bound = 1 / Float(inFeatures).squareRoot()
                a = (0..<(rank * inFeatures)).map { _ in random.uniform(-bound, bound) }
                if config.initLoRAWeights == .none {
                    let boundB = 1 / Float(rank).squareRoot()
                    b = (0..<(outFeatures * rank)).map { _ in random.uniform(-boundB, boundB) }
                }
            case .gaussian:
                a = (0..<(rank * inFeatures)).map { _ in random.normal() / Float(rank) }
            }
            modules[key.modulePath] = (Tensor(a, shape: [rank, inFeatures]), Tensor(b, shape: [outFeatures, rank]))
        }
        // Each module to save starts as a float32 copy of the loaded weight (PEFT deep-copies it).
        var saved: [String: Tensor] = [:]
        for module in try config.savedModules(in: model, source: "LoRA configuration") {
            saved[module.modulePath] = model.baseWeight(of: module).dequantized()
        }
        return LoRAAdapter(config: config, modules: modules, savedModules: saved)
    }

    /// Values in the adapter (all of them train): LoRA pairs and modules to save.
    public var parameterCount: Int {
        modules.values.reduce(0) { $0 + $1.a.count + $1.b.count } + savedModules.values.reduce(0) { $0 + $1.count }
    }

    /// PEFT's `print_trainable_parameters()` line for this adapter on `model`.
    public func trainableParametersLine(model: LlamaModel) -> String {
        let trainable = parameterCount
        let all = model.parameterCount + trainable
        let percent = String(format: "%.4f", 100 * Double(trainable) / Double(all))
        return
            "trainable params: \(Self.grouped(trainable)) || all params: \(Self.grouped(all)) || trainable%: \(percent)"
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n))
        var out = ""
        for (i, d) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
            out.append(d)
        }
        return out
    }
}
