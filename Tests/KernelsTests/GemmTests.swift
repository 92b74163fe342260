import Kernels
import Testing

/// Every GEMM form against its naive reference, on odd sizes, with each micro-kernel path.
@Suite(.serialized) struct GemmTests {
    static func random(_ n: Int, seed: UInt64) -> [Float] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<n).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return Float(Int(state % 2001) - 1000) / 1000
        }
    }

    /// Largest error relative to the sum of |a·b| terms of each output (a bound on float32 rounding).
    static func check(_ got: [Float], _ want: [Double], scale: [Double], tolerance: Double = 1e-5) -> Double {
        var worst = 0.0
        for i in got.indices { worst = max(worst, abs(Double(got[i]) - want[i]) / max(scale[i], 1e-6)) }
        return worst
    }

    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (7, 7, 7), (33, 33, 33), (1, 577, 33), (37, 65, 300), (3, 100, 64), (13, 577, 512), (40, 64, 577),
        (260, 50, 70),
    ]

    static func sgemmReference(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: [Float], lda: Int, b: [Float], ldb: Int,
        beta: Float, c: [Float], ldc: Int
    ) -> ([Double], [Double]) {
        var out = [Double](repeating: 0, count: m * ldc)
        var scale = [Double](repeating: 0, count: m * ldc)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                var t = 0.0
                for p in 0..<k {
                    let x = Double(transA ? a[p * lda + i] : a[i * lda + p])
                    let y = Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                    s += x * y
                    t += abs(x * y)
                }
                out[i * ldc + j] = Double(alpha) * s + Double(beta) * Double(c[i * ldc + j])
                scale[i * ldc + j] = abs(Double(alpha)) * t + abs(Double(beta) * Double(c[i * ldc + j])) + 1e-3
            }
        }
        return (out, scale)
    }

    @Test(arguments: KernelPath.allCases)
    func sgemmAllFormsMatchTheReference(path: KernelPath) {
        Gemm.$forcedPath.withValue(path) { sgemmAllForms(path: path) }
    }

    func sgemmAllForms(path: KernelPath) {
        for (m, n, k) in Self.shapes {
            for (transA, transB) in [(false, false), (false, true), (true, false), (true, true)] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, -0.5)] {
                    let lda = (transA ? m : k) + 3
                    let ldb = (transB ? k : n) + 1
                    let ldc = n + 2
                    let a = Self.random((transA ? k : m) * lda, seed: UInt64(m * 31 + k))
                    let b = Self.random((transB ? n : k) * ldb, seed: UInt64(n * 17 + k))
                    var c = Self.random(m * ldc, seed: 99)
                    let (want, scale) = Self.sgemmReference(
                        transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                        beta: beta, c: c, ldc: ldc)
                    Gemm.sgemm(
                        transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                        beta: beta, c: &c, ldc: ldc)
                    // Only the m×n window changes; the padding columns keep their values.
                    var got: [Float] = []
                    var w: [Double] = []
                    var s: [Double] = []
                    for i in 0..<m {
                        for j in 0..<n {
                            got.append(c[i * ldc + j])
                            w.append(want[i * ldc + j])
                            s.append(scale[i * ldc + j])
                        }
                    }
                    let error = Self.check(got, w, scale: s)
                    #expect(error < 1e-5, "\(path) m=\(m) n=\(n) k=\(k) tA=\(transA) tB=\(transB): \(error)")
                }
            }
        }
    }

    /// A weight in `format` built from floats; also returns the dequantized floats it holds.
    static func weight(_ format: WeightFormat, rows: Int, columns: Int, seed: UInt64) -> (WeightMatrix, [Float]) {
        weight(format, values: random(rows * columns, seed: seed), rows: rows, columns: columns)
    }

    /// A weight in `format` holding `values` (rounded to the format); also returns the floats it holds.
    static func weight(_ format: WeightFormat, values: [Float], rows: Int, columns: Int) -> (WeightMatrix, [Float]) {
        let rowBytes = format.rowBytes(columns)
        let storage = ByteStorage(count: rows * rowBytes)
        var exact = [Float](repeating: 0, count: rows * columns)
        for r in 0..<rows {
            values.withUnsafeBufferPointer {
                format.quantizeRow($0.baseAddress! + r * columns, into: storage.pointer + r * rowBytes, count: columns)
            }
            exact.withUnsafeMutableBufferPointer {
                format.dequantizeRow(
                    storage.pointer + r * rowBytes, into: $0.baseAddress! + r * columns, count: columns)
            }
        }
        return (
            WeightMatrix(format: format, rows: rows, columns: columns, data: storage.pointer, owner: storage), exact
        )
    }

    @Test(arguments: WeightFormat.allCases)
    func linearAndBackwardDataReadEveryFormat(format: WeightFormat) {
        let block = format.blockElements
        for (m, n, k) in [(1, 37, 512), (3, 100, 256), (5, 33, 768), (37, 65, 512), (14, 600, 256), (250, 33, 1280)]
        where k % block == 0 {
            for path in KernelPath.allCases {
                Gemm.$forcedPath.withValue(path) { linearAndBackwardData(format, path: path, m: m, n: n, k: k) }
            }
        }
    }

    func linearAndBackwardData(_ format: WeightFormat, path: KernelPath, m: Int, n: Int, k: Int) {
        let (w, exact) = Self.weight(format, rows: n, columns: k, seed: UInt64(n + k))
        let x = Self.random(m * k, seed: 5)
        var y = [Float](repeating: 0.25, count: m * n)
        Gemm.linear(x, rows: m, weight: w, into: &y, accumulate: true)
        let (want, scale) = Self.sgemmReference(
            transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: x, lda: k, b: exact, ldb: k, beta: 1,
            c: [Float](repeating: 0.25, count: m * n), ldc: n)
        #expect(Self.check(y, want, scale: scale) < 1e-5, "linear \(format) \(path) m=\(m) n=\(n) k=\(k)")

        let dy = Self.random(m * n, seed: 6)
        var dx = [Float](repeating: 0, count: m * k)
        Gemm.linearBackwardData(dy, rows: m, weight: w, into: &dx)
        let (wantDx, scaleDx) = Self.sgemmReference(
            transA: false, transB: false, m: m, n: k, k: n, alpha: 1, a: dy, lda: n, b: exact, ldb: k, beta: 0,
            c: [Float](repeating: 0, count: m * k), ldc: k)
        #expect(
            Self.check(dx, wantDx, scale: scaleDx) < 1e-5, "backward \(format) \(path) m=\(m) n=\(n) k=\(k)")
    }

    @Test func threadPoolCoversEachIndexOnce() {
        let pool = ThreadPool.shared
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 1000)
        counts.initialize(repeating: 0, count: 1000)
        defer { counts.deallocate() }
        pool.parallelFor(1000) { i in
            counts[i] += 1
            pool.parallelFor(3) { _ in }  // nested calls run serially, without deadlock
        }
        #expect((0..<1000).allSatisfy { counts[$0] == 1 })
    }
}

final class ByteStorage: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(count: Int) { pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { pointer.deallocate() }
}
