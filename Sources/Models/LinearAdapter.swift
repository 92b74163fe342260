/// Something added to a frozen projection's output: `y = W x (+ b) + Δ(x)`. LoRA adapters
/// implement it; the model calls every attached adapter of a projection right after its GEMM.
public protocol LinearAdapter: Sendable {
    /// `out(rows, outFeatures) += Δ(x(rows, inFeatures))`.
    func apply(_ x: UnsafePointer<Float>, rows: Int, accumulateInto out: UnsafeMutablePointer<Float>)
}

/// Names one projection of one layer.
public struct ProjectionKey: Hashable, Sendable {
    public var layer: Int
    public var projection: LlamaProjection
    public init(layer: Int, projection: LlamaProjection) {
        self.layer = layer
        self.projection = projection
    }

    /// The module path, e.g. `model.layers.3.self_attn.q_proj`.
    public var modulePath: String { projection.modulePath(layer: layer) }
}

extension LlamaModel {
    /// The projection's input and output sizes.
    public func shape(of key: ProjectionKey) -> (inFeatures: Int, outFeatures: Int) {
        let m = matrix(key)
        return (m.columns, m.rows)
    }

    func matrix(_ key: ProjectionKey) -> WeightMatrixView {
        let l = layers[key.layer]
        switch key.projection {
        case .qProj: return WeightMatrixView(l.qProj)
        case .kProj: return WeightMatrixView(l.kProj)
        case .vProj: return WeightMatrixView(l.vProj)
        case .oProj: return WeightMatrixView(l.oProj)
        case .gateProj: return WeightMatrixView(l.gateProj)
        case .upProj: return WeightMatrixView(l.upProj)
        case .downProj: return WeightMatrixView(l.downProj)
        }
    }
}

import Kernels

/// The sizes of a stored matrix.
struct WeightMatrixView {
    var rows: Int
    var columns: Int
    init(_ m: WeightMatrix) {
        rows = m.rows
        columns = m.columns
    }
}

/// An adapter that learns: given the gradient of its output it adds the gradient of its input
/// and accumulates the gradients of its own weights.
public protocol DifferentiableAdapter: LinearAdapter, AnyObject {
    /// The state of any randomness in its forward pass (dropout), so a recomputed forward
    /// (gradient checkpointing) draws the same values.
    var randomState: UInt64 { get set }

    /// `dx(rows, in) += ∂Δ/∂x · dy`, and the weight gradients `+=` their part, for input `x`.
    func backward(
        _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
        accumulateInputGradient dx: UnsafeMutablePointer<Float>)
}
