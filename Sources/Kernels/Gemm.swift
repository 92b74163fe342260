import CKernels
import Foundation

/// A micro-kernel implementation; the fastest the CPU supports is used unless one is forced.
public enum KernelPath: Int32, Sendable, CaseIterable {
    case scalar = 0
    case avx2 = 1
    case avx512 = 2

    /// The best path this CPU supports.
    public static let best = KernelPath(rawValue: ck_best_path()) ?? .scalar
}

/// The arithmetic of a GEMM with a model's frozen weights.
public enum GemmPrecision: String, Sendable, CaseIterable, Codable {
    /// float32 operands, float32 accumulation.
    case float32
    /// Both operands rounded to bfloat16 (as PyTorch's bf16 autocast feeds a linear layer), the
    /// products accumulated in float32 and the result kept in float32 (autocast would round it
    /// to bf16). On CPUs with AVX-512 BF16 this runs on vdpbf16ps (two products per lane per
    /// instruction); elsewhere the rounded operands go through the float32 micro-kernel (the same
    /// numbers, no faster).
    case bfloat16
}

/// How a bfloat16 GEMM feeds its micro-kernel.
public enum BF16Kernel: Sendable {
    /// bf16 pair panels and vdpbf16ps (its model in C where the CPU lacks it).
    case pairs
    /// Panels rounded to bf16 but stored as float32, through the float32 micro-kernel.
    case roundedFloat
}

/// Matrix multiplication for every form training needs, with the weight operand in any
/// ``WeightFormat``.
///
/// BLIS-style: the B operand is packed into `KC × NR` column panels (quantized rows are
/// dequantized while packing, so no dequantized copy of a weight is ever kept), A into
/// `MR × KC` row panels, and a C micro-kernel multiplies one `MR × NR` register tile at a time.
/// Threads split the N dimension. Row-major throughout.
public enum Gemm {
    static let mr = Int(CK_MR)
    static let nr = Int(CK_NR)
    /// K block: a multiple of 256 so K-quant blocks are never split, or all of K when K is short
    /// (a ragged last block costs more than a deeper one).
    static let kc = 512
    static func depthBlock(_ k: Int) -> Int { k <= 1024 ? k : kc }
    static let mc = 120
    /// N block: a multiple of NR and of 256 (column ranges of quantized rows stay whole blocks).
    static let nc = 512

    /// Forces a micro-kernel for the current task (tests use it to cover the fallbacks, with
    /// `Gemm.$forcedPath.withValue(.scalar) { ... }`); `nil` picks the best. Task-local, so a test
    /// forcing a path never changes the arithmetic of another test running beside it. The
    /// environment variable `SWIFTLORA_KERNEL=scalar|avx2|avx512` sets the default.
    @TaskLocal public static var forcedPath: KernelPath? = environmentPath()

    /// `SWIFTLORA_KERNEL`: a kernel this CPU can run, or a line on standard error saying why
    /// it is not used (an unknown name, or avx512 on a CPU without it).
    static func environmentPath() -> KernelPath? {
        guard let name = ProcessInfo.processInfo.environment["SWIFTLORA_KERNEL"], !name.isEmpty else { return nil }
        let names = KernelPath.allCases.map { "\($0)" }
        guard let path = KernelPath.allCases.first(where: { "\($0)" == name }) else {
            FileHandle.standardError.write(
                Data(
                    "warning: SWIFTLORA_KERNEL=\(name) is not a kernel (\(names.joined(separator: ", "))); ignored\n"
                        .utf8))
            return nil
        }
        guard path.rawValue <= KernelPath.best.rawValue else {
            FileHandle.standardError.write(
                Data("warning: SWIFTLORA_KERNEL=\(name): this CPU cannot run it; the best it can run is used\n".utf8))
            return nil
        }
        return path
    }

    /// Whether the CPU has AVX-512 BF16 dot products.
    public static let hasBF16Dot = ck_has_bf16_dot() != 0

    /// Forces the bfloat16 feeding for the current task (tests cover both on any CPU; `.pairs`
    /// without the hardware runs the C model of vdpbf16ps); `nil` picks pairs where the CPU has
    /// them and the AVX-512 path is active.
    @TaskLocal public static var forcedBF16Kernel: BF16Kernel?

    /// Whether pair panels run on vdpbf16ps (else on its C model).
    static var bf16PairsInHardware: Bool { hasBF16Dot && activePath == .avx512 }

    /// The bfloat16 feeding in use.
    public static var bf16Kernel: BF16Kernel {
        forcedBF16Kernel ?? (bf16PairsInHardware ? .pairs : .roundedFloat)
    }

