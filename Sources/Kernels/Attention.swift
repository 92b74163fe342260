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
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, min(queries, causalBlock)) * keyCount)
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
            // Blocks of query rows, each against only the keys some row of it can see: causal
            // attention skips the keys past the block's last row.
            var r0 = 0
            while r0 < queries {
                let r1 = min(queries, r0 + causalBlock)
                let rows = r1 - r0
                let n = min(keyCount, queryOffset + r1)
                // scores(rows, n) = q_h · k_hᵀ
                Gemm.sgemm(
                    transA: false, transB: true, m: rows, n: n, k: headDim, alpha: 1, a: q + r0 * qStride + h * headDim,
                    lda: qStride, b: kBase, ldb: kvStride, beta: 0, c: scores, ldc: n)
                for t in 0..<rows {
                    let row = scores + t * n
                    let visible = min(n, queryOffset + r0 + t + 1)
                    for j in 0..<n {
                        let masked = j >= visible || (keyMask.map { $0[j] == 0 } ?? false)
                        row[j] = masked ? -Float.infinity : row[j] * scale
                    }
                }
                Activations.softmax(scores, rows: rows, cols: n)
                // out_h(rows, headDim) = P · v_h
                Gemm.sgemm(
                    transA: false, transB: false, m: rows, n: headDim, k: n, alpha: 1, a: scores, lda: n, b: vBase,
                    ldb: kvStride, beta: 0, c: out + r0 * qStride + h * headDim, ldc: qStride)
                r0 = r1
            }
        }
    }

    /// Query rows per block in the causal loops.
    static let causalBlock = 64

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
        // One task per (head, block of query rows), largest blocks first; each writes its rows of
        // dQ and its own dK, dV partials (rows 0 ..< the block's end), summed afterwards in a fixed
        // order so the result does not depend on which thread ran what.
        let blocks = (T + causalBlock - 1) / causalBlock
        let tasks = heads * blocks
        // A task's partials cover only the keys its block sees; they are laid end to end.
        func keys(_ task: Int) -> Int { min(T, (blocks - task / heads) * causalBlock) }
        var offsets = [Int](repeating: 0, count: tasks + 1)
        for task in 0..<tasks { offsets[task + 1] = offsets[task] + keys(task) * D }
        let dkPartial = UnsafeMutablePointer<Float>.allocate(capacity: offsets[tasks])
        let dvPartial = UnsafeMutablePointer<Float>.allocate(capacity: offsets[tasks])
        defer {
            dkPartial.deallocate()
            dvPartial.deallocate()
        }
        ThreadPool.shared.parallelFor(tasks) { task in
            let b = blocks - 1 - task / heads
            let h = task % heads
            let r0 = b * causalBlock
            let r1 = min(T, r0 + causalBlock)
            let rows = r1 - r0
            let n = r1  // keys 0 ..< r1 are visible to some row of the block (= keys(task))
            let kvh = h / group
            let qh = q + h * D
            let kh = k + kvh * D
            let vh = v + kvh * D
            let doh = dout + r0 * qStride + h * D
            let dkh = dkPartial + offsets[task]
            let dvh = dvPartial + offsets[task]
            let p = UnsafeMutablePointer<Float>.allocate(capacity: rows * n)
            let dp = UnsafeMutablePointer<Float>.allocate(capacity: rows * n)
            defer {
                p.deallocate()
                dp.deallocate()
            }
            Gemm.sgemm(
                transA: false, transB: true, m: rows, n: n, k: D, alpha: scale, a: qh + r0 * qStride, lda: qStride,
                b: kh, ldb: kvStride, beta: 0, c: p, ldc: n)
            for t in 0..<rows where r0 + t + 1 < n {
                (p + t * n + r0 + t + 1).update(repeating: -Float.infinity, count: n - r0 - t - 1)
            }
            Activations.softmax(p, rows: rows, cols: n)
            // dV (n, D) = Pᵀ dO
            Gemm.sgemm(
                transA: true, transB: false, m: n, n: D, k: rows, alpha: 1, a: p, lda: n, b: doh, ldb: qStride,
                beta: 0, c: dvh, ldc: D)
            // dP = dO Vᵀ, then dS = P ⊙ (dP − rowsum(dP ⊙ P))
            Gemm.sgemm(
                transA: false, transB: true, m: rows, n: n, k: D, alpha: 1, a: doh, lda: qStride, b: vh, ldb: kvStride,
                beta: 0, c: dp, ldc: n)
            for t in 0..<rows {
                let pr = p + t * n
                let dr = dp + t * n
                var s: Float = 0
                for j in 0..<n { s += dr[j] * pr[j] }
                for j in 0..<n { dr[j] = pr[j] * (dr[j] - s) }
            }
            // dQ rows += scale · dS K ; dK (n, D) = scale · dSᵀ Q
            Gemm.sgemm(
                transA: false, transB: false, m: rows, n: D, k: n, alpha: scale, a: dp, lda: n, b: kh, ldb: kvStride,
                beta: 1, c: dq + r0 * qStride + h * D, ldc: qStride)
            Gemm.sgemm(
                transA: true, transB: false, m: n, n: D, k: rows, alpha: scale, a: dp, lda: n, b: qh + r0 * qStride,
                ldb: qStride, beta: 0, c: dkh, ldc: D)
        }
        // Key rows are spread over the pool; each element still adds the tasks' partials in task order.
        ThreadPool.shared.parallelRanges(T, minimumPerThread: 16) { range in
            for task in 0..<tasks {
                let kvh = task % heads / group
                for t in range.clamped(to: 0..<keys(task)) {
                    let dkRow = dk + t * kvStride + kvh * D
                    let dvRow = dv + t * kvStride + kvh * D
                    let dkp = dkPartial + offsets[task] + t * D
                    let dvp = dvPartial + offsets[task] + t * D
                    for d in 0..<D {
                        dkRow[d] += dkp[d]
                        dvRow[d] += dvp[d]
                    }
                }
            }
        }
    }
}
