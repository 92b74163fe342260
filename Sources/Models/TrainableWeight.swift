import Kernels

/// A module of the model that can hold a weight of its own instead of the loaded one: a layer's
/// projection, the token embedding or the output head (PEFT's `modules_to_save` candidates).
public enum LlamaModule: Hashable, Sendable {
    case embedTokens
    case projection(ProjectionKey)
    case lmHead

    /// The module path as Hugging Face names it (`model.embed_tokens`, `model.layers.0.mlp.down_proj`, `lm_head`).
    public var modulePath: String {
        switch self {
        case .embedTokens: "model.embed_tokens"
        case .projection(let key): key.modulePath
        case .lmHead: "lm_head"
        }
    }
}

/// A float32 weight that trains in full (PEFT's `ModulesToSaveWrapper`): the model reads `value`
/// in place through ``matrix``, so an optimizer's in-place update is seen by the next forward
/// (the GEMM packs its B operand on every call), and the backward pass adds into ``gradient``.
public final class TrainableWeight: @unchecked Sendable {
    public let value: Tensor  // (rows, columns), laid out as the checkpoint's weight
    /// `∂loss/∂value`, accumulated by ``LlamaModel/lossAndGradients(ids:labels:segments:gradientScale:checkpointing:precision:)``;
    /// allocated on first use (inference never needs it).
    public private(set) lazy var gradient = Tensor(zeros: value.shape)

    public init(_ value: Tensor) {
        precondition(value.shape.count == 2, "a trainable weight is a matrix")
        self.value = value
    }

    /// `value` as a weight matrix (kept alive by the matrix's owner).
    public var matrix: WeightMatrix {
        WeightMatrix(format: .f32, rows: value.shape[0], columns: value.shape[1], data: value.pointer, owner: value)
    }

    /// Sets the accumulated gradient to zero.
    public func zeroGradient() { gradient.pointer.update(repeating: 0, count: gradient.count) }
}

extension WeightMatrix {
    /// A float32 copy of the matrix, `(rows, columns)`.
    public func dequantized() -> Tensor {
        let out = Tensor(uninitialized: [rows, columns])
        for r in 0..<rows { format.dequantizeRow(row(r), into: out.pointer + r * columns, count: columns) }
        return out
    }
}

extension LlamaModel {
    /// The weight a module reads now.
    public func weight(of module: LlamaModule) -> WeightMatrix {
        switch module {
        case .embedTokens: embedTokens
        case .projection(let key): layers[key.layer][key.projection]
        case .lmHead: lmHead
        }
    }

    /// The weight the module had when loaded (before any ``replaceWeight(of:with:)``).
    public func baseWeight(of module: LlamaModule) -> WeightMatrix { originalWeights[module] ?? weight(of: module) }

    /// Makes `module` read `weight` instead of its loaded weight; training computes its gradient.
    /// Replacing the output head or the embedding of a model that ties them unties them: the other
    /// keeps reading the loaded weight (PEFT's default, `ensure_weight_tying: false`).
    public func replaceWeight(of module: LlamaModule, with weight: TrainableWeight) {
        let current = self.weight(of: module)
        precondition(
            weight.value.shape == [current.rows, current.columns], "\(module.modulePath): shape \(weight.value.shape)")
        if originalWeights[module] == nil { originalWeights[module] = current }
        trainableWeights[module] = weight
        setWeight(module, weight.matrix)
    }

    /// Puts every replaced module's loaded weight back.
    public func restoreBaseWeights() {
        for (module, original) in originalWeights { setWeight(module, original) }
        originalWeights = [:]
        trainableWeights = [:]
    }

    func setWeight(_ module: LlamaModule, _ matrix: WeightMatrix) {
        switch module {
        case .embedTokens: embedTokens = matrix
        case .projection(let key): layers[key.layer][key.projection] = matrix
        case .lmHead: lmHead = matrix
        }
    }

    /// `dW(out, in) += dyᵀ(out, rows) · x(rows, in)` for a projection that trains in full.
    func weightGradient(
        _ layer: Int, _ projection: LlamaProjection, _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int
    ) {
        guard !trainableWeights.isEmpty,
            let w = trainableWeights[.projection(ProjectionKey(layer: layer, projection: projection))]
        else { return }
        let (outFeatures, inFeatures) = (w.value.shape[0], w.value.shape[1])
        Gemm.sgemm(
            transA: true, transB: false, m: outFeatures, n: inFeatures, k: rows, alpha: 1, a: dy, lda: outFeatures,
            b: x, ldb: inFeatures, beta: 1, c: w.gradient.pointer, ldc: inFeatures)
    }
}

extension LlamaModel {
    /// A model with other layer weights and everything else shared, replaced modules included
    /// (their loaded weights stay their base).
    public func replacingLayers(_ layers: [LlamaLayer]) -> LlamaModel {
        let copy = LlamaModel(
            configuration: configuration, embedTokens: embedTokens, layers: layers, norm: norm, lmHead: lmHead)
        copy.originalWeights = originalWeights
        return copy
    }
}
