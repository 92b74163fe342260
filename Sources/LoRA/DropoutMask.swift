import Kernels

/// A dropout mask over `count` inputs, one bit each (set = kept), with the scale of kept inputs:
/// a training forward keeps its mask for the backward pass at 1/32 of the memory of a float mask.
/// Drawing and applying it run on the thread pool, with the draws of one sequential generator.
struct DropoutMask {
    let count: Int
    /// 1 / (1 − p), the factor of kept inputs (inverted dropout, as torch.nn.Dropout).
    let keep: Float
    private let words: [UInt64]

    /// Draws the mask: input `i` is kept when the generator's `i`-th unit value (from 0) is at
    /// least `p`; `random` ends advanced by `count` draws, as if drawn one by one.
    init(count: Int, probability p: Float, random: inout SplitMix64) {
        self.count = count
        keep = 1 / (1 - p)
        // unit() = (next() >> 40) · 2⁻²⁴ is at least p exactly when next() >> 40 is at least
        // ⌈p · 2²⁴⌉ (scaling by a power of two is exact): the same test on integers.
        let threshold = UInt64((p * 0x1p24).rounded(.up))
        let base = random.state
        let wordCount = (count + 63) / 64
        words = [UInt64](unsafeUninitializedCapacity: wordCount) { buffer, initialized in
            let out = buffer.baseAddress!
            ThreadPool.shared.parallelRanges(wordCount, minimumPerThread: 1024) { range in
                for w in range {
                    var word: UInt64 = 0
                    var state = base &+ UInt64(w * 64) &* SplitMix64.gamma
                    for bit in 0..<UInt64(min(64, count - w * 64)) {
                        state &+= SplitMix64.gamma
                        if SplitMix64.mix(state) >> 40 >= threshold { word |= 1 << bit }
                    }
                    out[w] = word
                }
            }
            initialized = wordCount
        }
        random.state = base &+ UInt64(count) &* SplitMix64.gamma
    }

    /// The factor of input `i`: `keep` or 0.
    subscript(i: Int) -> Float { words[i >> 6] >> UInt64(i & 63) & 1 == 0 ? 0 : keep }

    /// `out[i] = x[i] · self[i]`.
    func apply(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        forEachWord { w, word in
            for i in (w * 64)..<min(count, w * 64 + 64) {
                out[i] = word >> UInt64(i & 63) & 1 == 0 ? 0 : x[i] * keep
            }
        }
    }

    /// `out[i] += g[i] · self[i]`.
    func accumulate(_ g: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        forEachWord { w, word in
            for i in (w * 64)..<min(count, w * 64 + 64) where word >> UInt64(i & 63) & 1 != 0 {
                out[i] += g[i] * keep
            }
        }
    }

    /// Each word with its index, split over the pool (each element is touched by one task).
    private func forEachWord(_ body: (Int, UInt64) -> Void) {
        words.withUnsafeBufferPointer { w in
            ThreadPool.shared.parallelRanges(w.count, minimumPerThread: 1024) { range in
                for i in range { body(i, w[i]) }
            }
        }
    }
}
