import CKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Scaled dot-product attention with a causal mask and grouped-query heads (Ainslie et al. 2023).
public enum Attention {
    /// Attention of `queries` new positions over `keyCount` cached ones.
    ///
    /// - `q`: `(queries, heads, headDim)`; `keys`, `values`: `(keyCount, kvHeads, headDim)`;
    ///   `out`: `(queries, heads, headDim)`.
    /// - Query `t` sits at position `queryOffset + t` and sees keys `0 ... queryOffset + t`
    ///   (causal), except keys whose `keyMask` entry is 0 (padding). A query that sees no key
    ///   outputs zeros.
    /// - Head `h` reads key/value head `h / (heads / kvHeads)`. Scores are scaled by `1/√headDim`
    ///   and soft-maxed in float32.
    /// - `parallel(heads, body)` runs `body` for each head; pass the thread pool's `parallelFor`.
    public static func forward(
        out: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, queries: Int, keys: UnsafePointer<Float>,
        values: UnsafePointer<Float>, keyCount: Int, queryOffset: Int, heads: Int, kvHeads: Int, headDim: Int,
        keyMask: UnsafePointer<UInt8>? = nil,
        parallel: (Int, (Int) -> Void) -> Void = { n, body in for i in 0..<n { body(i) } }
    ) {
        let group = heads / kvHeads
        let qStride = heads * headDim
        let kvStride = kvHeads * headDim
        let scale = 1 / Float(headDim).squareRoot()
        let path = Gemm.activePath.rawValue
        parallel(heads) { h in
            let kvh = h / group
            let kBase = keys + kvh * headDim
            let vBase = values + kvh * headDim
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: queries * keyCount)
            defer { scores.deallocate() }
            if queries == 1 {
                // Decode: one row, done in C (scores, softmax and P·V without leaving the cache).
                let visible = min(keyCount, queryOffset + 1)
                ck_attention_row(
                    path, q + h * headDim, kBase, vBase, kvStride, Int32(visible), Int32(headDim), scale, keyMask,
                    scores,
                    out + h * headDim)
                return
            }
            // scores(queries, keyCount) = q_h · k_hᵀ
            Gemm.sgemm(
                transA: false, transB: true, m: queries, n: keyCount, k: headDim, alpha: 1, a: q + h * headDim,
                lda: qStride, b: kBase, ldb: kvStride, beta: 0, c: scores, ldc: keyCount)
            for t in 0..<queries {
                let row = scores + t * keyCount
                let visible = min(keyCount, queryOffset + t + 1)
                for j in 0..<keyCount {
                    let masked = j >= visible || (keyMask.map { $0[j] == 0 } ?? false)
                    row[j] = masked ? -Float.infinity : row[j] * scale
                }
            }
            Activations.softmax(scores, rows: queries, cols: keyCount)
            // out_h(queries, headDim) = P · v_h
            Gemm.sgemm(
                transA: false, transB: false, m: queries, n: headDim, k: keyCount, alpha: 1, a: scores, lda: keyCount,
                b: vBase, ldb: kvStride, beta: 0, c: out + h * headDim, ldc: qStride)
        }
    }

    /// The definition, one query and head at a time in Double, for tests.
    public static func forwardNaive(
        q: [Float], queries: Int, keys: [Float], values: [Float], keyCount: Int, queryOffset: Int, heads: Int,
        kvHeads: Int, headDim: Int, keyMask: [UInt8]? = nil
    ) -> [Float] {
        var out = [Float](repeating: 0, count: queries * heads * headDim)
        for t in 0..<queries {
            for h in 0..<heads {
                let kvh = h / (heads / kvHeads)
                var weights: [Double] = []
                var seen: [Int] = []
                for j in 0..<keyCount where j <= queryOffset + t && (keyMask?[j] ?? 1) != 0 {
                    var s = 0.0
                    for d in 0..<headDim {
                        s += Double(q[(t * heads + h) * headDim + d]) * Double(keys[(j * kvHeads + kvh) * headDim + d])
                    }
                    weights.append(s / Double(headDim).squareRoot())
                    seen.append(j)
                }
                guard let top = weights.max() else { continue }
                let e = weights.map { Foundation_exp($0 - top) }
                let total = e.reduce(0, +)
                for (w, j) in zip(e, seen) {
                    for d in 0..<headDim {
                        out[(t * heads + h) * headDim + d] += Float(
                            w / total * Double(values[(j * kvHeads + kvh) * headDim + d]))
                    }
                }
            }
        }
        return out
    }
}

