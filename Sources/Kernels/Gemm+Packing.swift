import CKernels

extension Gemm {
    /// Packs A from strided storage: element `(i, k)` at `a[i·rowStride + k·colStride]`, times alpha.
    static func packA(
        _ a: UnsafePointer<Float>, rowStride: Int, colStride: Int, i0: Int, k0: Int, rows: Int, depth: Int,
        alpha: Float, into dst: UnsafeMutablePointer<Float>
    ) {
        var p = 0
        while p * mr < rows {
            let panel = dst + p * depth * mr
            let r0 = p * mr
            let live = min(mr, rows - r0)
            if colStride == 1 {
                // Rows are contiguous along k: transposed in 4 × 4 blocks.
                ck_pack_transposed(
                    a + (i0 + r0) * rowStride + k0, rowStride, Int32(live), Int32(mr), Int32(depth), alpha, panel)
                p += 1
                continue
            }
            if rowStride == 1 {
                // Columns are contiguous along i: strips of MR.
                ck_pack_strips(
                    a + (i0 + r0) + k0 * colStride, colStride, Int32(live), Int32(mr), Int32(depth), alpha, panel)
                p += 1
                continue
            }
            for kk in 0..<depth {
                let out = panel + kk * mr
                let src = a + (k0 + kk) * colStride
                for r in 0..<live { out[r] = alpha * src[(i0 + r0 + r) * rowStride] }
                for r in live..<mr { out[r] = 0 }
            }
            p += 1
        }
    }

    /// Packs B from strided storage: element `(k, j)` at `b[k·rowStride + j·colStride]`.
    static func packB(
        _ b: UnsafePointer<Float>, rowStride: Int, colStride: Int, j0: Int, k0: Int, cols: Int, depth: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        var q = 0
        while q * nr < cols {
            let panel = dst + q * depth * nr
            let c0 = q * nr
            let live = min(nr, cols - c0)
            if colStride == 1 {
                ck_pack_strips(b + k0 * rowStride + j0 + c0, rowStride, Int32(live), Int32(nr), Int32(depth), 1, panel)
            } else if rowStride == 1 {
                // Column j of B is contiguous along k: transposed in 4 × 4 blocks.
                ck_pack_transposed(
                    b + (j0 + c0) * colStride + k0, colStride, Int32(live), Int32(nr), Int32(depth), 1, panel)
            } else {
                for c in 0..<nr {
                    if c < live {
                        let src = b + (j0 + c0 + c) * colStride + k0 * rowStride
                        for kk in 0..<depth { panel[kk * nr + c] = src[kk * rowStride] }
                    } else {
                        for kk in 0..<depth { panel[kk * nr + c] = 0 }
                    }
                }
            }
            q += 1
        }
    }

    /// Packs `B(k, j) = W[j][k]` for a weight in any format: each of the panel's rows of W is
    /// dequantized over `k0 ..< k0+depth` (whole blocks) and scattered into the panel.
    static func packWeightRows(
        _ w: WeightMatrix, j0: Int, k0: Int, cols: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        // The panel's rows of W, dequantized side by side, then transposed into the panel.
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: nr * depth)
        defer { rows.deallocate() }
        let offset = w.format.rowBytes(k0)
        var q = 0
        while q * nr < cols {
            let c0 = q * nr
            let live = min(nr, cols - c0)
            for c in 0..<live {
                w.format.dequantizeRow(w.row(j0 + c0 + c) + offset, into: rows + c * depth, count: depth)
            }
            ck_pack_transposed(rows, depth, Int32(live), Int32(nr), Int32(depth), 1, dst + q * depth * nr)
            q += 1
        }
    }

    /// Packs `B(k, j) = W[k][j]` for a weight in any format: each row `k0 ..< k0+depth` of W is
    /// dequantized over columns `j0 ..< j0+cols` (whole blocks; `j0` is block-aligned) and split into panels.
    static func packWeightColumns(
        _ w: WeightMatrix, j0: Int, k0: Int, cols: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let padded = (cols + nr - 1) / nr * nr
        let row = UnsafeMutablePointer<Float>.allocate(capacity: padded)
        defer { row.deallocate() }
        row.update(repeating: 0, count: padded)
        let offset = w.format.rowBytes(j0)
        for kk in 0..<depth {
            w.format.dequantizeRow(w.row(k0 + kk) + offset, into: row, count: cols)
            var q = 0
            while q * nr < cols {
                (dst + q * depth * nr + kk * nr).update(from: row + q * nr, count: nr)
                q += 1
            }
        }
    }
}
