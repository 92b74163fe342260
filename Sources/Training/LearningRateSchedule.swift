import Foundation

/// Learning-rate schedules as transformers' `get_scheduler` defines them, evaluated at the
/// optimizer step index (0 for the first step, so warm-up starts from 0).
public enum LearningRateSchedule: String, Sendable, Codable, CaseIterable {
    case constant
    case linear
    case cosine

    /// The multiplier of the peak learning rate at `step` of `total`, after `warmup` warm-up steps.
    public func factor(step: Int, total: Int, warmup: Int) -> Float {
        if step < warmup { return Float(step) / Float(max(1, warmup)) }
        switch self {
        case .constant: return 1
        case .linear: return max(0, Float(total - step) / Float(max(1, total - warmup)))
        case .cosine:
            let progress = Float(step - warmup) / Float(max(1, total - warmup))
            return max(0, 0.5 * (1 + cos(Float.pi * progress)))
        }
    }
}
