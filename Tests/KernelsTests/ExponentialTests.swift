import Foundation
import Kernels
import Testing

/// The vectorized exponentials (softmax, cross-entropy, SwiGLU) against Double arithmetic, on
/// every micro-kernel path, with lengths that leave a scalar tail.
@Suite struct ExponentialTests {
    /// Inputs from deep underflow to near overflow, with the special values softmax meets.
    static let inputs: [Float] =
        (0..<997).map { -95 + 185 * Float($0) / 996 } + [-Float.infinity, 0, -0.0, 1e-20, -1e-20, 88.7]

    @Test(arguments: KernelPath.allCases)
    func softmaxRowsMatchDouble(path: KernelPath) {
        let cols = 203
        let rows = 3
        var x = (0..<(rows * cols)).map { i in Float(i % 37) * 0.7 - 12 + Float(i / cols) }
        x[5] = -Float.infinity
        x[cols + 9] = -Float.infinity
        let reference = x
        Gemm.$forcedPath.withValue(path) { Activations.softmax(&x, rows: rows, cols: cols) }
        for r in 0..<rows {
            let row = reference[(r * cols)..<((r + 1) * cols)].map(Double.init)
            let top = row.max()!
            let total = row.map { exp($0 - top) }.reduce(0, +)
            for j in 0..<cols {
                let want = exp(row[j] - top) / total
                #expect(abs(Double(x[r * cols + j]) - want) <= 4e-6 * want + 1e-12, "row \(r) col \(j)")
            }
        }
        #expect(x[5] == 0 && x[cols + 9] == 0)
    }

    @Test(arguments: KernelPath.allCases)
    func siluAndItsGradient(path: KernelPath) {
        let g = Self.inputs.map { max(min($0, 40), -40) }
        let n = g.count
        let up = (0..<n).map { Float($0 % 11) - 5 }
        let dout = (0..<n).map { Float($0 % 7) * 0.25 - 0.75 }
        var out = [Float](repeating: 0, count: n)
        var dgate = out
        var dup = out
        Gemm.$forcedPath.withValue(path) {
            Activations.siluMul(gate: g, up: up, count: n, into: &out)
            Activations.siluMulBackward(dout, gate: g, up: up, count: n, dgate: &dgate, dup: &dup)
        }
        for i in 0..<n {
            let x = Double(g[i])
            let sigma = 1 / (1 + exp(-x))
            let close = { (got: Float, want: Double) in abs(Double(got) - want) <= 1e-6 * abs(want) + 1e-30 }
            #expect(close(out[i], x * sigma * Double(up[i])), "silu at \(x)")
            #expect(close(dup[i], Double(dout[i]) * x * sigma), "dup at \(x)")
            let slope = sigma * (1 + x * (1 - sigma))
            #expect(
                abs(Double(dgate[i]) - Double(dout[i]) * Double(up[i]) * slope) <= 1e-5 * abs(Double(dout[i] * up[i]))
                    + 1e-30, "dgate at \(x)")
        }
    }

    @Test(arguments: KernelPath.allCases)
    func crossEntropyOverALargeVocabulary(path: KernelPath) {
        let vocab = 1001
        let labels = [-100, 7, 1000, -100, 0]
        let logits = (0..<(labels.count * vocab)).map { i in Float((i * 7919) % 1009) / 50 - 10 }
        var d = [Float](repeating: 0, count: logits.count)
        let loss = Gemm.$forcedPath.withValue(path) {
            CrossEntropy.forwardBackward(logits: logits, labels: labels, vocab: vocab, dlogits: &d)
        }
        var want = 0.0
        var count = 0
        for t in 0..<(labels.count - 1) where labels[t + 1] != -100 {
            let row = logits[(t * vocab)..<((t + 1) * vocab)].map(Double.init)
            let top = row.max()!
            let logZ = top + log(row.map { exp($0 - top) }.reduce(0, +))
            want += logZ - row[labels[t + 1]]
            count += 1
            for j in 0..<vocab {
                let g = (exp(row[j] - logZ) - (j == labels[t + 1] ? 1 : 0)) / 3
                #expect(abs(Double(d[t * vocab + j]) - g) <= 1e-6 * abs(g) + 1e-9)
            }
        }
        #expect(abs(Double(loss) - want / Double(count)) < 1e-5)
    }
}
