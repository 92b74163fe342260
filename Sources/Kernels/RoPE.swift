#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// RoPE frequency scaling schemes, as transformers' `ROPE_INIT_FUNCTIONS`.
public enum RoPEScaling: Sendable, Equatable {
    /// Positions divided by `factor`.
    case linear(factor: Float)
    /// Llama 3.1's frequency-dependent scaling.
    case llama3(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalMaxPositions: Int)
}

/// Rotary position embedding (Su et al. 2021) in Hugging Face's rotate-half convention: element
/// `i` of a head pairs with element `i + headDim/2`, rotated by `position · invFreq[i]`.
public struct RoPE: Sendable {
    public let headDim: Int
    /// `1 / theta^(2i/headDim)` for `i < headDim/2`, after scaling; float32 as torch computes it.
    public let inverseFrequencies: [Float]

    public init(headDim: Int, theta: Float, scaling: RoPEScaling? = nil) {
        self.headDim = headDim
        let half = headDim / 2
        var inv = (0..<half).map { 1 / powf(theta, Float(2 * $0) / Float(headDim)) }
        switch scaling {
        case .none: break
        case .linear(let factor): inv = inv.map { $0 / factor }
        case .llama3(let factor, let low, let high, let original):
            // transformers' _compute_llama3_parameters.
            let lowWavelength = Float(original) / low
            let highWavelength = Float(original) / high
            inv = inv.map { f in
                let wavelength = 2 * Float.pi / f
                if wavelength < highWavelength { return f }
                if wavelength > lowWavelength { return f / factor }
                let smooth = (Float(original) / wavelength - low) / (high - low)
                return (1 - smooth) * (f / factor) + smooth * f
            }
        }
        inverseFrequencies = inv
    }

    /// Rotates `x(rows, heads, headDim)` in place; row `r` is at `positions[r]`.
    public func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions: [Int]) {
        rotate(x, rows: rows, heads: heads, positions: positions, direction: 1)
    }

    /// Rotates by `direction` (1 or −1) times each row's angles; each row's angles are computed once.
    /// Rows are spread over the thread pool.
    func rotate(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions: [Int], direction: Float) {
        ThreadPool.shared.parallelRanges(rows, minimumPerThread: 16) { range in
            rotateRows(range, of: x, heads: heads, positions: positions, direction: direction)
        }
    }

    private func rotateRows(
        _ rows: Range<Int>, of x: UnsafeMutablePointer<Float>, heads: Int, positions: [Int], direction: Float
    ) {
        let half = headDim / 2
        let cosines = UnsafeMutablePointer<Float>.allocate(capacity: half)
        let sines = UnsafeMutablePointer<Float>.allocate(capacity: half)
        defer {
            cosines.deallocate()
            sines.deallocate()
        }
        inverseFrequencies.withUnsafeBufferPointer { inv in
            for r in rows {
                let p = Float(positions[r])
                for i in 0..<half {
                    let angle = p * inv[i]
                    cosines[i] = cosf(angle)
                    sines[i] = direction * sinf(angle)
                }
                for h in 0..<heads {
                    let v = x + (r * heads + h) * headDim
                    for i in 0..<half {
                        let a = v[i]
                        let b = v[i + half]
                        v[i] = a * cosines[i] - b * sines[i]
                        v[i + half] = b * cosines[i] + a * sines[i]
                    }
                }
            }
        }
    }
}

extension RoPE {
    /// Gradient of ``apply(_:rows:heads:positions:)``: the rotation is orthogonal, so its gradient
    /// is the rotation by the opposite angle. In place.
    public func backward(_ dx: UnsafeMutablePointer<Float>, rows: Int, heads: Int, positions: [Int]) {
        rotate(dx, rows: rows, heads: heads, positions: positions, direction: -1)
    }
}
