import Kernels

/// The model's calls into Kernels, in one place: projections with optional bias, norms,
/// attention on the shared thread pool.
enum Ops {
    /// out(rows, N) = x(rows, K) · Wᵀ (+ bias).
    static func linear(
        _ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, bias: [Float]?,
        into out: UnsafeMutablePointer<Float>, precision: GemmPrecision = .float32
    ) {
        Gemm.linear(x, rows: rows, weight: weight, into: out, precision: precision)
        guard let bias else { return }
        let n = weight.rows
        bias.withUnsafeBufferPointer { b in
            for r in 0..<rows {
                let row = out + r * n
                for j in 0..<n { row[j] += b[j] }
            }
        }
    }

    /// out(rows, N) += x(rows, K) · Wᵀ — a projection added onto the residual stream.
    static func linear(
        _ x: UnsafePointer<Float>, rows: Int, weight: WeightMatrix, accumulateInto out: UnsafeMutablePointer<Float>,
        precision: GemmPrecision = .float32
    ) {
        Gemm.linear(x, rows: rows, weight: weight, into: out, accumulate: true, precision: precision)
    }

    static func rmsNorm(
        _ x: UnsafePointer<Float>, rows: Int, dim: Int, weight: [Float], eps: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        weight.withUnsafeBufferPointer { w in
            ThreadPool.shared.parallelRanges(rows, minimumPerThread: 32) { r in
                RMSNorm.forward(
                    x + r.lowerBound * dim, weight: w.baseAddress!, rows: r.count, dim: dim, eps: eps,
                    into: out + r.lowerBound * dim)
            }
        }
    }

    static func embed(_ ids: [Int], table: WeightMatrix, into out: UnsafeMutablePointer<Float>) {
        Embedding.forward(ids: ids, table: table, into: out)
    }

    static func siluMul(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        ThreadPool.shared.parallelRanges(count, minimumPerThread: 16384) { r in
            Activations.siluMul(
                gate: gate + r.lowerBound, up: up + r.lowerBound, count: r.count, into: out + r.lowerBound)
        }
    }

    static func siluMulBackward(
        _ dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>
    ) {
        ThreadPool.shared.parallelRanges(count, minimumPerThread: 16384) { r in
            let o = r.lowerBound
            Activations.siluMulBackward(
                dout + o, gate: gate + o, up: up + o, count: r.count, dgate: dgate + o, dup: dup + o)
        }
    }

    /// RMSNorm's input gradient, rows spread over the pool; adds into `dx`.
    static func rmsNormBackward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: [Float], rows: Int, dim: Int, eps: Float,
        accumulateInto dx: UnsafeMutablePointer<Float>
    ) {
        weight.withUnsafeBufferPointer { w in
            ThreadPool.shared.parallelRanges(rows, minimumPerThread: 32) { r in
                let o = r.lowerBound * dim
                RMSNorm.backward(
                    dy + o, x: x + o, weight: w.baseAddress!, rows: r.count, dim: dim, eps: eps,
                    accumulateInto: dx + o)
            }
        }
    }

    // swift-format-ignore
    static func attention(
        out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, queries: Int, keys: UnsafePointer<Float>,
        values: UnsafePointer<Float>, keyCount: Int, queryOffset: Int, heads: Int, kvHeads: Int, headDim: Int
    ) {
        Attention.forward(
            out: out, q: q, queries: queries, keys: keys, values: values, keyCount: keyCount,
            queryOffset: queryOffset, heads: heads, kvHeads: kvHeads, headDim: headDim,
            parallel: { n, body in ThreadPool.shared.parallelFor(n, body) })
    }
}

extension LlamaModel {
    static func makeRoPE(_ c: LlamaConfiguration) -> RoPE {
        var scaling: RoPEScaling?
        if let s = c.ropeScaling {
            switch s.ropeType {
            case "llama3":
                scaling = .llama3(
                    factor: s.factor, lowFreqFactor: s.lowFreqFactor ?? 1, highFreqFactor: s.highFreqFactor ?? 4,
                    originalMaxPositions: s.originalMaxPositionEmbeddings ?? 8192)
            case "linear": scaling = .linear(factor: s.factor)
            default: scaling = nil  // rejected when the configuration is decoded
            }
        }
        return RoPE(headDim: c.headDim, theta: c.ropeTheta, scaling: scaling)
    }
}
