import Testing

import Generation

@Suite struct SamplerTests {
    func sample(_ logits: [Float], _ parameters: GenerationParameters, context: [Int] = [], draws: Int = 1) -> [Int] {
        var sampler = Sampler(parameters: parameters)
        return (0..<draws).map { _ in
            var row = logits
            return row.withUnsafeMutableBufferPointer { sampler.sample(logits: $0, context: context) }
        }
    }

    @Test func greedyTakesTheFirstLargestLogit() {
        #expect(sample([0.1, 3, -1, 3], .greedy) == [1])
    }

    @Test func repetitionPenaltyFollowsTransformers() {
        // transformers' RepetitionPenaltyLogitsProcessor: score < 0 ? score * p : score / p.
        var p = GenerationParameters.greedy
        p.repetitionPenalty = 2
        // Token 0 (4.0 → 2.0) falls below token 1 (3.0); token 2 (-1 → -2) stays last.
        #expect(sample([4, 3, -1], p, context: [0, 2, 0]) == [1])
        var penalized: [Float] = [4, 3, -1]
        var sampler = Sampler(parameters: p)
        _ = penalized.withUnsafeMutableBufferPointer { sampler.sample(logits: $0, context: [0, 2]) }
        #expect(penalized == [2, 3, -2])
    }

    @Test func logitBiasIsAddedBeforeEverythingElse() {
        var p = GenerationParameters.greedy
        p.logitBias = [0: -100, 2: 0.5]
        // Token 0 (4) is banned; token 2 (2.8 + 0.5) passes token 1 (3).
        #expect(sample([4, 3, 2.8], p) == [2])
        p = GenerationParameters(temperature: 1, seed: 3)
        p.logitBias = [1: 100]
        #expect(Set(sample([4, 0, 3], p, draws: 300)) == [1])
        p.logitBias = [1: -100]
        #expect(!sample([0, 5, 0], p, draws: 300).contains(1))
        // Biased before the repetition penalty, as OpenAI adds it to the model's logits.
        p = GenerationParameters.greedy
        p.logitBias = [0: 2]
        p.repetitionPenalty = 2
        var row: [Float] = [2, 3]
        var sampler = Sampler(parameters: p)
        _ = row.withUnsafeMutableBufferPointer { sampler.sample(logits: $0, context: [0]) }
        #expect(row == [2, 3])
        #expect(
            throws: GenerationError.invalidParameter(
                "logit_bias", "the bias of token 7 is 101.0, not between -100 and 100")
        ) {
            try GenerationParameters(logitBias: [7: 101]).validate()
        }
    }

    @Test func topKOfOneIsGreedyAtAnyTemperature() {
        var p = GenerationParameters(temperature: 5, topK: 1, seed: 7)
        #expect(Set(sample([0.5, 0.4, 2.0, 1.9], p, draws: 200)) == [2])
        p.topK = 2
        #expect(Set(sample([0.5, 0.4, 2.0, 1.9], p, draws: 400)) == [2, 3])
    }

    @Test func aFilterThatKeepsEveryTokenChangesNoDraw() {
        let logits: [Float] = (0..<300).map { Float(($0 * 37) % 101) * 0.05 }
        let plain = sample(logits, GenerationParameters(temperature: 1, seed: 5), draws: 200)
        #expect(sample(logits, GenerationParameters(temperature: 1, topK: 300, seed: 5), draws: 200) == plain)
        #expect(sample(logits, GenerationParameters(temperature: 1, topK: 1000, seed: 5), draws: 200) == plain)
        #expect(sample(logits, GenerationParameters(temperature: 1, topP: 1, minP: 1e-9, seed: 5), draws: 200) == plain)
    }

    @Test func topPKeepsTheSmallestSetReachingP() {
        // Probabilities 0.5, 0.3, 0.2: top_p 0.6 keeps {0, 1}; 0.5 keeps {0}.
        let logits: [Float] = [log(0.5), log(0.3), log(0.2)]
        #expect(Set(sample(logits, GenerationParameters(temperature: 1, topP: 0.6, seed: 1), draws: 500)) == [0, 1])
        #expect(Set(sample(logits, GenerationParameters(temperature: 1, topP: 0.5, seed: 1), draws: 200)) == [0])
    }

    @Test func minPDropsUnlikelyTokens() {
        // Relative probabilities 1, 0.6, 0.1: min_p 0.5 keeps the first two.
        let logits: [Float] = [0, log(0.6), log(0.1)]
        #expect(Set(sample(logits, GenerationParameters(temperature: 1, minP: 0.5, seed: 3), draws: 500)) == [0, 1])
    }

    @Test func samplesFollowTheDistribution() {
        let logits: [Float] = [log(0.5), log(0.3), log(0.2)]
        let draws = sample(logits, GenerationParameters(temperature: 1, seed: 11), draws: 20000)
        for (id, p) in [(0, 0.5), (1, 0.3), (2, 0.2)] {
            let frequency = Double(draws.filter { $0 == id }.count) / 20000
            #expect(abs(frequency - p) < 0.02, "token \(id): \(frequency) vs \(p)")
        }
    }

    @Test func aSeedReproducesAndAnotherSeedDiffers() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
        let a = sample(logits, GenerationParameters(temperature: 1, seed: 42), draws: 100)
        #expect(a == sample(logits, GenerationParameters(temperature: 1, seed: 42), draws: 100))
        #expect(a != sample(logits, GenerationParameters(temperature: 1, seed: 43), draws: 100))
    }

    @Test func temperatureSharpens() {
        let logits: [Float] = [1, 0]
        let cold = sample(logits, GenerationParameters(temperature: 0.1, seed: 5), draws: 2000)
        let hot = sample(logits, GenerationParameters(temperature: 10, seed: 5), draws: 2000)
        #expect(cold.filter { $0 == 0 }.count > 1990)
        #expect(abs(Double(hot.filter { $0 == 0 }.count) / 2000 - 0.525) < 0.04)
    }

    /// Dividing these logits by the temperature overflows float32: the draw is still among the
    /// largest logits, as the limit of sampling as the temperature goes to 0.
    @Test func aTinyTemperatureIsNearlyGreedy() {
        for temperature: Float in [1e-38, 1e-45, 1e-30] {
            let p = GenerationParameters(temperature: temperature, seed: 3)
            #expect(Set(sample([1, 5, 3, -2], p, draws: 50)) == [1], "\(temperature)")
            #expect(Set(sample([7, 2, 7, 0], p, draws: 200)) == [0, 2], "\(temperature)")
            #expect(Set(sample([-3, -1, -2], p, draws: 20)) == [1], "\(temperature)")
        }
        var p = GenerationParameters(temperature: 1e-38, topP: 0.5, seed: 3)
        #expect(Set(sample([1, 5, 3, -2], p, draws: 50)) == [1])
        p.minP = 0.1
        #expect(Set(sample([1, 5, 3, -2], p, draws: 50)) == [1])
    }

    @Test func invalidSettingsAreNamed() {
        #expect(throws: GenerationError.invalidParameter("top_p", "0.0 must be in (0, 1]")) {
            try GenerationParameters(topP: 0).validate()
        }
        #expect(throws: GenerationError.self) { try GenerationParameters(temperature: -1).validate() }
        #expect(throws: GenerationError.self) { try GenerationParameters(repetitionPenalty: 0).validate() }
    }
}

#if canImport(Glibc)
    import Glibc
#endif
