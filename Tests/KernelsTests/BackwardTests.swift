import Foundation
import Kernels
import Testing

/// Every backward pass against central finite differences of its forward pass on tiny shapes.
@Suite struct BackwardTests {
    /// Checks `analytic` (∂L/∂x with L = Σ forward(x)·probe) against (L(x+h) − L(x−h)) / 2h.
    static func check(
        _ x: [Float], analytic: [Float], h: Float = 1e-2, tolerance: Double = 2e-3, _ forward: ([Float]) -> [Float],
        probe: [Float]
    ) -> Double {
        func loss(_ v: [Float]) -> Double { zip(forward(v), probe).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } }
        var worst = 0.0
        for i in x.indices {
            var plus = x
            var minus = x
            plus[i] += h
            minus[i] -= h
            let numeric = (loss(plus) - loss(minus)) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(analytic[i])) / max(1, abs(numeric)))
        }
        return worst
    }

    @Test func rmsNorm() {
        let (rows, dim) = (2, 7)
        let x = GemmTests.random(rows * dim, seed: 21)
        let w = GemmTests.random(dim, seed: 22).map { 1 + $0 / 3 }
        let probe = GemmTests.random(rows * dim, seed: 23)
        var dx = [Float](repeating: 0, count: rows * dim)
        RMSNorm.backward(probe, x: x, weight: w, rows: rows, dim: dim, eps: 1e-5, accumulateInto: &dx)
        let error = Self.check(
            x, analytic: dx,
            { v in
                var y = [Float](repeating: 0, count: rows * dim)
                RMSNorm.forward(v, weight: w, rows: rows, dim: dim, eps: 1e-5, into: &y)
                return y
            }, probe: probe)
        #expect(error < 2e-3)
    }

    @Test func rope() {
        let rope = RoPE(headDim: 8, theta: 10000)
        let positions = [0, 3, 11]
        let x = GemmTests.random(3 * 2 * 8, seed: 31)
        let probe = GemmTests.random(x.count, seed: 32)
        var dx = probe
        rope.backward(&dx, rows: 3, heads: 2, positions: positions)
        let error = Self.check(
            x, analytic: dx,
            { v in
                var y = v
                rope.apply(&y, rows: 3, heads: 2, positions: positions)
                return y
            }, probe: probe)
        #expect(error < 2e-3)
    }

    @Test func siluMul() {
        let n = 9
        let g = GemmTests.random(n, seed: 41).map { $0 * 3 }
        let u = GemmTests.random(n, seed: 42)
        let probe = GemmTests.random(n, seed: 43)
        var dg = [Float](repeating: 0, count: n)
        var du = [Float](repeating: 0, count: n)
        Activations.siluMulBackward(probe, gate: g, up: u, count: n, dgate: &dg, dup: &du)
        func forward(_ gate: [Float], _ up: [Float]) -> [Float] {
            var y = [Float](repeating: 0, count: n)
            Activations.siluMul(gate: gate, up: up, count: n, into: &y)
            return y
        }
        #expect(Self.check(g, analytic: dg, { forward($0, u) }, probe: probe) < 2e-3)
        #expect(Self.check(u, analytic: du, { forward(g, $0) }, probe: probe) < 2e-3)
    }

    @Test func crossEntropy() {
        let (rows, vocab) = (4, 6)
        let logits = GemmTests.random(rows * vocab, seed: 51).map { $0 * 2 }
        let labels = [-100, 3, -100, 5]
        var d = [Float](repeating: 0, count: rows * vocab)
        _ = CrossEntropy.forwardBackward(logits: logits, labels: labels, vocab: vocab, dlogits: &d)
        var scratch = [Float](repeating: 0, count: rows * vocab)
        let error = Self.check(
            logits, analytic: d,
            { v in
                [CrossEntropy.forwardBackward(logits: v, labels: labels, vocab: vocab, dlogits: &scratch)]
            }, probe: [1])
        #expect(error < 2e-3)
        // Rows whose next label is ignored get no gradient.
        #expect(d[0..<vocab].allSatisfy { $0 == 0 } == false)  // row 0 predicts label[1] = 3
        #expect(d[vocab..<(2 * vocab)].allSatisfy { $0 == 0 })  // row 1 predicts label[2] = -100
    }

    /// The gradient written over the logits themselves (as training does, to keep one R × vocab
    /// buffer) is the gradient written beside them, bit for bit, and so is the loss.
    @Test func crossEntropyInPlace() {
        let (rows, vocab) = (5, 37)
        let logits = GemmTests.random(rows * vocab, seed: 52).map { $0 * 3 }
        let targets = [4, -100, 36, 0, 17]
        var apart = [Float](repeating: 0, count: rows * vocab)
        let loss = CrossEntropy.forwardBackward(logits: logits, targets: targets, vocab: vocab, dlogits: &apart)
        let inPlace = Tensor(logits, shape: [rows, vocab])
        let lossInPlace = CrossEntropy.forwardBackward(
            logits: inPlace.pointer, targets: targets, vocab: vocab, dlogits: inPlace.pointer)
        #expect(lossInPlace == loss)
        #expect(inPlace.toArray() == apart)
    }

    /// One block of query rows, and three (the last partial), whose per-task key ranges differ.
    @Test(arguments: [5, 150]) func attentionWithGroupedHeads(T: Int) {
        let (heads, kvHeads, D) = (4, 2, 4)
        let q = GemmTests.random(T * heads * D, seed: 61)
        let k = GemmTests.random(T * kvHeads * D, seed: 62)
        let v = GemmTests.random(T * kvHeads * D, seed: 63)
        let probe = GemmTests.random(T * heads * D, seed: 64)
        var dq = [Float](repeating: 0, count: q.count)
        var dk = [Float](repeating: 0, count: k.count)
        var dv = [Float](repeating: 0, count: v.count)
        Attention.backward(
            probe, q: q, k: k, v: v, positions: T, heads: heads, kvHeads: kvHeads, headDim: D, dq: &dq, dk: &dk, dv: &dv
        )
        func forward(_ q: [Float], _ k: [Float], _ v: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: T * heads * D)
            Attention.forward(
                out: &out, q: q, queries: T, keys: k, values: v, keyCount: T, queryOffset: 0, heads: heads,
                kvHeads: kvHeads,
                headDim: D)
            return out
        }
        #expect(Self.check(q, analytic: dq, { forward($0, k, v) }, probe: probe) < 2e-3)
        #expect(Self.check(k, analytic: dk, { forward(q, $0, v) }, probe: probe) < 2e-3)
        #expect(Self.check(v, analytic: dv, { forward(q, k, $0) }, probe: probe) < 2e-3)
    }
}
