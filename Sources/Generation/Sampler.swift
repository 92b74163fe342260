/// Picks the next token from a row of logits, the way transformers' `generate` does: the
/// logit bias (OpenAI's) and the repetition penalty first, then temperature, top-k, top-p and
/// min-p, then a draw from the remaining distribution (or argmax when the temperature is 0).
public struct Sampler: Sendable {
    public let parameters: GenerationParameters
    public private(set) var random: Xoshiro256

    public init(parameters: GenerationParameters) {
        self.parameters = parameters
        random = Xoshiro256(seed: parameters.seed)
    }

    /// Chooses a token. `logits` is modified in place (penalties and temperature applied).
    /// - Parameters:
    ///   - context: every token so far (prompt and generated), for the repetition penalty.
    ///   - generatedCounts: how often each generated token occurred, for presence/frequency penalties.
    public mutating func sample(
        logits: UnsafeMutableBufferPointer<Float>, context: some Collection<Int>, generatedCounts: [Int: Int] = [:]
    ) -> Int {
        let p = parameters
        for (id, bias) in p.logitBias where id >= 0 && id < logits.count { logits[id] += bias }
        if p.repetitionPenalty != 1 {
            for id in Set(context) where id >= 0 && id < logits.count {
                let x = logits[id]
                logits[id] = x < 0 ? x * p.repetitionPenalty : x / p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (id, n) in generatedCounts where id >= 0 && id < logits.count {
                logits[id] -= p.presencePenalty + p.frequencyPenalty * Float(n)
            }
        }
        if p.temperature == 0 { return Self.argmax(UnsafeBufferPointer(logits)) }
        // Logits divided by a tiny temperature can overflow to infinity (and the probabilities
        // to NaN); then they are shifted by their largest first, leaving the top token(s) at 0.
        // Otherwise they are divided as they are, as transformers' temperature warper does.
        var largest: Float = 0
        for x in logits where x.isFinite { largest = max(largest, abs(x)) }
        let shift = (largest / p.temperature).isFinite ? 0 : logits[Self.argmax(UnsafeBufferPointer(logits))]
        for i in logits.indices { logits[i] = (logits[i] - shift) / p.temperature }
        // Only top-k, top-p and min-p need the candidates in order; plain sampling draws in id order.
        let ordered = p.topK > 0 || p.topP < 1 || p.minP > 0
        let candidates = Self.candidates(UnsafeBufferPointer(logits), topK: p.topK, sorted: ordered)
        // Probabilities of the candidates (unnormalized: the top token's is 1); the rest are
        // below float32 resolution.
        var top = -Float.infinity
        for c in candidates where c.logit > top { top = c.logit }
        let probabilities = candidates.map { expf($0.logit - top) }
        var kept = candidates.count
        if p.topP < 1 {
            let total = probabilities.reduce(0, +)
            var cumulative: Float = 0
            for (i, q) in probabilities.enumerated() {
                cumulative += q / total
                if cumulative >= p.topP {
                    kept = i + 1
                    break
                }
            }
        }
        if p.minP > 0 {
            // probabilities[0] is the top token's (unnormalized 1): keep those ≥ minP × it.
            kept = min(kept, max(1, probabilities.prefix(kept).firstIndex { $0 < p.minP } ?? kept))
        }
        // The draw walks the kept tokens in id order, as unfiltered sampling does, so a filter that
        // removes nothing (top-k of the whole vocabulary) gives the same token for the same seed.
        var drawn = Array(zip(candidates.prefix(kept).map(\.id), probabilities.prefix(kept)))
        if ordered { drawn.sort { $0.0 < $1.0 } }
        let total = drawn.reduce(0) { $0 + $1.1 }
        let u = random.nextUnitFloat() * total
        var cumulative: Float = 0
        for (id, q) in drawn {
            cumulative += q
            if u < cumulative { return id }
        }
        return drawn[drawn.count - 1].0
    }

    /// The index of the largest logit; the first one on ties, as `torch.argmax`.
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int {
        var best = 0
        var value = -Float.infinity
        for i in logits.indices where logits[i] > value {
            value = logits[i]
            best = i
        }
        return best
    }

    /// A token and its logit.
    struct Candidate {
        var logit: Float
        var id: Int
    }

    /// Tokens whose probability relative to the best exceeds e⁻⁴⁰ (smaller ones vanish in a
    /// float32 sum), or the top `topK` when set. `sorted`: by logit descending, ties by id.
    static func candidates(_ logits: UnsafeBufferPointer<Float>, topK: Int, sorted: Bool = true) -> [Candidate] {
        var best = -Float.infinity
        for x in logits where x > best { best = x }
        let floor = best - 40
        var list: [Candidate] = []
        list.reserveCapacity(logits.count)
        for (i, x) in logits.enumerated() where x >= floor && x > -Float.infinity {
            list.append(Candidate(logit: x, id: i))
        }
        if list.isEmpty { list = [Candidate(logit: best, id: argmax(logits))] }
        if sorted || topK > 0 {
            list.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        }
        if topK > 0, list.count > topK { list.removeLast(list.count - topK) }
        return list
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
