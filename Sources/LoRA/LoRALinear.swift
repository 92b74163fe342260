import Kernels
import Models

/// One LoRA pair on one projection: `Δ(x) = s · B (A x)` (Hu et al. 2021), with `A (r, in)`,
/// `B (out, r)` and `s` = weight × alpha / r (or alpha / √r with rsLoRA).
public final class LoRALinear: DifferentiableAdapter, @unchecked Sendable {
    public let a: Tensor  // (r, in)
    public let b: Tensor  // (out, r)
    public let rank: Int
    public let inFeatures: Int
    public let outFeatures: Int
    /// The scaling applied to `B A x` (already multiplied by any combination weight).
    public let scale: Float

    /// LoRA dropout probability on the adapter's input, applied only while `training`.
    public var dropout: Float = 0
    /// Whether dropout is active (set by the trainer; inference never drops).
    public var training = false
    /// State of the dropout mask generator (SplitMix64), saved in checkpoints for exact resume.
    public var randomState: UInt64 = 0
    /// The keep-mask of the last training forward, `(rows, in)`, which backward reuses.
    var lastMask: DropoutMask?
    /// `A x` of the last training forward and the input it was computed from, which backward
    /// reuses instead of recomputing when it is given the same input.
    var lastProjection: (input: UnsafePointer<Float>, rows: Int, t: Tensor)?

    /// Accumulated gradients of `A` and `B` (same shapes).
    public let gradA: Tensor
    public let gradB: Tensor

    public init(a: Tensor, b: Tensor, scale: Float) {
        gradA = Tensor(zeros: a.shape)
        gradB = Tensor(zeros: b.shape)
        self.a = a
        self.b = b
        rank = a.shape[0]
        inFeatures = a.shape[1]
        outFeatures = b.shape[0]
        self.scale = scale
    }

    public func apply(_ x: UnsafePointer<Float>, rows: Int, accumulateInto out: UnsafeMutablePointer<Float>) {
        if training && dropout > 0 {
            var random = SplitMix64(seed: randomState)
            let mask = DropoutMask(count: rows * inFeatures, probability: dropout, random: &random)
            randomState = random.state
            lastMask = mask
            let dropped = Tensor(uninitialized: [rows, inFeatures])
            mask.apply(x, into: dropped.pointer)
            let t = applyUndropped(dropped.pointer, rows: rows, accumulateInto: out)
            lastProjection = (x, rows, t)
            return
        }
        lastMask = nil
        let t = applyUndropped(x, rows: rows, accumulateInto: out)
        lastProjection = training ? (x, rows, t) : nil
    }

    /// Adds `s · B (A x)` to `out` and returns `t = A x`, `(rows, r)`.
    @discardableResult
    func applyUndropped(_ x: UnsafePointer<Float>, rows: Int, accumulateInto out: UnsafeMutablePointer<Float>)
        -> Tensor
    {
        let t = Tensor(zeros: [rows, rank])  // (rows, r) = x Aᵀ
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: rank, k: inFeatures, alpha: 1, a: x, lda: inFeatures, b: a.pointer,
            ldb: inFeatures, beta: 0, c: t.pointer, ldc: rank)
        // out += s · t Bᵀ
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: outFeatures, k: rank, alpha: scale, a: t.pointer, lda: rank,
            b: b.pointer, ldb: rank, beta: 1, c: out, ldc: outFeatures)
        return t
    }

    /// For `Δ = s·B(A x)` with `t = A x`: `dB += s·dyᵀ t`, `dt = s·dy B`, `dA += dtᵀ x`, `dx += dt A`.
    public func backward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
        accumulateInputGradient dx: UnsafeMutablePointer<Float>
    ) {
        var saved: Tensor?
        if let last = lastProjection, last.input == x, last.rows == rows { saved = last.t }
        lastProjection = nil
        if let mask = lastMask, mask.count == rows * inFeatures {
            // Through dropout: the adapter saw x ⊙ mask, and its input gradient is masked the same way.
            let dropped = Tensor(uninitialized: [rows, inFeatures])
            mask.apply(x, into: dropped.pointer)
            let dxd = Tensor(zeros: [rows, inFeatures])
            backwardUndropped(dy, x: dropped.pointer, rows: rows, projection: saved, into: dxd.pointer)
            mask.accumulate(dxd.pointer, into: dx)
            return
        }
        backwardUndropped(dy, x: x, rows: rows, projection: saved, into: dx)
    }

    /// `projection` is `t = A x` when the forward kept it (else it is recomputed).
    func backwardUndropped(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, projection: Tensor?,
        into dx: UnsafeMutablePointer<Float>
    ) {
        let t: Tensor
        if let projection {
            t = projection
        } else {
            t = Tensor(zeros: [rows, rank])  // (rows, r)
            Gemm.sgemm(
                transA: false, transB: true, m: rows, n: rank, k: inFeatures, alpha: 1, a: x, lda: inFeatures,
                b: a.pointer, ldb: inFeatures, beta: 0, c: t.pointer, ldc: rank)
        }
        // dB(out, r) += s · dyᵀ(out, rows) t(rows, r)
        Gemm.sgemm(
            transA: true, transB: false, m: outFeatures, n: rank, k: rows, alpha: scale, a: dy, lda: outFeatures,
            b: t.pointer, ldb: rank, beta: 1, c: gradB.pointer, ldc: rank)
        let dt = Tensor(zeros: [rows, rank])  // (rows, r) = s · dy B
        Gemm.sgemm(
            transA: false, transB: false, m: rows, n: rank, k: outFeatures, alpha: scale, a: dy, lda: outFeatures,
            b: b.pointer, ldb: rank, beta: 0, c: dt.pointer, ldc: rank)
        // dA(r, in) += dtᵀ x
        Gemm.sgemm(
            transA: true, transB: false, m: rank, n: inFeatures, k: rows, alpha: 1, a: dt.pointer, lda: rank, b: x,
            ldb: inFeatures, beta: 1, c: gradA.pointer, ldc: inFeatures)
        // dx(rows, in) += dt A
        Gemm.sgemm(
            transA: false, transB: false, m: rows, n: inFeatures, k: rank, alpha: 1, a: dt.pointer, lda: rank,
            b: a.pointer, ldb: inFeatures, beta: 1, c: dx, ldc: inFeatures)
    }

    /// Sets the accumulated gradients to zero.
    public func zeroGradients() {
        gradA.pointer.update(repeating: 0, count: gradA.count)
        gradB.pointer.update(repeating: 0, count: gradB.count)
    }
}
