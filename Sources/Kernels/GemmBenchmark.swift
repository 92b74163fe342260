import Foundation

/// GEMM timing for `lora bench gemm` (a benchmark, never a test).
public enum GemmBenchmark {
    /// Median GFLOP/s over `repeats` runs of `C(m, n) = A(m, k) · B(k, n)` (as numpy's `a @ b`)
    /// for `.f32`, or of ``Gemm/linear(_:rows:weight:into:accumulate:)`` with a random `(n, k)`
    /// weight in `format` otherwise.
    public static func run(m: Int, n: Int, k: Int, format: WeightFormat, repeats: Int) -> Double {
        var generator = SystemRandomNumberGenerator()
        let a = Tensor((0..<(m * k)).map { _ in Float.random(in: -1...1, using: &generator) }, shape: [m, k])
        let c = Tensor(zeros: [m, n])
        let work: () -> Void
        var keep: AnyObject
        if format == .f32 {
            let b = Tensor((0..<(k * n)).map { _ in Float.random(in: -1...1, using: &generator) }, shape: [k, n])
            keep = b
            work = {
                Gemm.sgemm(
                    transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a.pointer, lda: k, b: b.pointer,
                    ldb: n,
                    beta: 0, c: c.pointer, ldc: n)
            }
        } else {
            let rowBytes = format.rowBytes(k)
            let bytes = UnsafeMutableRawPointer.allocate(byteCount: rowBytes * n, alignment: 64)
            let row = (0..<k).map { _ in Float.random(in: -1...1, using: &generator) }
            for j in 0..<n {
                row.withUnsafeBufferPointer {
                    format.quantizeRow($0.baseAddress!, into: bytes + j * rowBytes, count: k)
                }
            }
            let owner = RawOwner(bytes)
            keep = owner
            let w = WeightMatrix(format: format, rows: n, columns: k, data: bytes, owner: owner)
            work = { Gemm.linear(a.pointer, rows: m, weight: w, into: c.pointer) }
        }
        work()
        var times: [Double] = []
        for _ in 0..<max(repeats, 1) {
            let start = DispatchTime.now().uptimeNanoseconds
            work()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        withExtendedLifetime(keep) {}
        let median = times.sorted()[times.count / 2]
        return 2 * Double(m) * Double(n) * Double(k) / median / 1e9
    }
}

private final class RawOwner {
    let pointer: UnsafeMutableRawPointer
    init(_ p: UnsafeMutableRawPointer) { pointer = p }
    deinit { pointer.deallocate() }
}
