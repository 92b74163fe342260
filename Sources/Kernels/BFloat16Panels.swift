import CKernels

/// A frozen weight packed once as the bf16 pair kernel's B operand, both ways it is used: for
/// the forward `x · Wᵀ` and for the data gradient `dy · W`.
///
/// With `.bfloat16` precision on the pair kernel, ``Gemm/linear(_:rows:weight:into:accumulate:precision:)``
/// and ``Gemm/linearBackwardData(_:rows:weight:into:accumulate:precision:)`` read a weight's
/// ``WeightMatrix/bf16Panels`` instead of packing W again on every call (training runs each
/// sequence of a batch on its own, so each weight would be packed twice per sequence). The
/// panels hold the bits the per-call packing gives, so results are the same. Two bf16 copies
/// of W take as much memory as one float32 copy.
public final class BFloat16Panels: @unchecked Sendable {
    let forward: UnsafeMutablePointer<UInt32>
    let backward: UnsafeMutablePointer<UInt32>
    /// Bytes held by both packings.
    public let byteCount: Int

    /// Packs `weight` (any format) both ways.
    public init(_ weight: WeightMatrix) {
        let (n, k) = (weight.rows, weight.columns)
        forward = Gemm.packPairPanels(n: n, k: k) { j0, k0, cols, depth, dst in
            Gemm.packWeightRows(weight, j0: j0, k0: k0, cols: cols, depth: depth, pairs: true, into: dst)
        }
        backward = Gemm.packPairPanels(n: k, k: n) { j0, k0, cols, depth, dst in
            Gemm.packWeightColumns(weight, j0: j0, k0: k0, cols: cols, depth: depth, pairs: true, into: dst)
        }
        byteCount = 4 * (Gemm.pairPanelWords(n: n, k: k) + Gemm.pairPanelWords(n: k, k: n))
    }

    deinit {
        forward.deallocate()
        backward.deallocate()
    }
}

extension Gemm {
    /// Words of B `(k, n)` as pair panels: for each K block (``depthBlock(_:)``), every NR-column
    /// panel of it, `[(depth+1)/2][NR]`.
    static func pairPanelWords(n: Int, k: Int) -> Int {
        guard n > 0, k > 0 else { return 0 }
        let kBlock = depthBlock(k)
        let steps = k / kBlock * ((kBlock + 1) / 2) + (k % kBlock + 1) / 2
        return steps * ((n + nr - 1) / nr) * nr
    }

    /// Where the panel of column `j0` (a multiple of NR) in the K block starting at `k0` begins.
    static func pairPanelOffset(n: Int, k: Int, j0: Int, k0: Int) -> Int {
        let kBlock = depthBlock(k)
        let panels = (n + nr - 1) / nr
        let whole = k0 / kBlock
        let depth = min(kBlock, k - whole * kBlock)
        return (whole * ((kBlock + 1) / 2) * panels + j0 / nr * ((depth + 1) / 2)) * nr
    }

    /// `c(m, n) (+)= a(m, k) · B` on the bf16 pair kernel, B read from its pair panels.
    static func pairProduct(
        _ a: UnsafePointer<Float>, m: Int, n: Int, k: Int, panels: UnsafePointer<UInt32>,
        into c: UnsafeMutablePointer<Float>, accumulate: Bool
    ) {
        run(m: m, n: n, k: k, alpha: 1, accumulate: accumulate, c: c, ldc: n, precision: .bfloat16, packedB: panels) {
            i0, k0, rows, depth, dst in
            packA(a, rowStride: k, colStride: 1, i0: i0, k0: k0, rows: rows, depth: depth, alpha: 1, into: dst)
        } packB: { _, _, _, _, _ in
            preconditionFailure("B is packed")
        }
    }

    /// All of B as pair panels (see ``pairPanelOffset(n:k:j0:k0:)``), each NC-column piece of a
    /// K block written in place by `packB` (which writes pair panels), on the thread pool.
    static func packPairPanels(n: Int, k: Int, packB: PackB) -> UnsafeMutablePointer<UInt32> {
        let out = UnsafeMutablePointer<UInt32>.allocate(capacity: max(1, pairPanelWords(n: n, k: k)))
        guard n > 0, k > 0 else { return out }
        let kBlock = depthBlock(k)
        let kBlocks = (k + kBlock - 1) / kBlock
        let pieces = (n + nc - 1) / nc
        ThreadPool.shared.parallelFor(kBlocks * pieces) { item in
            let k0 = item / pieces * kBlock
            let j0 = item % pieces * nc
            let dst = UnsafeMutableRawPointer(out + pairPanelOffset(n: n, k: k, j0: j0, k0: k0))
            packB(j0, k0, min(nc, n - j0), min(kBlock, k - k0), dst.assumingMemoryBound(to: Float.self))
        }
        return out
    }
}
