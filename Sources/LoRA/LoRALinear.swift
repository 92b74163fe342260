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
    /// The scaled keep-mask of the last training forward, `(rows, in)`, which backward reuses.
    var lastMask: [Float]?

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
            // Inverted dropout (torch.nn.Dropout): keep with probability 1−p, scale kept values by 1/(1−p).
            let keep = 1 / (1 - dropout)
            var mask = [Float](repeating: 0, count: rows * inFeatures)
            for i in mask.indices { mask[i] = nextUnit() >= dropout ? keep : 0 }
            lastMask = mask
            let dropped = zip(UnsafeBufferPointer(start: x, count: rows * inFeatures), mask).map { $0 * $1 }
            dropped.withUnsafeBufferPointer { applyUndropped($0.baseAddress!, rows: rows, accumulateInto: out) }
            return
        }
        lastMask = nil
        applyUndropped(x, rows: rows, accumulateInto: out)
    }

    func applyUndropped(_ x: UnsafePointer<Float>, rows: Int, accumulateInto out: UnsafeMutablePointer<Float>) {
        let t = Tensor(zeros: [rows, rank])  // (rows, r) = x Aᵀ
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: rank, k: inFeatures, alpha: 1, a: x, lda: inFeatures, b: a.pointer,
            ldb: inFeatures, beta: 0, c: t.pointer, ldc: rank)
        // out += s · t Bᵀ
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: outFeatures, k: rank, alpha: scale, a: t.pointer, lda: rank,
            b: b.pointer, ldb: rank, beta: 1, c: out, ldc: outFeatures)
    }

    /// A uniform Float in [0, 1) from the dropout generator.
    func nextUnit() -> Float {
        var random = SplitMix64(seed: randomState)
        defer { randomState = random.state }
        return random.unit()
    }

    /// For `Δ = s·B(A x)` with `t = A x`: `dB += s·dyᵀ t`, `dt = s·dy B`, `dA += dtᵀ x`, `dx += dt A`.
    public func backward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
        accumulateInputGradient dx: UnsafeMutablePointer<Float>
    ) {
        if let mask = lastMask, mask.count == rows * inFeatures {
            // Through dropout: the adapter saw x ⊙ mask, and its input gradient is masked the same way.
            let dropped = zip(UnsafeBufferPointer(start: x, count: rows * inFeatures), mask).map { $0 * $1 }
            var dxd = [Float](repeating: 0, count: rows * inFeatures)
            dropped.withUnsafeBufferPointer { xd in
                dxd.withUnsafeMutableBufferPointer {
                    backwardUndropped(dy, x: xd.baseAddress!, rows: rows, into: $0.baseAddress!)
                }
            }
            for i in 0..<(rows * inFeatures) { dx[i] += dxd[i] * mask[i] }
            return
        }
        backwardUndropped(dy, x: x, rows: rows, into: dx)
    }

    func backwardUndropped(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int, into dx: UnsafeMutablePointer<Float>
    ) {
        let t = Tensor(zeros: [rows, rank])  // (rows, r)
        Gemm.sgemm(
            transA: false, transB: true, m: rows, n: rank, k: inFeatures, alpha: 1, a: x, lda: inFeatures, b: a.pointer,
            ldb: inFeatures, beta: 0, c: t.pointer, ldc: rank)
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
