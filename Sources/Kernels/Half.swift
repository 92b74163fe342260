/// IEEE 754 half and bfloat16 conversions by bit manipulation (identical on every platform).
public enum Half {
    /// Float → half bits, round to nearest even (overflow → inf).
    public static func bits(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exp = Int((x >> 23) & 0xff)
        var mant = x & 0x7f_ffff
        if exp == 0xff { return sign | 0x7c00 | (mant != 0 ? 0x200 : 0) }
        let e = exp - 127 + 15
        if e >= 31 { return sign | 0x7c00 }
        if e <= 0 {
            if e < -10 { return sign }
            mant |= 0x80_0000
            let shift = UInt32(14 - e)
            let half = mant >> shift
            let rest = mant & ((1 << shift) - 1)
            let midpoint: UInt32 = 1 << (shift - 1)
            let rounded = half + ((rest > midpoint || (rest == midpoint && half & 1 == 1)) ? 1 : 0)
            return sign | UInt16(rounded)
        }
        var h = UInt32(e) << 10 | (mant >> 13)
        let rest = mant & 0x1fff
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(h)
    }

    /// Half bits → Float, exact.
    public static func float(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = UInt32(h >> 10) & 0x1f
        let mant = UInt32(h & 0x3ff)
        if exp == 0x1f { return Float(bitPattern: sign | 0x7f80_0000 | mant << 13) }
        if exp != 0 { return Float(bitPattern: sign | (exp + 112) << 23 | mant << 13) }
        let magnitude = Float(mant) * 0x1p-24
        return sign != 0 ? -magnitude : magnitude
    }

    /// Float → bfloat16 bits, round to nearest even.
    public static func bfloat16Bits(_ f: Float) -> UInt16 {
        let x = f.bitPattern
        if f.isNaN { return UInt16(x >> 16) | 0x40 }
        return UInt16((x &+ 0x7fff &+ ((x >> 16) & 1)) >> 16)
    }
}
