import Foundation
import Kernels
import Testing

/// Norms, RoPE, attention and activations against their definitions.
@Suite struct OpsTests {
    @Test func rmsNormMatchesDefinition() {
        let dim = 77
        let rows = 3
        let x = GemmTests.random(rows * dim, seed: 1)
        let w = GemmTests.random(dim, seed: 2).map { 1 + $0 / 4 }
        var y = [Float](repeating: 0, count: rows * dim)
        RMSNorm.forward(x, weight: w, rows: rows, dim: dim, eps: 1e-5, into: &y)
        for r in 0..<rows {
            let want = RMSNorm.forwardNaive(Array(x[r * dim..<(r + 1) * dim]), weight: w, eps: 1e-5)
            for j in 0..<dim { #expect(abs(y[r * dim + j] - want[j]) < 1e-6) }
        }
    }

    @Test func ropeRotatesHalvesByPositionTimesFrequency() {
        let d = 16
        let heads = 3
        let positions = [0, 1, 7, 300]
        let rope = RoPE(headDim: d, theta: 10000)
        let x = GemmTests.random(positions.count * heads * d, seed: 3)
        var y = x
        rope.apply(&y, rows: positions.count, heads: heads, positions: positions)
        for (r, p) in positions.enumerated() {
            for h in 0..<heads {
                for i in 0..<(d / 2) {
                    let angle = Double(p) / pow(10000, Double(2 * i) / Double(d))
                    let a = Double(x[(r * heads + h) * d + i])
                    let b = Double(x[(r * heads + h) * d + i + d / 2])
                    #expect(abs(Double(y[(r * heads + h) * d + i]) - (a * cos(angle) - b * sin(angle))) < 2e-4)
                    #expect(abs(Double(y[(r * heads + h) * d + i + d / 2]) - (b * cos(angle) + a * sin(angle))) < 2e-4)
                }
            }
        }
    }

    @Test func llama3ScalingKeepsHighAndDividesLowFrequencies() {
        let plain = RoPE(headDim: 64, theta: 500_000)
        let scaled = RoPE(
            headDim: 64, theta: 500_000,
            scaling: .llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192))
        // Wavelength 2π/f below 8192/4 keeps f; above 8192/1 divides by 8; between, interpolates.
        for (f, g) in zip(plain.inverseFrequencies, scaled.inverseFrequencies) {
            let wavelength = 2 * Float.pi / f
            if wavelength < 2048 {
                #expect(g == f)
            } else if wavelength > 8192 {
                #expect(abs(g - f / 8) <= f * 1e-6)
            } else {
                #expect(g < f && g > f / 8)
            }
        }
    }

    @Test(arguments: [(4, 2, 5, 0), (4, 4, 1, 6), (6, 2, 7, 3), (2, 1, 1, 0)])
    func attentionMatchesDefinition(heads: Int, kvHeads: Int, queries: Int, offset: Int) {
        let d = 16
        let keys = offset + queries
        let q = GemmTests.random(queries * heads * d, seed: 11)
        let k = GemmTests.random(keys * kvHeads * d, seed: 12)
        let v = GemmTests.random(keys * kvHeads * d, seed: 13)
        for mask in [nil, (0..<keys).map { UInt8($0 % 3 == 1 ? 0 : 1) }] {
            var out = [Float](repeating: 0, count: queries * heads * d)
            if let mask {
                Attention.forward(
                    out: &out, q: q, queries: queries, keys: k, values: v, keyCount: keys, queryOffset: offset,
                    heads: heads,
                    kvHeads: kvHeads, headDim: d, keyMask: mask)
            } else {
                Attention.forward(
                    out: &out, q: q, queries: queries, keys: k, values: v, keyCount: keys, queryOffset: offset,
                    heads: heads,
                    kvHeads: kvHeads, headDim: d, parallel: { n, body in ThreadPool.shared.parallelFor(n, body) })
            }
            let want = Attention.forwardNaive(
                q: q, queries: queries, keys: k, values: v, keyCount: keys, queryOffset: offset, heads: heads,
                kvHeads: kvHeads, headDim: d, keyMask: mask)
            for i in out.indices { #expect(abs(out[i] - want[i]) < 1e-5) }
            #expect(out.allSatisfy { $0.isFinite })
        }
    }

    @Test func fullyMaskedQueryGivesZeros() {
        let q = [Float](repeating: 1, count: 4)
        let k = [Float](repeating: 1, count: 8)
        var out = [Float](repeating: 9, count: 4)
        Attention.forward(
            out: &out, q: q, queries: 1, keys: k, values: k, keyCount: 2, queryOffset: 1, heads: 1, kvHeads: 1,
            headDim: 4,
            keyMask: [0, 0])
        #expect(out == [0, 0, 0, 0])
    }

    @Test func activationsAndReductions() {
        let g: [Float] = [-3, -0.5, 0, 0.5, 4]
        let u: [Float] = [1, 2, 3, 4, 5]
        var out = [Float](repeating: 0, count: 5)
        Activations.siluMul(gate: g, up: u, count: 5, into: &out)
        for i in 0..<5 { #expect(abs(Double(out[i]) - Double(g[i]) / (1 + exp(-Double(g[i]))) * Double(u[i])) < 1e-6) }
        var s: [Float] = [1, 2, 3, -Float.infinity]
        Activations.softmax(&s, rows: 1, cols: 4)
        #expect(abs(s.reduce(0, +) - 1) < 1e-6 && s[3] == 0 && s[2] > s[1])
        var l: [Float] = [1, 2, 3]
        Activations.logSoftmax(&l, rows: 1, cols: 3)
        #expect(abs(l.map { exp($0) }.reduce(0, +) - 1) < 1e-6)
        let x: [Float] = [0.5, 3, -1, 3, 2]
        #expect(Reductions.argmax(x, count: 5) == 1)
        #expect(Reductions.topK(x, count: 5, k: 3).map(\.index) == [1, 3, 4])
    }

    @Test func embeddingDequantizesRows() {
        let (table, exact) = GemmTests.weight(.q8_0, rows: 10, columns: 64, seed: 4)
        var out = [Float](repeating: 0, count: 2 * 64)
        Embedding.forward(ids: [7, 2], table: table, into: &out)
        #expect(Array(out[0..<64]) == Array(exact[7 * 64..<8 * 64]))
        #expect(Array(out[64..<128]) == Array(exact[2 * 64..<3 * 64]))
    }
}
