/// xoshiro256** seeded through SplitMix64: fast, small, and the same sequence on every platform,
/// so a seed reproduces a sample exactly. Its state can be saved and restored.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        state = (0..<4).map { _ in
            // SplitMix64 step (Steele, Lea, Flood 2014).
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    /// A uniform Float in [0, 1) from the top 24 bits.
    public mutating func nextUnitFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}
