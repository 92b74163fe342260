import Foundation

/// Learning-rate schedules as transformers' `get_scheduler` defines them, evaluated at the
/// optimizer step index (0 for the first step, so warm-up starts from 0).
public enum LearningRateSchedule: String, Sendable, Codable, CaseIterable {
    /// The peak rate throughout; no warm-up (transformers ignores warm-up settings here, so a
    /// warm-up with it is refused by ``LoRATrainer/Parameters/validate()``).
    case constant
    /// A linear warm-up from 0, then the peak rate.
    case constantWithWarmup = "constant_with_warmup"
    case linear
    case cosine

    /// The multiplier of the peak learning rate at `step` of `total`, after `warmup` warm-up steps.
    public func factor(step: Int, total: Int, warmup: Int) -> Float {
        if self != .constant, step < warmup { return Float(step) / Float(max(1, warmup)) }
        switch self {
        case .constant, .constantWithWarmup: return 1
        case .linear: return max(0, Float(total - step) / Float(max(1, total - warmup)))
        case .cosine:
            let progress = Float(step - warmup) / Float(max(1, total - warmup))
            return max(0, 0.5 * (1 + cos(Float.pi * progress)))
        }
    }

    /// The names, as a message lists them.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
