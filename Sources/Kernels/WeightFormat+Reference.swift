extension WeightFormat {
    /// Dequantization written element by element from the block layouts (ggml-common.h), for
    /// clarity; ``dequantizeRow(_:into:count:)`` is tested against it bit for bit.
    public func dequantizeRowReference(_ src: UnsafeRawPointer, count: Int) -> [Float] {
        let p = src.assumingMemoryBound(to: UInt8.self)
        func half(_ at: Int) -> Float { Half.float(UInt16(p[at]) | UInt16(p[at + 1]) << 8) }
        func int8(_ at: Int) -> Float { Float(Int8(bitPattern: p[at])) }
        var out = [Float](repeating: 0, count: count)
        for e in 0..<count {
            let b = e / blockElements * blockBytes  // block start
            let i = e % blockElements  // index inside the block
            switch self {
            case .f32: out[e] = src.loadUnaligned(fromByteOffset: 4 * e, as: Float.self)
            case .f16: out[e] = half(2 * e)
            case .bf16: out[e] = Float(bitPattern: UInt32(p[2 * e]) << 16 | UInt32(p[2 * e + 1]) << 24)
            case .q8_0: out[e] = half(b) * int8(b + 2 + i)
            case .q4_0:
                let byte = p[b + 2 + i % 16]
                out[e] = Float(Int(i < 16 ? byte & 0xf : byte >> 4) - 8) * half(b)
            case .q4_1:
                let byte = p[b + 4 + i % 16]
                out[e] = Float(i < 16 ? byte & 0xf : byte >> 4) * half(b) + half(b + 2)
            case .q4_K, .q5_K:
                // Sub-block s of 32; chunk c of 64 holds sub-blocks 2c (low nibbles) and 2c+1 (high).
                let s = i / 32
                let c = i / 64
                let l = i % 32
                let (sc, m) = Self.scaleMin(s, p + b + 4)
                let byte = p[b + (self == .q4_K ? 16 : 48) + c * 32 + l]
                var q = Int(s % 2 == 0 ? byte & 0xf : byte >> 4)
                if self == .q5_K, p[b + 16 + l] & (1 << UInt8(s)) != 0 { q += 16 }
                out[e] = half(b) * Float(sc) * Float(q) - half(b + 2) * Float(m)
            case .q6_K:
                // Half h of 128; inside it, element j = 32·g + l for group g of 4.
                let h = i / 128
                let j = i % 128
                let g = j / 32
                let l = j % 32
                let ql = p[b + h * 64 + l + (g % 2) * 32]
                let low = g < 2 ? ql & 0xf : ql >> 4
                let high = (p[b + 128 + h * 32 + l] >> UInt8(2 * g)) & 3
                let q = Int(low | high << 4) - 32
                let scale = int8(b + 192 + h * 8 + g * 2 + l / 16)
                out[e] = half(b + 208) * scale * Float(q)
            }
        }
        return out
    }

    /// The 6-bit scale and min of K-quant sub-block `j` from the 12 packed bytes.
    static func scaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (UInt8, UInt8) {
        if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
        return ((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}
