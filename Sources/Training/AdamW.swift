import Foundation
import Kernels

/// AdamW (Loshchilov & Hutter 2019) exactly as `torch.optim.AdamW` computes it in float32:
/// decoupled weight decay `p -= lr·wd·p`, moments with bias correction, and
/// `p -= (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε)`.
public struct AdamW: Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    /// Steps taken so far.
    public private(set) var step = 0
    /// First and second moments, one pair per parameter tensor, in the order given to ``update(_:)``.
    public private(set) var moments: [(m: [Float], v: [Float])] = []

    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0.01
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    /// One step on every `(parameter, gradient)` pair, at the current `learningRate`.
    public mutating func update(_ parameters: [(parameter: Tensor, gradient: Tensor)]) {
        if moments.isEmpty {
            moments = parameters.map {
                ([Float](repeating: 0, count: $0.parameter.count), [Float](repeating: 0, count: $0.parameter.count))
            }
        }
        step += 1
        let t = Float(step)
        let correction1 = 1 - powf(beta1, t)
        let correction2Root = (1 - powf(beta2, t)).squareRoot()
        let stepSize = learningRate / correction1
        for (i, pair) in parameters.enumerated() {
            let p = pair.parameter.pointer
            let g = pair.gradient.pointer
            var (mArray, vArray) = moments[i]
            moments[i] = ([], [])  // keep the arrays uniquely referenced while they are updated
            let (lr, wd, b1, b2, eps) = (learningRate, weightDecay, beta1, beta2, epsilon)
            mArray.withUnsafeMutableBufferPointer { m in
                vArray.withUnsafeMutableBufferPointer { v in
                    for j in 0..<pair.parameter.count {
                        p[j] *= 1 - lr * wd
                        m[j] = b1 * m[j] + (1 - b1) * g[j]
                        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j]
                        let denominator = v[j].squareRoot() / correction2Root + eps
                        p[j] -= stepSize * (m[j] / denominator)
                    }
                }
            }
            moments[i] = (mArray, vArray)
        }
    }

    /// Restores a checkpointed optimizer.
    public mutating func restore(step: Int, moments: [(m: [Float], v: [Float])]) {
        self.step = step
        self.moments = moments
    }
}
