import CKernels
import Kernels
import Testing

/// The bfloat16 GEMMs: rounding, both ways of feeding the micro-kernel, and the AVX-512 BF16
/// kernel against its C model where the CPU has it.
@Suite(.serialized) struct BFloat16GemmTests {
    /// Nearest bfloat16 by comparing the two neighbours in Double; ties go to the even one.
    static func nearestBFloat16(_ x: Float) -> Float {
        if x.isNaN || x.isInfinite { return x }
        let down = Float(bitPattern: x.bitPattern & 0xffff_0000)
        let upBits = (x.bitPattern & 0xffff_0000) &+ 0x10000
        let up = Float(bitPattern: upBits)
        // Past the largest bf16 the next value up is 2^128, which float shows as infinity.
        let upValue = up.isInfinite ? Double(up.sign == .minus ? -1 : 1) * 0x1p128 : Double(up)
        let belowDistance = abs(Double(x) - Double(down))
        let aboveDistance = abs(upValue - Double(x))
        if belowDistance != aboveDistance { return belowDistance < aboveDistance ? down : up }
        return down.bitPattern & 0x10000 == 0 ? down : up
    }

    static func rounded(_ values: [Float]) -> [Float] {
        var out = values
        out.withUnsafeMutableBufferPointer { Gemm.roundToBFloat16($0.baseAddress!, count: $0.count) }
        return out
    }

