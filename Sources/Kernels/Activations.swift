import CKernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Elementwise activations and row-wise softmax.
public enum Activations {
    /// SwiGLU's gate: `out = silu(gate) · up` with `silu(x) = x / (1 + e^(-x))`; `out` may alias `gate`.
    public static func siluMul(
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>
    ) {
        ck_silu_mul(Gemm.activePath.rawValue, gate, up, out, count)
    }

    /// Softmax of each row of `x(rows, cols)` in place, with the row maximum subtracted first.
    /// A row of all -inf becomes all zeros.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        let path = Gemm.activePath.rawValue
        for r in 0..<rows {
            let row = x + r * cols
            var top = -Float.infinity
            for j in 0..<cols where row[j] > top { top = row[j] }
            if top == -Float.infinity {
                row.update(repeating: 0, count: cols)
                continue
            }
            let sum = ck_exp_shifted(path, row, top, row, cols)
            let inv = 1 / sum
            for j in 0..<cols { row[j] *= inv }
        }
    }

    /// Log-softmax of each row in place (max-subtracted, sum in Double).
    public static func logSoftmax(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = x + r * cols
            var top = -Float.infinity
            for j in 0..<cols where row[j] > top { top = row[j] }
            var sum: Double = 0
            for j in 0..<cols { sum += Double(expf(row[j] - top)) }
            let shift = top + Float(log(sum))
            for j in 0..<cols { row[j] -= shift }
        }
    }
}

/// Row lookups of an embedding table in any format.
public enum Embedding {
    /// `out(ids.count, table.columns)`: row `i` is the dequantized row `ids[i]` of `table`.
    public static func forward(ids: [Int], table: WeightMatrix, into out: UnsafeMutablePointer<Float>) {
        for (i, id) in ids.enumerated() {
            table.format.dequantizeRow(table.row(id), into: out + i * table.columns, count: table.columns)
        }
    }
}

/// Reductions over a row of logits.
public enum Reductions {
    /// The index of the largest value; the first on ties (as `torch.argmax`).
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        for i in 1..<max(count, 1) where x[i] > x[best] { best = i }
        return best
    }

    /// The `k` largest values with their indices, largest first (ties: lower index first).
    public static func topK(_ x: UnsafePointer<Float>, count: Int, k: Int) -> [(index: Int, value: Float)] {
        let indices = (0..<count).sorted { x[$0] > x[$1] || (x[$0] == x[$1] && $0 < $1) }
        return indices.prefix(k).map { ($0, x[$0]) }
    }
}

extension Activations {
    /// Gradients of `out = silu(gate)·up`: `dgate = dout·up·σ(g)(1 + g(1−σ(g)))`, `dup = dout·silu(g)`.
    public static func siluMulBackward(
        _ dout: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int,
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>
    ) {
        ck_silu_mul_backward(Gemm.activePath.rawValue, dout, gate, up, dgate, dup, count)
    }
}

/// Mean cross-entropy of next-token prediction over labelled positions, as transformers'
/// causal-LM loss: logits at row `t` predict `labels[t + 1]`; a label of -100 is ignored.
public enum CrossEntropy {
    /// Returns the loss and writes `dlogits` = ∂loss/∂logits (zero at unlabelled rows). Row `t`
    /// of `logits` predicts `labels[t + 1]` (a causal LM's shift, as transformers computes it).
    public static func forwardBackward(
        logits: UnsafePointer<Float>, labels: [Int], vocab: Int, dlogits: UnsafeMutablePointer<Float>
    ) -> Float {
        let rows = labels.count
        let targets = (0..<rows).map { $0 + 1 < rows ? labels[$0 + 1] : -100 }
        return forwardBackward(logits: logits, targets: targets, vocab: vocab, dlogits: dlogits)
    }

    /// The mean loss over rows whose target is not -100 (row `i` of `logits` is scored against
    /// `targets[i]`), and `dlogits` = ∂loss/∂logits (zero at ignored rows). `dlogits` may be
    /// `logits` itself: each row is read before it is overwritten.
    public static func forwardBackward(
        logits: UnsafePointer<Float>, targets: [Int], vocab: Int, dlogits: UnsafeMutablePointer<Float>
    ) -> Float {
        let rows = targets.count
        let count = targets.filter { $0 != -100 }.count
        guard count > 0 else {
            dlogits.update(repeating: 0, count: rows * vocab)
            return 0
        }
        let path = Gemm.activePath.rawValue
        // Rows are independent: spread over the pool, each row's loss kept and summed in order.
        let losses = UnsafeMutablePointer<Double>.allocate(capacity: rows)
        defer { losses.deallocate() }
        losses.initialize(repeating: 0, count: rows)
        ThreadPool.shared.parallelRanges(rows, minimumPerThread: 4) { range in
            for t in range {
                let target = targets[t]
                if target == -100 {
                    (dlogits + t * vocab).update(repeating: 0, count: vocab)
                    continue
                }
                let row = logits + t * vocab
                var top = -Float.infinity
                for j in 0..<vocab where row[j] > top { top = row[j] }
                let scored = row[target]
                // The exponentials go straight into the gradient row, then become softmax / count.
                let d = dlogits + t * vocab
                let sum = Double(ck_exp_shifted(path, row, top, d, vocab))
                losses[t] = Double(top) + log(sum) - Double(scored)
                let factor = Float(1 / (sum * Double(count)))
                for j in 0..<vocab { d[j] *= factor }
                d[target] -= 1 / Float(count)
            }
        }
        var total: Double = 0
        for t in 0..<rows { total += losses[t] }
        return Float(total / Double(count))
    }
}
