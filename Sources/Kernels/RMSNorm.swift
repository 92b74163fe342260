/// Root-mean-square normalization (Zhang & Sennrich 2019), as Hugging Face's `LlamaRMSNorm`:
/// `y = w · x / sqrt(mean(x²) + eps)`.
public enum RMSNorm {
    /// `out(rows, dim)` from `x(rows, dim)`; `out` may alias `x`. The mean of squares is accumulated in Double.
    public static func forward(
        _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, dim: Int, eps: Float,
        into out: UnsafeMutablePointer<Float>
    ) {
        for r in 0..<rows {
            let xr = x + r * dim
            let yr = out + r * dim
            var sum: Double = 0
            for j in 0..<dim { sum += Double(xr[j]) * Double(xr[j]) }
            let scale = 1 / (Float(sum / Double(dim)) + eps).squareRoot()
            for j in 0..<dim { yr[j] = weight[j] * (xr[j] * scale) }
        }
    }

    /// The definition, element by element, for tests.
    public static func forwardNaive(_ x: [Float], weight: [Float], eps: Float) -> [Float] {
        let meanSquare = x.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(x.count)
        let scale = 1 / (Double(meanSquare) + Double(eps)).squareRoot()
        return zip(x, weight).map { Float(Double($1) * Double($0) * scale) }
    }
}

extension RMSNorm {
    /// Gradient of ``forward(_:weight:rows:dim:eps:into:)`` with respect to `x` (the weight is frozen):
    /// with `r = 1/√(mean(x²)+eps)`, `dx = r·(w⊙dy) − x·r³·mean(w⊙dy⊙x)`. Adds into `dx`.
    public static func backward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rows: Int, dim: Int,
        eps: Float,
        accumulateInto dx: UnsafeMutablePointer<Float>
    ) {
        for row in 0..<rows {
            let xr = x + row * dim
            let g = dy + row * dim
            let out = dx + row * dim
            var sum: Double = 0
            for j in 0..<dim { sum += Double(xr[j]) * Double(xr[j]) }
            let r = 1 / (sum / Double(dim) + Double(eps)).squareRoot()
            var dot: Double = 0
            for j in 0..<dim { dot += Double(weight[j]) * Double(g[j]) * Double(xr[j]) }
            let c = r * r * r * dot / Double(dim)
            for j in 0..<dim { out[j] += Float(r * Double(weight[j]) * Double(g[j]) - Double(xr[j]) * c) }
        }
    }
}