@inline(__always) private func Foundation_exp(_ x: Double) -> Double { exp(x) }

extension Attention {
    /// Gradients of causal self-attention over `T` positions of one sequence (no cache): given
    /// `dout (T, heads, D)`, adds `dq (T, heads, D)`, `dk`, `dv (T, kvHeads, D)`. Recomputes the
    /// probabilities: `dV = Pᵀ dO`, `dP = dO Vᵀ`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`,
    /// `dQ = scale · dS K`, `dK = scale · dSᵀ Q`.
    public static func backward(
        _ dout: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        positions T: Int, heads: Int, kvHeads: Int, headDim D: Int, dq: UnsafeMutablePointer<Float>,
        dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>
    ) {
        let group = heads / kvHeads
        let qStride = heads * D
        let kvStride = kvHeads * D
        let scale = 1 / Float(D).squareRoot()
        let p = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
        let dp = UnsafeMutablePointer<Float>.allocate(capacity: T * T)
        defer {
            p.deallocate()
            dp.deallocate()
        }
        for h in 0..<heads {
            let kvh = h / group
            let qh = q + h * D
            let kh = k + kvh * D
            let vh = v + kvh * D
            let doh = dout + h * D
            Gemm.sgemm(
                transA: false, transB: true, m: T, n: T, k: D, alpha: scale, a: qh, lda: qStride, b: kh, ldb: kvStride,
                beta: 0, c: p, ldc: T)
            // Causal mask and softmax, rows spread over the pool.
            ThreadPool.shared.parallelRanges(T, minimumPerThread: 16) { rows in
                for t in rows where t + 1 < T {
                    (p + t * T + t + 1).update(repeating: -Float.infinity, count: T - t - 1)
                }
                Activations.softmax(p + rows.lowerBound * T, rows: rows.count, cols: T)
            }
            // dV_kvh += Pᵀ dO_h
            Gemm.sgemm(
                transA: true, transB: false, m: T, n: D, k: T, alpha: 1, a: p, lda: T, b: doh, ldb: qStride, beta: 1,
                c: dv + kvh * D, ldc: kvStride)
            // dP = dO Vᵀ
            Gemm.sgemm(
                transA: false, transB: true, m: T, n: T, k: D, alpha: 1, a: doh, lda: qStride, b: vh, ldb: kvStride,
                beta: 0, c: dp, ldc: T)
            ThreadPool.shared.parallelRanges(T, minimumPerThread: 16) { rows in
                for t in rows {
                    var s: Float = 0
                    for j in 0..<T { s += dp[t * T + j] * p[t * T + j] }
                    for j in 0..<T { dp[t * T + j] = p[t * T + j] * (dp[t * T + j] - s) }
                }
            }
            // dQ_h += scale · dS K ; dK_kvh += scale · dSᵀ Q
            Gemm.sgemm(
                transA: false, transB: false, m: T, n: D, k: T, alpha: scale, a: dp, lda: T, b: kh, ldb: kvStride,
                beta: 1,
                c: dq + h * D, ldc: qStride)
            Gemm.sgemm(
                transA: true, transB: false, m: T, n: D, k: T, alpha: scale, a: dp, lda: T, b: qh, ldb: qStride,
                beta: 1,
                c: dk + kvh * D, ldc: kvStride)
        }
    }
}
