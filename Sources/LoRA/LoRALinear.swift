import Kernels
import Models

/// One LoRA pair on one projection: `Δ(x) = s · B (A x)` (Hu et al. 2021), with `A (r, in)`,
/// `B (out, r)` and `s` = weight × alpha / r (or alpha / √r with rsLoRA).
public final class LoRALinear: LinearAdapter, @unchecked Sendable {
    public let a: Tensor  // (r, in)
    public let b: Tensor  // (out, r)
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int
    /// The scaling applied to `B A x` (already multiplied by any combination weight).
    public let scale: Float

    public init(a: Tensor, b: Tensor, scale: Float) {
        self.a = a
        self.b = b
        rank = a.shape[0]
        inFeatures = a.shape[1]
        outFeatures = b.shape[0]
        self.scale = scale
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, accumulateInto out: UnsafeMutablePointer<Float>) {
        let t = Tensor(zeros: [rows, rank])  // (rows, r) = x Aᵀ
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: rank, k: inFeatures, alpha: 1, a: x, lda: inFeatures, b: a.pointer,
            ldb: inFeatures, beta: 0, c: t.pointer, ldc: rank)
        // out += s · t Bᵀ
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: outFeatures, k: rank, alpha: scale, a: t.pointer, lda: rank,
            b: b.pointer, ldb: rank, beta: 1, c: out, ldc: outFeatures)
    }
}
