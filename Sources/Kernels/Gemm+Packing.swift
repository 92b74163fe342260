import CKernels

extension Gemm {
    /// Packs A from strided storage: element `(i, k)` at `a[i·rowStride + k·colStride]`, times alpha.
    static func packA(
        _ a: UnsafePointer<Float>, rowStride: Int, colStride: Int, i0: Int, k0: Int, rows: Int, depth: Int,
        alpha: Float, into dst: UnsafeMutablePointer<Float>
    ) {
        packPanels(
            a, lineStride: rowStride, depthStride: colStride, first: i0, k0: k0, count: rows, depth: depth,
            width: mr, alpha: alpha, into: dst)
    }

    /// Packs B from strided storage: element `(k, j)` at `b[k·rowStride + j·colStride]`.
    static func packB(
        _ b: UnsafePointer<Float>, rowStride: Int, colStride: Int, j0: Int, k0: Int, cols: Int, depth: Int,
        into dst: UnsafeMutablePointer<Float>
    ) {
        packPanels(
            b, lineStride: colStride, depthStride: rowStride, first: j0, k0: k0, count: cols, depth: depth,
            width: nr, alpha: 1, into: dst)
    }

    /// Packs lines `first ..< first+count` (rows of A, or columns of B) over depth `k0 ..< k0+depth`,
    /// element `(line, k)` at `x[line·lineStride + k·depthStride]` times alpha, as consecutive
    /// `[depth][width]` panels (lines past `count` are zero).
    private static func packPanels(
        _ x: UnsafePointer<Float>, lineStride: Int, depthStride: Int, first: Int, k0: Int, count: Int, depth: Int,
        width: Int, alpha: Float, into dst: UnsafeMutablePointer<Float>
    ) {
        var p = 0
        while p * width < count {
            let panel = dst + p * depth * width
            let l0 = first + p * width
            let live = min(width, count - p * width)
            if depthStride == 1 {
                // Each line is contiguous along k: transposed in 4 × 4 blocks.
                ck_pack_transposed(
                    x + l0 * lineStride + k0, lineStride, Int32(live), Int32(width), Int32(depth), alpha, panel)
            } else if lineStride == 1 {
                // The lines are side by side at each k: one strip of the panel per k.
                ck_pack_strips(
                    x + l0 + k0 * depthStride, depthStride, Int32(live), Int32(width), Int32(depth), alpha, panel)
            } else {
                for kk in 0..<depth {
                    let out = panel + kk * width
                    let src = x + (k0 + kk) * depthStride
                    for r in 0..<live { out[r] = alpha * src[(l0 + r) * lineStride] }
                    for r in live..<width { out[r] = 0 }
                }
            }
            p += 1
        }
    }

    /// Packs `B(k, j) = W[j][k]` for a weight in any format: each of the panel's rows of W is
    /// dequantized over `k0 ..< k0+depth` (whole blocks) and scattered into the panel. With
    /// `pairs` the panels are bf16 pair panels, `[(depth+1)/2][NR]` words each: each dequantized
    /// row is paired in place, then the words are transposed.
    static func packWeightRows(
        _ w: WeightMatrix, j0: Int, k0: Int, cols: Int, depth: Int, pairs: Bool = false,
        into dst: UnsafeMutablePointer<Float>
    ) {
        // The panel's rows of W, dequantized side by side, then transposed into the panel.
        let rows = UnsafeMutablePointer<Float>.allocate(capacity: nr * depth)
        defer { rows.deallocate() }
        let path = activePath.rawValue
        let offset = w.format.rowBytes(k0)
        var q = 0
        while q * nr < cols {
            let c0 = q * nr
            let live = min(nr, cols - c0)
            for c in 0..<live {
                w.format.dequantizeRow(w.row(j0 + c0 + c) + offset, into: rows + c * depth, count: depth)
            }
            if pairs {
                // Pair words are float-sized: the transpose moves them bit for bit.
                let steps = (depth + 1) / 2
                ck_bf16_pair_rows(path, rows, depth, Int32(live), Int32(depth))
                ck_pack_transposed(rows, depth, Int32(live), Int32(nr), Int32(steps), 1, dst + q * steps * nr)
            } else {
                ck_pack_transposed(rows, depth, Int32(live), Int32(nr), Int32(depth), 1, dst + q * depth * nr)
            }
            q += 1
        }
    }

    /// Packs `B(k, j) = W[k][j]` for a weight in any format: each row `k0 ..< k0+depth` of W is
    /// dequantized over columns `j0 ..< j0+cols` (whole blocks; `j0` is block-aligned) and split into
    /// panels. With `pairs`, bf16 pair panels: rows `2kp` and `2kp+1` paired side by side.
    static func packWeightColumns(
        _ w: WeightMatrix, j0: Int, k0: Int, cols: Int, depth: Int, pairs: Bool = false,
        into dst: UnsafeMutablePointer<Float>
    ) {
        if pairs {
            packWeightColumnPairs(w, j0: j0, k0: k0, cols: cols, depth: depth, into: dst)
            return
        }
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

    /// ``packWeightColumns(_:j0:k0:cols:depth:pairs:into:)`` as bf16 pair panels.
    private static func packWeightColumnPairs(
        _ w: WeightMatrix, j0: Int, k0: Int, cols: Int, depth: Int, into dst: UnsafeMutablePointer<Float>
    ) {
        let padded = (cols + nr - 1) / nr * nr
        let even = UnsafeMutablePointer<Float>.allocate(capacity: 2 * padded)
        defer { even.deallocate() }
        even.update(repeating: 0, count: 2 * padded)
        let odd = even + padded
        let offset = w.format.rowBytes(j0)
        let steps = (depth + 1) / 2
        let words = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt32.self)
        let path = activePath.rawValue
        for kp in 0..<steps {
            let hasOdd = 2 * kp + 1 < depth
            w.format.dequantizeRow(w.row(k0 + 2 * kp) + offset, into: even, count: cols)
            if hasOdd { w.format.dequantizeRow(w.row(k0 + 2 * kp + 1) + offset, into: odd, count: cols) }
            var q = 0
            while q * nr < cols {
                ck_bf16_pair_strip(
                    path, even + q * nr, hasOdd ? odd + q * nr : nil, Int32(nr), words + q * steps * nr + kp * nr)
                q += 1
            }
        }
    }
}