    /// Rounds `count` floats in place to the nearest bfloat16 (ties to even), as the bfloat16
    /// GEMMs round their operands.
    public static func roundToBFloat16(_ x: UnsafeMutablePointer<Float>, count: Int) {
        ck_round_bf16(x, count)
    }

    /// Whether products at `precision` run on bf16 pair panels.
    static func usesPairs(_ precision: GemmPrecision) -> Bool { precision == .bfloat16 && bf16Kernel == .pairs }

    /// The micro-kernel in use: the forced one if the CPU supports it, else the best.
    public static var activePath: KernelPath {
        guard let forced = forcedPath, forced.rawValue <= KernelPath.best.rawValue else { return KernelPath.best }
        return forced
    }

    /// `out(m, N) (+)= x(m, K) · Wᵀ` with `W = weight (N, K)` in any format: a linear layer's forward.
    public static func linear(
        _ x: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool = false, precision: GemmPrecision = .float32
    ) {
        let n = weight.rows
        let k = weight.columns
        if m <= smallRows && precision == .float32 {
            linearSmall(x, rows: m, weight: weight, into: out, accumulate: accumulate)
            return
        }
        if let panels = weight.bf16Panels, usesPairs(precision) {
            pairProduct(x, m: m, n: n, k: k, panels: panels.forward, into: out, accumulate: accumulate)
            return
        }
        if weight.format == .f32 {
            let w = weight.data.assumingMemoryBound(to: Float.self)
            run(m: m, n: n, k: k, alpha: 1, accumulate: accumulate, c: out, ldc: n, precision: precision) {
                i0, k0, rows, depth, dst in
                packA(x, rowStride: k, colStride: 1, i0: i0, k0: k0, rows: rows, depth: depth, alpha: 1, into: dst)
            } packB: { j0, k0, cols, depth, dst in
                packB(w, rowStride: 1, colStride: k, j0: j0, k0: k0, cols: cols, depth: depth, into: dst)
            }
            return
        }
        let pairs = usesPairs(precision)
        run(
            m: m, n: n, k: k, alpha: 1, accumulate: accumulate, c: out, ldc: n, precision: precision,
            packBMakesPairs: pairs
        ) { i0, k0, rows, depth, dst in
            packA(x, rowStride: k, colStride: 1, i0: i0, k0: k0, rows: rows, depth: depth, alpha: 1, into: dst)
        } packB: { j0, k0, cols, depth, dst in
            packWeightRows(weight, j0: j0, k0: k0, cols: cols, depth: depth, pairs: pairs, into: dst)
        }
    }

    /// `dx(m, K) (+)= dy(m, N) · W` with `W = weight (N, K)` in any format: the data gradient
    /// through a frozen linear layer.
    public static func linearBackwardData(
        _ dy: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix, into dx: UnsafeMutablePointer<Float>,
        accumulate: Bool = false, precision: GemmPrecision = .float32
    ) {
        let n = weight.rows
        let k = weight.columns
        // Here the reduction runs over W's rows (N) and the output columns over W's columns (K).
        if let panels = weight.bf16Panels, usesPairs(precision) {
            pairProduct(dy, m: m, n: k, k: n, panels: panels.backward, into: dx, accumulate: accumulate)
            return
        }
        if weight.format == .f32 {
            let w = weight.data.assumingMemoryBound(to: Float.self)
            run(m: m, n: k, k: n, alpha: 1, accumulate: accumulate, c: dx, ldc: k, precision: precision) {
                i0, k0, rows, depth, dst in
                packA(dy, rowStride: n, colStride: 1, i0: i0, k0: k0, rows: rows, depth: depth, alpha: 1, into: dst)
            } packB: { j0, k0, cols, depth, dst in
                packB(w, rowStride: k, colStride: 1, j0: j0, k0: k0, cols: cols, depth: depth, into: dst)
            }
            return
        }
        let pairs = usesPairs(precision)
        run(
            m: m, n: k, k: n, alpha: 1, accumulate: accumulate, c: dx, ldc: k,
            columnAlignment: weight.format.blockElements, precision: precision, packBMakesPairs: pairs
        ) { i0, k0, rows, depth, dst in
            packA(dy, rowStride: n, colStride: 1, i0: i0, k0: k0, rows: rows, depth: depth, alpha: 1, into: dst)
        } packB: { j0, k0, cols, depth, dst in
            packWeightColumns(weight, j0: j0, k0: k0, cols: cols, depth: depth, pairs: pairs, into: dst)
        }
    }

