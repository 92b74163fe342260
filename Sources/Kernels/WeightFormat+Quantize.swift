#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension WeightFormat {
    /// Quantizes `count` floats (whole blocks) into this format's blocks. Q8_0, Q4_0 and Q4_1
    /// follow ggml's reference quantizers; the K-quants use a direct (not searched) choice of
    /// sub-block scales and mins, which gives valid blocks with a somewhat larger error than llama.cpp's.
    public func quantizeRow(_ src: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer, count: Int) {
        let out = dst.assumingMemoryBound(to: UInt8.self)
        func putHalf(_ v: Float, _ at: Int) {
            let h = Half.bits(v)
            out[at] = UInt8(h & 0xff)
            out[at + 1] = UInt8(h >> 8)
        }
        switch self {
        case .f32: dst.copyMemory(from: src, byteCount: count * 4)
        case .f16: for i in 0..<count { putHalf(src[i], 2 * i) }
        case .bf16:
            for i in 0..<count {
                let h = Half.bfloat16Bits(src[i])
                out[2 * i] = UInt8(h & 0xff)
                out[2 * i + 1] = UInt8(h >> 8)
            }
        case .q8_0:
            for b in 0..<(count / 32) {
                let x = src + b * 32
                let o = b * 34
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(x[j])) }
                let d = amax / 127
                let id: Float = d != 0 ? 1 / d : 0
                putHalf(d, o)
                for j in 0..<32 { out[o + 2 + j] = UInt8(bitPattern: Int8(roundf(x[j] * id))) }
            }
        case .q4_0:
            for b in 0..<(count / 32) {
                let x = src + b * 32
                let o = b * 18
                var amax: Float = 0
                var signedMax: Float = 0
                for j in 0..<32 where abs(x[j]) > amax {
                    amax = abs(x[j])
                    signedMax = x[j]
                }
                let d = signedMax / -8
                let id: Float = d != 0 ? 1 / d : 0
                putHalf(d, o)
                for j in 0..<16 {
                    let lo = min(15, Int(x[j] * id + 8.5))
                    let hi = min(15, Int(x[j + 16] * id + 8.5))
                    out[o + 2 + j] = UInt8(lo) | UInt8(hi) << 4
                }
            }
        case .q4_1:
            for b in 0..<(count / 32) {
                let x = src + b * 32
                let o = b * 20
                var lo = Float.infinity
                var hi = -Float.infinity
                for j in 0..<32 {
                    lo = min(lo, x[j])
                    hi = max(hi, x[j])
                }
                let d = (hi - lo) / 15
                let id: Float = d != 0 ? 1 / d : 0
                putHalf(d, o)
                putHalf(lo, o + 2)
                for j in 0..<16 {
                    let a = min(15, Int((x[j] - lo) * id + 0.5))
                    let c = min(15, Int((x[j + 16] - lo) * id + 0.5))
                    out[o + 4 + j] = UInt8(a) | UInt8(c) << 4
                }
            }
        case .q4_K, .q5_K:
            for b in 0..<(count / 256) { quantizeK45(src + b * 256, out + b * blockBytes, bits: self == .q4_K ? 4 : 5) }
        case .q6_K:
            for b in 0..<(count / 256) { quantizeQ6K(src + b * 256, out + b * 210) }
        }
    }

    /// Q4_K / Q5_K: eight sub-blocks of 32, each `x ≈ d·sc·q − dmin·m` with 6-bit sc and m.
    private func quantizeK45(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<UInt8>, bits: Int) {
        let levels = Float((1 << bits) - 1)
        var scales = [Float](repeating: 0, count: 8)
        var mins = [Float](repeating: 0, count: 8)
        for j in 0..<8 {
            var lo: Float = 0
            var hi = -Float.infinity
            for l in 0..<32 {
                lo = min(lo, x[j * 32 + l])
                hi = max(hi, x[j * 32 + l])
            }
            scales[j] = (hi - lo) / levels
            mins[j] = -lo
        }
        let d = (scales.max() ?? 0) / 63
        let dmin = (mins.max() ?? 0) / 63
        var sc = [UInt8](repeating: 0, count: 8)
        var mq = [UInt8](repeating: 0, count: 8)
        for j in 0..<8 {
            sc[j] = d > 0 ? UInt8(min(63, Int(roundf(scales[j] / d)))) : 0
            mq[j] = dmin > 0 ? UInt8(min(63, Int(roundf(mins[j] / dmin)))) : 0
        }
        let dh = Half.bits(d)
        let mh = Half.bits(dmin)
        out[0] = UInt8(dh & 0xff)
        out[1] = UInt8(dh >> 8)
        out[2] = UInt8(mh & 0xff)
        out[3] = UInt8(mh >> 8)
        let packed = out + 4
        for j in 0..<4 {
            packed[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
            packed[j + 4] = (mq[j] & 63) | ((mq[j + 4] >> 4) << 6)
            packed[j + 8] = (sc[j + 4] & 0xf) | ((mq[j + 4] & 0xf) << 4)
        }
        // Use the stored (rounded) scales so dequantization sees exactly what we chose.
        let dStored = Half.float(dh)
        let mStored = Half.float(mh)
        var q = [UInt8](repeating: 0, count: 256)
        for j in 0..<8 {
            let scale = dStored * Float(sc[j])
            let offset = mStored * Float(mq[j])
            for l in 0..<32 {
                let v = scale > 0 ? roundf((x[j * 32 + l] + offset) / scale) : 0
                q[j * 32 + l] = UInt8(max(0, min(levels, v)))
            }
        }
        let qh = out + 16
        let ql = out + (bits == 5 ? 48 : 16)
        if bits == 5 { qh.update(repeating: 0, count: 32) }
        for c in 0..<4 {
            for l in 0..<32 {
                let a = q[c * 64 + l]
                let b = q[c * 64 + 32 + l]
                ql[c * 32 + l] = (a & 0xf) | ((b & 0xf) << 4)
                if bits == 5 {
                    qh[l] |= ((a >> 4) & 1) << UInt8(2 * c) | ((b >> 4) & 1) << UInt8(2 * c + 1)
                }
            }
        }
    }

    /// Q6_K: sixteen sub-blocks of 16, `x ≈ d·sc·(q − 32)` with int8 sc and 6-bit q.
    private func quantizeQ6K(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<UInt8>) {
        var scales = [Float](repeating: 0, count: 16)
        for j in 0..<16 {
            var amax: Float = 0
            for l in 0..<16 { amax = max(amax, abs(x[j * 16 + l])) }
            scales[j] = amax / 32
        }
        let d = (scales.max() ?? 0) / 127
        let dh = Half.bits(d)
        let dStored = Half.float(dh)
        var sc = [Int8](repeating: 0, count: 16)
        for j in 0..<16 { sc[j] = dStored > 0 ? Int8(min(127, roundf(scales[j] / dStored))) : 0 }
        var q = [UInt8](repeating: 32, count: 256)
        for j in 0..<16 {
            let scale = dStored * Float(sc[j])
            guard scale > 0 else { continue }
            for l in 0..<16 { q[j * 16 + l] = UInt8(max(-32, min(31, roundf(x[j * 16 + l] / scale))) + 32) }
        }
        let ql = out
        let qh = out + 128
        for half in 0..<2 {
            let e = half * 128
            for l in 0..<32 {
                ql[half * 64 + l] = (q[e + l] & 0xf) | ((q[e + l + 64] & 0xf) << 4)
                ql[half * 64 + l + 32] = (q[e + l + 32] & 0xf) | ((q[e + l + 96] & 0xf) << 4)
                qh[half * 32 + l] =
                    (q[e + l] >> 4) | ((q[e + l + 32] >> 4) << 2) | ((q[e + l + 64] >> 4) << 4)
                    | ((q[e + l + 96] >> 4) << 6)
            }
        }
        for j in 0..<16 { out[192 + j] = UInt8(bitPattern: sc[j]) }
        out[208] = UInt8(dh & 0xff)
        out[209] = UInt8(dh >> 8)
    }
}
