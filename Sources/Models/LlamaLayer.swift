import Kernels

/// One decoder block's weights, named after the checkpoint keys under `model.layers.N.`.
public struct LlamaLayer: Sendable {
    public var inputLayernorm: [Float]  // (H)
    public var qProj: WeightMatrix  // (Hq·D, H)
    public var kProj: WeightMatrix  // (Hkv·D, H)
    public var vProj: WeightMatrix  // (Hkv·D, H)
    public var oProj: WeightMatrix  // (H, Hq·D)
    public var qBias: [Float]?  // (Hq·D), Qwen2
    public var kBias: [Float]?  // (Hkv·D)
    public var vBias: [Float]?  // (Hkv·D)
    public var postAttentionLayernorm: [Float]  // (H)
    public var gateProj: WeightMatrix  // (I, H)
    public var upProj: WeightMatrix  // (I, H)
    public var downProj: WeightMatrix  // (H, I)
}

/// The names of a layer's projections as PEFT's `target_modules` and checkpoints spell them.
public enum LlamaProjection: String, CaseIterable, Sendable {
    case qProj = "q_proj"
    case kProj = "k_proj"
    case vProj = "v_proj"
    case oProj = "o_proj"
    case gateProj = "gate_proj"
    case upProj = "up_proj"
    case downProj = "down_proj"

    /// The module path inside the model, e.g. `model.layers.3.self_attn.q_proj`.
    public func modulePath(layer: Int) -> String {
        switch self {
        case .qProj, .kProj, .vProj, .oProj: "model.layers.\(layer).self_attn.\(rawValue)"
        case .gateProj, .upProj, .downProj: "model.layers.\(layer).mlp.\(rawValue)"
        }
    }
}

extension LlamaLayer {
    /// A projection's weight by name.
    public subscript(projection: LlamaProjection) -> WeightMatrix {
        get {
            switch projection {
            case .qProj: qProj
            case .kProj: kProj
            case .vProj: vProj
            case .oProj: oProj
            case .gateProj: gateProj
            case .upProj: upProj
            case .downProj: downProj
            }
        }
        set {
            switch projection {
            case .qProj: qProj = newValue
            case .kProj: kProj = newValue
            case .vProj: vProj = newValue
            case .oProj: oProj = newValue
            case .gateProj: gateProj = newValue
            case .upProj: upProj = newValue
            case .downProj: downProj = newValue
            }
        }
    }
}
