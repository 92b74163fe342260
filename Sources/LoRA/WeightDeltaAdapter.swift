import Kernels
import Models

/// A module to save served as a per-request adapter on a projection: `Δ(x) = (W_saved − W_base)·x`
/// scaled by the adapter's weight, added to the base GEMM's output. In float32 this equals
/// `W_saved·x` up to rounding (the difference is formed first, then multiplied: a few ulps of
/// the output, measured in the tests), and rows of other adapters keep the base weight.
public final class WeightDeltaAdapter: LinearAdapter, @unchecked Sendable {
    public let delta: Tensor  // (out, in)

    public init(saved: Tensor, base: WeightMatrix, weight: Float) {
        delta = base.dequantized()
        let (d, s) = (delta.pointer, saved.pointer)
        for i in 0..<delta.count { d[i] = weight * (s[i] - d[i]) }
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, accumulateInto out: UnsafeMutablePointer<Float>) {
        let (outFeatures, inFeatures) = (delta.shape[0], delta.shape[1])
        // out(rows, out) += x(rows, in) · Δᵀ
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: outFeatures, k: inFeatures, alpha: 1, a: x, lda: inFeatures,
            b: delta.pointer, ldb: inFeatures, beta: 1, c: out, ldc: outFeatures)
    }
}
