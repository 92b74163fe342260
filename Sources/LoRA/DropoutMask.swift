import Kernels

/// A dropout mask over `count` inputs, one bit each (set = kept), with the scale of kept inputs:
/// a training forward keeps its mask for the backward pass at 1/32 of the memory of a float mask.
struct DropoutMask {
    let count: Int
    /// 1 / (1 − p), the factor of kept inputs (inverted dropout, as torch.nn.Dropout).
    let keep: Float
    private var words: [UInt64]

    /// Draws the mask: input `i` is kept when the generator's `i`-th unit value is at least `p`.
    init(count: Int, probability p: Float, random: inout SplitMix64) {
        self.count = count
        keep = 1 / (1 - p)
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
        for i in 0..<count where random.unit() >= p { words[i >> 6] |= 1 << UInt64(i & 63) }
    }

    /// The factor of input `i`: `keep` or 0.
    @inline(__always) subscript(i: Int) -> Float { words[i >> 6] >> UInt64(i & 63) & 1 == 0 ? 0 : keep }

    /// `out[i] = x[i] · self[i]`.
    func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        words.withUnsafeBufferPointer { w in
            for i in 0..<count { out[i] = w[i >> 6] >> UInt64(i & 63) & 1 == 0 ? 0 : x[i] * keep }
        }
    }

    /// `out[i] += g[i] · self[i]`.
    func accumulate(_ g: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        words.withUnsafeBufferPointer { w in
            for i in 0..<count where w[i >> 6] >> UInt64(i & 63) & 1 != 0 { out[i] += g[i] * keep }
        }
    }
}