    /// BLAS `sgemm`, row-major: `C(m, n) = alpha · op(A) · op(B) + beta · C`, where
    /// `op(A)` is `(m, k)` (A stored `(k, m)` when `transA`) and `op(B)` is `(k, n)` (B stored `(n, k)` when `transB`).
    public static func sgemm(
        transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if beta != 0 && beta != 1 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } }
        }
        if k == 0 || alpha == 0 {
            if beta == 0 { for i in 0..<m { for j in 0..<n { c[i * ldc + j] = 0 } } }
            return
        }
        let (aRow, aCol) = transA ? (1, lda) : (lda, 1)
        let (bRow, bCol) = transB ? (1, ldb) : (ldb, 1)
        run(m: m, n: n, k: k, alpha: alpha, accumulate: beta != 0, c: c, ldc: ldc) { i0, k0, rows, depth, dst in
            packA(
                a, rowStride: aRow, colStride: aCol, i0: i0, k0: k0, rows: rows, depth: depth, alpha: alpha, into: dst)
        } packB: { j0, k0, cols, depth, dst in
            packB(b, rowStride: bRow, colStride: bCol, j0: j0, k0: k0, cols: cols, depth: depth, into: dst)
        }
    }

    /// Fills an A panel block: `rows` rows from `i0`, `depth` columns from `k0`, as consecutive
    /// `MR`-row panels of layout `[depth][MR]` (rows past `rows` are zero).
    typealias PackA = (_ i0: Int, _ k0: Int, _ rows: Int, _ depth: Int, _ dst: UnsafeMutablePointer<Float>) -> Void
    /// Fills a B panel block: `cols` columns from `j0`, `depth` rows from `k0`, as consecutive
    /// `NR`-column panels of layout `[depth][NR]` (columns past `cols` are zero).
    typealias PackB = (_ j0: Int, _ k0: Int, _ cols: Int, _ depth: Int, _ dst: UnsafeMutablePointer<Float>) -> Void

    /// The blocked loop nest. Each task takes a range of N (whole NR panels) and packs its own B
    /// blocks and the A blocks it needs (or reads A packed once for all); a narrow N splits M instead.
    ///
    /// With `.bfloat16` each packed block is rounded to bf16 in place, or turned into bf16 pair
    /// panels in place (half as many steps of depth, each element a pair of bf16 in 4 bytes, so a
    /// block's panels sit `steps(depth)·MR` (A) or `·NR` (B) elements apart inside its
    /// float32-sized region). `packedB`, all of B as pair panels (``packPairPanels(n:k:packB:)``),
    /// is read in place of `packB` when the pair kernel runs; `packBMakesPairs` says `packB` writes
    /// pair panels itself when it does.
    static func run(
        m: Int, n: Int, k: Int, alpha: Float, accumulate: Bool, c: UnsafeMutablePointer<Float>, ldc: Int,
        columnAlignment: Int = 1, precision: GemmPrecision = .float32, packedB: UnsafePointer<UInt32>? = nil,
        packBMakesPairs: Bool = false, packA: PackA, packB: PackB
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let path = activePath.rawValue
        let pairs = usesPairs(precision)
        let packedB = pairs ? packedB : nil
        let hardware: Int32 = pairs && bf16PairsInHardware ? 1 : 0
        /// Micro-kernel steps over `depth` values of k.
        func steps(_ depth: Int) -> Int { pairs ? (depth + 1) / 2 : depth }
        /// Leaves a packed block of `count` rows or columns in the kernel's operand form.
        func finish(_ dst: UnsafeMutablePointer<Float>, count: Int, width: Int, depth: Int) {
            guard precision == .bfloat16 else { return }
            let panels = (count + width - 1) / width
            if pairs {
                ck_pack_bf16_pairs(path, dst, Int32(panels), Int32(width), Int32(depth))
            } else {
                ck_round_bf16(dst, panels * width * depth)
            }
        }
        func packBlockA(_ i0: Int, _ k0: Int, _ rows: Int, _ depth: Int, _ dst: UnsafeMutablePointer<Float>) {
            packA(i0, k0, rows, depth, dst)
            finish(dst, count: rows, width: mr, depth: depth)
        }
        func packBlockB(_ j0: Int, _ k0: Int, _ cols: Int, _ depth: Int, _ dst: UnsafeMutablePointer<Float>) {
            packB(j0, k0, cols, depth, dst)
            if !(pairs && packBMakesPairs) { finish(dst, count: cols, width: nr, depth: depth) }
        }
        // Tasks split N in units of whole panels that also keep quantized blocks whole
        // (a task's first column must start a block when B's rows are dequantized by column range).
        let unit = nr * max(1, (columnAlignment + nr - 1) / nr)
        let units = (n + unit - 1) / unit
        let flops = 2 * m * n * k
        let pool = ThreadPool.shared
        let available = flops < 2_000_000 ? 1 : pool.threadCount
        // Split N when it has panels to spare; a narrow N (few panels) splits M instead, each
        // thread then packing all of B (small in that case).
        let splitRows = units < 4 * available && m >= 2 * mc
        let threads = splitRows ? available : min(available, units)
        let kBlock = depthBlock(k)
        // When threads split N, every thread needs all of A: pack it once, together, up front
        // (block (kb, i0) at kb·kBlock·mPadded + i0·depth), instead of once per thread. Each block
        // keeps its float32-sized region: pair panels are compacted at its start, in place.
        let mPadded = (m + mr - 1) / mr * mr
        var sharedA: UnsafeMutablePointer<Float>?
        if !splitRows && threads > 1 && mPadded * k <= 1 << 22 {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: mPadded * k)
            let kBlocks = (k + kBlock - 1) / kBlock
            let mBlocks = (m + mc - 1) / mc
            pool.parallelFor(kBlocks * mBlocks) { item in
                let k0 = item / mBlocks * kBlock
                let i0 = item % mBlocks * mc
                let depth = min(kBlock, k - k0)
                packBlockA(i0, k0, min(mc, m - i0), depth, buffer + k0 * mPadded + i0 * depth)
            }
            sharedA = buffer
        }
        defer { sharedA?.deallocate() }
        // With A shared, N is cut into pieces handed out as threads come free, each a share of
        // what is left (guided scheduling): large first, single panels last, so the threads finish
        // together even when one is slowed by other work on its core. Without a shared A each
        // thread takes one range (each piece would pack all of A again).
        var bounds = [0]
        if sharedA == nil {
            for t in 1...threads { bounds.append(t * units / threads) }
        } else {
            while bounds.last! < units {
                let left = units - bounds.last!
                bounds.append(bounds.last! + max(1, left / (guidedShare * threads)))
            }
        }
        let pieces = bounds.count - 1
        /// Piece `t` (or, splitting M, thread `t`).
        func body(_ t: Int) {
            var jStart = 0
            var jEnd = n
            var iStart = 0
            var iEnd = m
            if splitRows {
                let panels = (m + mr - 1) / mr
                iStart = t * panels / threads * mr
                iEnd = min((t + 1) * panels / threads * mr, m)
            } else {
                jStart = bounds[t] * unit
                jEnd = min(bounds[t + 1] * unit, n)
            }
            guard jEnd > jStart, iEnd > iStart else { return }
            // A block buffer only where A is not packed once for all.
            let aBuffer = sharedA == nil ? UnsafeMutablePointer<Float>.allocate(capacity: (mc + mr) * kBlock) : nil
            let bBuffer = packedB == nil ? UnsafeMutablePointer<Float>.allocate(capacity: (nc + nr) * kBlock) : nil
            defer {
                aBuffer?.deallocate()
                bBuffer?.deallocate()
            }
            var j0 = jStart
            while j0 < jEnd {
                let cols = min(nc, jEnd - j0)
                var k0 = 0
                while k0 < k {
                    let depth = min(kBlock, k - k0)
                    let bBlock: UnsafePointer<Float>
                    if let packedB {
                        bBlock = UnsafeRawPointer(packedB + pairPanelOffset(n: n, k: k, j0: j0, k0: k0))
                            .assumingMemoryBound(to: Float.self)
                    } else {
                        packBlockB(j0, k0, cols, depth, bBuffer!)
                        bBlock = UnsafePointer(bBuffer!)
                    }
                    let depthSteps = steps(depth)
                    let add: Int32 = (accumulate || k0 > 0) ? 1 : 0
                    var i0 = iStart
                    while i0 < iEnd {
                        let rows = min(mc, iEnd - i0)
                        let aBlock: UnsafeMutablePointer<Float>
                        if let sharedA {
                            aBlock = sharedA + k0 * mPadded + i0 * depth
                        } else {
                            packBlockA(i0, k0, rows, depth, aBuffer!)
                            aBlock = aBuffer!
                        }
                        var q = 0
                        while q * nr < cols {
                            let tileCols = min(nr, cols - q * nr)
                            let bPanel = bBlock + q * depthSteps * nr
                            var p = 0
                            while p * mr < rows {
                                let tileRows = min(mr, rows - p * mr)
                                let aPanel = aBlock + p * depthSteps * mr
                                let cTile = c + (i0 + p * mr) * ldc + j0 + q * nr
                                if pairs {
                                    ck_gemm_tile_bf16(
                                        hardware, Int32(depthSteps),
                                        UnsafeRawPointer(aPanel).assumingMemoryBound(to: UInt32.self),
                                        UnsafeRawPointer(bPanel).assumingMemoryBound(to: UInt32.self), cTile, ldc,
                                        Int32(tileRows), Int32(tileCols), add)
                                } else {
                                    ck_gemm_tile(
                                        path, Int32(depth), aPanel, bPanel, cTile, ldc, Int32(tileRows),
                                        Int32(tileCols),
                                        add)
                                }
                                p += 1
                            }
                            q += 1
                        }
                        i0 += rows
                    }
                    k0 += depth
                }
                j0 += cols
            }
        }
        if threads == 1 { body(0) } else { pool.parallelFor(splitRows ? threads : pieces, body) }
    }

    /// Guided scheduling of N: each piece is `1 / (guidedShare · threads)` of what is left (see ``run``).
    static let guidedShare = max(1, ProcessInfo.processInfo.environment["SWIFTLORA_GEMM_GUIDED"].flatMap(Int.init) ?? 2)

    typealias FusedDot = @convention(c) (Int32, UnsafePointer<UInt8>?, UnsafePointer<Float>?, Int) -> Float

    /// The fused dequantize-dot kernel of a format on a vector path (the quantized formats have one
    /// on AVX2 and AVX-512; the scalar path dequantizes rows instead).
    static func fusedDot(_ format: WeightFormat, path: KernelPath) -> FusedDot? {
        guard path != .scalar else { return nil }
        return switch format {
        case .q4_1: ck_dot_q4_1
        case .q4_0: ck_dot_q4_0
        case .q8_0: ck_dot_q8_0
        case .q4_K: ck_dot_q4_k
        case .q5_K: ck_dot_q5_k
        case .q6_K: ck_dot_q6_k
        case .f32, .f16, .bf16: nil
        }
    }

    /// Up to this many rows, ``linear`` streams the weight once, one row at a time, instead of
    /// packing it: decoding steps of a batch of sequences have a few rows each.
    static let smallRows = ProcessInfo.processInfo.environment["SWIFTLORA_SMALL_ROWS"].flatMap(Int.init) ?? 32

    /// Decode-sized inputs (a few rows): stream W once, one dequantized row at a time, no packing.
    static func linearSmall(
        _ x: UnsafePointer<Float>, rows m: Int, weight: WeightMatrix, into out: UnsafeMutablePointer<Float>,
        accumulate: Bool
    ) {
        let n = weight.rows
        let k = weight.columns
        let path = activePath.rawValue
        let threads = n * k < 65536 ? 1 : ThreadPool.shared.threadCount
        // Formats with a fused dequantize-dot kernel skip the dequantized row entirely.
        let fused = m <= 4 ? fusedDot(weight.format, path: activePath) : nil
        func body(_ t: Int) {
            let start = t * n / threads
            let end = (t + 1) * n / threads
            if let fused {
                for j in start..<end {
                    let q = weight.row(j).assumingMemoryBound(to: UInt8.self)
                    for i in 0..<m {
                        let s = fused(path, q, x + i * k, k)
                        if accumulate { out[i * n + j] += s } else { out[i * n + j] = s }
                    }
                }
                return
            }
            // Four weight rows (dequantized once) against four input rows at a time.
            let rows = UnsafeMutablePointer<Float>.allocate(capacity: 4 * k)
            let d = UnsafeMutablePointer<Float>.allocate(capacity: 16)
            defer {
                rows.deallocate()
                d.deallocate()
            }
            var j0 = start
            while j0 < end {
                let nw = min(4, end - j0)
                let w: UnsafePointer<Float>
                if weight.format == .f32 {
                    w = UnsafePointer(weight.row(j0).assumingMemoryBound(to: Float.self))
                } else {
                    for j in 0..<nw { weight.format.dequantizeRow(weight.row(j0 + j), into: rows + j * k, count: k) }
                    w = UnsafePointer(rows)
                }
                var i0 = 0
                while i0 < m {
                    let nx = min(4, m - i0)
                    ck_dots(path, w, k, Int32(nw), x + i0 * k, k, Int32(nx), k, d, 4)
                    for i in 0..<nx {
                        for j in 0..<nw {
                            let o = out + (i0 + i) * n + j0 + j
                            if accumulate { o.pointee += d[i * 4 + j] } else { o.pointee = d[i * 4 + j] }
                        }
                    }
                    i0 += nx
                }
                j0 += nw
            }
        }
        if threads == 1 { body(0) } else { ThreadPool.shared.parallelFor(threads, body) }
    }
}
