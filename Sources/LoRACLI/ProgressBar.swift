import Foundation
import Training

/// A one-line progress bar on standard error, redrawn in place after each optimizer step:
/// `[███████░░░░░░░░░░░░░]  35% 42/120  loss 1.4971  96 tok/s  ETA 1m05s`.
/// Log lines printed meanwhile go above it.
struct ProgressBar {
    var width = 24
    private var drawn = false

    /// The bar's text for a progress report (no control characters).
    static func line(_ p: LoRATrainer.Progress, width: Int = 24) -> String {
        let fraction = p.totalSteps > 0 ? min(1, Double(p.step) / Double(p.totalSteps)) : 0
        let filled = Int((fraction * Double(width)).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let remaining = p.step > 0 ? p.elapsed / Double(p.step) * Double(p.totalSteps - p.step) : 0
        return String(
            format: "[%@] %3.0f%% %d/%d  loss %.4f  %.0f tok/s  ETA %@", bar, fraction * 100, p.step, p.totalSteps,
            p.loss, p.tokensPerSecond, duration(remaining))
    }

    /// `65` → `1m05s`, `3725` → `1h02m`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }

    mutating func update(_ p: LoRATrainer.Progress) {
        write("\r\u{1B}[K" + Self.line(p, width: width))
        drawn = true
    }

    /// Prints a log line above the bar.
    mutating func log(_ message: String) {
        write((drawn ? "\r\u{1B}[K" : "") + message + "\n")
    }

    mutating func finish() {
        if drawn { write("\n") }
        drawn = false
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
