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
        for i in 0..<count {
            let g = gate[i]
            out[i] = g / (1 + expf(-g)) * up[i]
        }
    }

    /// Softmax of each row of `x(rows, cols)` in place, with the row maximum subtracted first.
    /// A row of all -inf becomes all zeros.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        for r in 0..<rows {
            let row = x + r * cols
            var top = -Float.infinity
            for j in 0..<cols where row[j] > top { top = row[j] }
            if top == -Float.infinity {
                row.update(repeating: 0, count: cols)
                continue
            }
            var sum: Float = 0
            for j in 0..<cols {
                let e = expf(row[j] - top)
                row[j] = e
                sum += e
            }
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
