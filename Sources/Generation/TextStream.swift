import Tokenizers

/// Turns generated ids into text deltas that are safe to show: complete UTF-8 characters only,
/// special tokens skipped, and text that could be the start of a stop string held back until
/// it is known not to be one. Once a stop string appears the text is cut before it.
struct TextStream {
    private var detokenizer: StreamingDetokenizer
    private let stop: [String]
    /// Everything decoded so far (cut at a stop string once one is seen).
    private(set) var text = ""
    /// How much of `text` was handed out.
    private var emitted = 0
    private var stopped = false

    init(tokenizer: Tokenizer, stop: [String]) {
        detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
        self.stop = stop
    }

    /// Adds a token; returns the text now safe to emit and whether a stop string ended it.
    mutating func append(_ id: Int) -> (String, Bool) {
        guard !stopped else { return ("", true) }
        text += detokenizer.append(id)
        if let cut = earliestStop() {
            text = String(text.unicodeScalars[..<cut])
            stopped = true
            return (takeEmittable(holdBack: 0), true)
        }
        return (takeEmittable(holdBack: longestPartialStop()), false)
    }

    /// Flushes what was held back at the end of generation.
    mutating func finish() -> String {
        if !stopped {
            text += detokenizer.flush()
            if let cut = earliestStop() { text = String(text.unicodeScalars[..<cut]) }
        }
        return takeEmittable(holdBack: 0)
    }

    private func earliestStop() -> String.Index? {
        // Compare scalar by scalar: `range(of:)` on String matches whole Characters only.
        stop.compactMap { text.unicodeScalars.firstRange(of: $0.unicodeScalars)?.lowerBound }.min()
    }

    /// The length in scalars of the longest suffix of `text` that is a proper prefix of a stop string.
    private func longestPartialStop() -> Int {
        var best = 0
        let scalars = Array(text.unicodeScalars)
        for s in stop {
            let stopScalars = Array(s.unicodeScalars)
            var n = min(stopScalars.count - 1, scalars.count)
            while n > best {
                if scalars.suffix(n).elementsEqual(stopScalars.prefix(n)) {
                    best = n
                    break
                }
                n -= 1
            }
        }
        return best
    }

    private mutating func takeEmittable(holdBack: Int) -> String {
        // Count Unicode scalars, not Characters: a later scalar may join an emitted grapheme.
        let scalars = text.unicodeScalars
        let end = scalars.count - holdBack
        guard end > emitted else { return "" }
        let from = scalars.index(scalars.startIndex, offsetBy: emitted)
        let to = scalars.index(scalars.startIndex, offsetBy: end)
        emitted = end
        return String(scalars[from..<to])
    }
}
