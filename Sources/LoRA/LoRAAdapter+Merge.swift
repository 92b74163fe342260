import Kernels
import Models

extension LoRAAdapter {
    /// A copy of `model` with this adapter merged in: each adapted projection becomes a float32
    /// matrix `W + weight·s·B A` computed from the dequantized base (exact in float32), each module
    /// to save its saved weight (`W + weight·(W_saved − W_base)`: the saved weight itself at
    /// weight 1); every other weight is shared with `model`, which is left as it was (unmerging is
    /// keeping the original). Re-quantizing the result is a separate, explicit step.
    public func merged(into model: LlamaModel, weight: Float = 1, source: String = "adapter") throws -> LlamaModel {
        let saved = try savedWeights(for: model, source: source)
        var layers = model.layers
        for (path, w) in modules.sorted(by: { $0.key < $1.key }) {
            guard let key = Self.projectionKey(path), key.layer < layers.count else {
                throw LoRAError.invalidConfig(source, "module '\(path)' is not a projection of this model")
            }
            let base = layers[key.layer][key.projection]
            let rank = w.a.shape[0]
            guard w.a.shape == [rank, base.columns], w.b.shape == [base.rows, rank] else {
                throw LoRAError.shapeMismatch(
                    source, key: Self.key(path, "A"), expected: [rank, base.columns], found: w.a.shape)
            }
            let merged = base.dequantized()
            let (configured, scale) = config.rankAndScale(for: path)
            guard configured == rank else {
                throw LoRAError.rankMismatch(source, key: Self.key(path, "A"), configured: configured, found: rank)
            }
            // W += (weight·s) · B A
            Gemm.sgemm(
                transA: false, transB: false, m: base.rows, n: base.columns, k: rank, alpha: scale * weight,
                a: w.b.pointer, lda: rank, b: w.a.pointer, ldb: base.columns, beta: 1, c: merged.pointer,
                ldc: base.columns)
            layers[key.layer][key.projection] = WeightMatrix(
                format: .f32, rows: base.rows, columns: base.columns, data: merged.pointer, owner: merged)
        }
        let result = model.replacingLayers(layers)
        applySavedModules(saved, to: result, weight: weight)
        return result
    }
}