    @Test func roundingIsToNearestEven() {
        var random = SplitMix64(seed: 3)
        var inputs = (0..<20000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: random.next())) }
        inputs += [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        // Exact ties (even stays, odd goes up), just past a tie, subnormals, the largest bf16.
        inputs += [0x3f80_8000, 0x3f81_8000, 0x3f80_8001, 0x0000_8000, 0x0001_8000, 0x7f7f_0000, 0x7f7f_8000]
            .map { Float(bitPattern: $0) }
        let got = Self.rounded(inputs)
        for (x, y) in zip(inputs, got) where !x.isNaN {
            let want = Self.nearestBFloat16(x)
            #expect(y.bitPattern == want.bitPattern, "\(x) (\(String(x.bitPattern, radix: 16))) → \(y), want \(want)")
        }
        for (x, y) in zip(inputs, got) where x.isNaN { #expect(y.isNaN) }
    }

    /// (m, n, k) with m past the decode-sized rows, K over one depth block, odd depths.
    static let shapes: [(m: Int, n: Int, k: Int)] = [(37, 65, 512), (250, 33, 1280), (40, 600, 256), (33, 7, 32)]

    /// `.roundedFloat` is exactly the float32 GEMM of the rounded operands, on every path.
    @Test(arguments: [WeightFormat.f32, .bf16, .q4_1, .q4_K])
    func roundedFloatIsTheFloat32GemmOfRoundedOperands(format: WeightFormat) {
        for (m, n, k) in Self.shapes where k % format.blockElements == 0 {
            let (w, exact) = GemmTests.weight(format, rows: n, columns: k, seed: UInt64(n * k))
            let (wr, _) = GemmTests.weight(.f32, values: Self.rounded(exact), rows: n, columns: k)
            let x = GemmTests.random(m * k, seed: 7)
            let dy = GemmTests.random(m * n, seed: 8)
            for path in KernelPath.allCases where path.rawValue <= KernelPath.best.rawValue {
                Gemm.$forcedPath.withValue(path) {
                    Gemm.$forcedBF16Kernel.withValue(.roundedFloat) {
                        var y = [Float](repeating: 0.5, count: m * n)
                        var want = y
                        Gemm.linear(x, rows: m, weight: w, into: &y, accumulate: true, precision: .bfloat16)
                        Gemm.linear(Self.rounded(x), rows: m, weight: wr, into: &want, accumulate: true)
                        let matches = y == want
                        #expect(matches, "linear \(format) \(path) \(m)×\(n)×\(k)")
                        var dx = [Float](repeating: 0, count: m * k)
                        var wantDx = dx
                        Gemm.linearBackwardData(dy, rows: m, weight: w, into: &dx, precision: .bfloat16)
                        Gemm.linearBackwardData(Self.rounded(dy), rows: m, weight: wr, into: &wantDx)
                        let dxMatches = dx == wantDx
                        #expect(dxMatches, "backward \(format) \(path) \(m)×\(n)×\(k)")
                    }
                }
            }
        }
    }

    /// Both feedings agree with a float64 product of the rounded operands to float32's
    /// accumulation error, and are measurably away from the unrounded product (they round).
    @Test(arguments: [BF16Kernel.pairs, .roundedFloat])
    func bothFeedingsMatchTheRoundedReference(kernel: BF16Kernel) {
        Gemm.$forcedBF16Kernel.withValue(kernel) {
            for (m, n, k, format) in [
                (37, 65, 33, WeightFormat.f32), (5, 41, 77, .f32), (250, 33, 1280, .q4_1), (40, 129, 256, .q8_0),
                // A shared by the threads, in several row blocks (N wide enough to be split
                // between up to 32 threads rather than M).
                (250, 4096, 256, .f32), (130, 4096, 1280, .q4_1),
            ] {
                let (w, exact) = GemmTests.weight(format, rows: n, columns: k, seed: UInt64(n + k))
                let x = GemmTests.random(m * k, seed: 9)
                var y = [Float](repeating: 0, count: m * n)
                Gemm.linear(x, rows: m, weight: w, into: &y, precision: .bfloat16)
                let zeros = [Float](repeating: 0, count: m * n)
                let (want, scale) = GemmTests.sgemmReference(
                    transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: Self.rounded(x), lda: k,
                    b: Self.rounded(exact), ldb: k, beta: 0, c: zeros, ldc: n)
                let (unrounded, _) = GemmTests.sgemmReference(
                    transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: x, lda: k, b: exact, ldb: k, beta: 0,
                    c: zeros, ldc: n)
                #expect(GemmTests.check(y, want, scale: scale) < 1e-5, "linear \(kernel) \(format) \(m)×\(n)×\(k)")
                #expect(GemmTests.check(y, unrounded, scale: scale) > 1e-4, "linear \(kernel) did not round")

                // The data gradient reduces over n (odd here: a half-empty last pair).
                let dy = GemmTests.random(m * n, seed: 10)
                var dx = [Float](repeating: 0, count: m * k)
                Gemm.linearBackwardData(dy, rows: m, weight: w, into: &dx, precision: .bfloat16)
                let (wantDx, scaleDx) = GemmTests.sgemmReference(
                    transA: false, transB: false, m: m, n: k, k: n, alpha: 1, a: Self.rounded(dy), lda: n,
                    b: Self.rounded(exact), ldb: k, beta: 0, c: [Float](repeating: 0, count: m * k), ldc: k)
                #expect(
                    GemmTests.check(dx, wantDx, scale: scaleDx) < 1e-5, "backward \(kernel) \(format) \(m)×\(n)×\(k)")
            }
        }
    }

    /// A weight packed once (``BFloat16Panels``) gives the bits of packing it on every call, both
    /// ways, accumulating or not: several K blocks with a short last one, partial last panels,
    /// a quantized format, few rows, and N wide enough to be cut between threads.
    @Test func prepackedPanelsGiveThePerCallBits() {
        Gemm.$forcedBF16Kernel.withValue(.pairs) {
            for (m, n, k, format) in [
                (37, 65, 33, WeightFormat.f32), (3, 70, 1536, .f32), (33, 1300, 1030, .f16), (250, 33, 1280, .q4_1),
                (64, 4096, 256, .bf16),
            ] {
                let (w, _) = GemmTests.weight(format, rows: n, columns: k, seed: UInt64(3 * n + k))
                var packed = w
                packed.bf16Panels = BFloat16Panels(w)
                let x = GemmTests.random(m * k, seed: 14)
                let dy = GemmTests.random(m * n, seed: 15)
                for accumulate in [false, true] {
                    var y = GemmTests.random(m * n, seed: 16)
                    var want = y
                    Gemm.linear(x, rows: m, weight: packed, into: &y, accumulate: accumulate, precision: .bfloat16)
                    Gemm.linear(x, rows: m, weight: w, into: &want, accumulate: accumulate, precision: .bfloat16)
                    let matches = y == want
                    #expect(matches, "linear \(format) \(m)×\(n)×\(k) accumulate \(accumulate)")
                    var dx = GemmTests.random(m * k, seed: 17)
                    var wantDx = dx
                    Gemm.linearBackwardData(
                        dy, rows: m, weight: packed, into: &dx, accumulate: accumulate, precision: .bfloat16)
                    Gemm.linearBackwardData(
                        dy, rows: m, weight: w, into: &wantDx, accumulate: accumulate, precision: .bfloat16)
                    let dxMatches = dx == wantDx
                    #expect(dxMatches, "backward \(format) \(m)×\(n)×\(k) accumulate \(accumulate)")
                }
                // The panels are what is read: another weight's panels give other numbers.
                var swapped = w
                swapped.bf16Panels = BFloat16Panels(GemmTests.weight(format, rows: n, columns: k, seed: 99).0)
                var other = [Float](repeating: 0, count: m * n)
                var mine = other
                Gemm.linear(x, rows: m, weight: swapped, into: &other, precision: .bfloat16)
                Gemm.linear(x, rows: m, weight: packed, into: &mine, precision: .bfloat16)
                let readsPanels = other != mine
                #expect(readsPanels, "linear read the panels \(format) \(m)×\(n)×\(k)")
                var otherDx = [Float](repeating: 0, count: m * k)
                var mineDx = otherDx
                Gemm.linearBackwardData(dy, rows: m, weight: swapped, into: &otherDx, precision: .bfloat16)
                Gemm.linearBackwardData(dy, rows: m, weight: packed, into: &mineDx, precision: .bfloat16)
                let dxReadsPanels = otherDx != mineDx
                #expect(dxReadsPanels, "backward read the panels \(format) \(m)×\(n)×\(k)")
                // float32 products ignore the panels.
                var y = [Float](repeating: 0, count: m * n)
                var want = y
                Gemm.linear(x, rows: m, weight: packed, into: &y)
                Gemm.linear(x, rows: m, weight: w, into: &want)
                let float32Matches = y == want
                #expect(float32Matches, "float32 \(format) \(m)×\(n)×\(k)")
            }
        }
    }

    /// The AVX-512 pair packers give the C loops' bits: odd and even depths, the panel widths of
    /// A and B and one past a vector, ties, NaNs, infinities and subnormals among the values.
    @Test(.enabled(if: KernelPath.best == .avx512)) func vectorPairPackingMatchesTheCLoop() {
        var random = SplitMix64(seed: 21)
        let special: [UInt32] = [
            0x3f80_8000, 0x3f81_8000, 0x7fc0_0001, 0xff80_0001, 0x7f80_0000, 0x0000_8000, 0x7f7f_ffff,
        ]
        for (panels, width, depth) in [(3, 12, 33), (2, 32, 64), (1, 17, 1), (4, 12, 2), (2, 32, 7)] {
            let count = panels * width * depth
            let input = (0..<count).map { i in
                Float(bitPattern: i % 5 == 0 ? special[i % special.count] : UInt32(truncatingIfNeeded: random.next()))
            }
            var vector = input
            var scalar = input
            vector.withUnsafeMutableBufferPointer {
                ck_pack_bf16_pairs(
                    KernelPath.avx512.rawValue, $0.baseAddress, Int32(panels), Int32(width), Int32(depth))
            }
            scalar.withUnsafeMutableBufferPointer {
                ck_pack_bf16_pairs(
                    KernelPath.scalar.rawValue, $0.baseAddress, Int32(panels), Int32(width), Int32(depth))
            }
            let packed = panels * width * ((depth + 1) / 2)
            let matches = vector.prefix(packed).map(\.bitPattern) == scalar.prefix(packed).map(\.bitPattern)
            #expect(matches, "\(panels) panels of \(width) × \(depth)")

            // Rows paired in place (`panels · width` rows of `depth`), and two rows paired side by side.
            var vectorRows = input
            var scalarRows = input
            vectorRows.withUnsafeMutableBufferPointer {
                ck_bf16_pair_rows(
                    KernelPath.avx512.rawValue, $0.baseAddress, depth, Int32(panels * width), Int32(depth))
            }
            scalarRows.withUnsafeMutableBufferPointer {
                ck_bf16_pair_rows(
                    KernelPath.scalar.rawValue, $0.baseAddress, depth, Int32(panels * width), Int32(depth))
            }
            for r in 0..<panels * width {
                let words = (r * depth)..<(r * depth + (depth + 1) / 2)
                let rowMatches = vectorRows[words].map(\.bitPattern) == scalarRows[words].map(\.bitPattern)
                #expect(rowMatches, "row \(r) of \(depth)")
            }
            let stripCount = min(count / 2, 45)
            for odd in [true, false] {
                var vectorStrip = [UInt32](repeating: 1, count: stripCount)
                var scalarStrip = vectorStrip
                input.withUnsafeBufferPointer { x in
                    let second = odd ? x.baseAddress! + stripCount : nil
                    ck_bf16_pair_strip(
                        KernelPath.avx512.rawValue, x.baseAddress, second, Int32(stripCount), &vectorStrip)
                    ck_bf16_pair_strip(
                        KernelPath.scalar.rawValue, x.baseAddress, second, Int32(stripCount), &scalarStrip)
                }
                let stripMatches = vectorStrip == scalarStrip
                #expect(stripMatches, "strip of \(stripCount), odd row \(odd)")
            }
        }
    }

    /// vdpbf16ps against its C model, on CPUs with AVX-512 BF16 (skipped elsewhere).
    @Test(.enabled(if: Gemm.hasBF16Dot)) func hardwarePairsMatchTheirCModel() {
        for (m, n, k) in [(37, 65, 33), (250, 70, 1280), (13, 600, 512), (250, 4096, 256)] {
            let (w, exact) = GemmTests.weight(.f32, rows: n, columns: k, seed: 11)
            let x = GemmTests.random(m * k, seed: 12)
            var hardware = [Float](repeating: 0, count: m * n)
            var model = hardware
            Gemm.$forcedBF16Kernel.withValue(.pairs) {
                Gemm.$forcedPath.withValue(.avx512) {
                    Gemm.linear(x, rows: m, weight: w, into: &hardware, precision: .bfloat16)
                }
                Gemm.$forcedPath.withValue(.avx2) {
                    Gemm.linear(x, rows: m, weight: w, into: &model, precision: .bfloat16)
                }
            }
            let (want, scale) = GemmTests.sgemmReference(
                transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: Self.rounded(x), lda: k,
                b: Self.rounded(exact), ldb: k, beta: 0, c: [Float](repeating: 0, count: m * n), ldc: n)
            #expect(GemmTests.check(hardware, want, scale: scale) < 1e-5, "vdpbf16ps \(m)×\(n)×\(k)")
            #expect(
                GemmTests.check(hardware, model.map(Double.init), scale: scale) < 1e-5, "vdpbf16ps vs C \(m)×\(n)×\(k)")
        }
    }
}
