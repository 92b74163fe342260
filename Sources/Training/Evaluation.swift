import Foundation
import Kernels
import Models

/// Mean next-token loss over the learned (labelled) tokens of a set of examples.
public struct Evaluation: Sendable, Codable, Equatable {
    public var loss: Double
    public var perplexity: Double
    public var tokens: Int

    enum CodingKeys: String, CodingKey {
        case loss
        case perplexity
        case tokens
    }

    /// Examples with no token to score: a mean over nothing is not a loss.
    public struct NothingToScore: Error, CustomStringConvertible {
        public var description: String { "no token to score: every row has nothing to learn" }
    }

    /// Runs the model (with whatever adapters are attached) over `examples`; throws
    /// ``NothingToScore`` when no example has a token to score.
    public static func run(_ model: LlamaModel, on examples: [EncodedExample]) throws -> Evaluation {
        var total = 0.0
        var count = 0
        for e in examples {
            let n = e.targetCount
            guard n > 0 else { continue }
            let logits = try model.logits(inputIDs: [e.ids])
            // The gradient, unused, is written over the logits.
            let mean = CrossEntropy.forwardBackward(
                logits: logits.pointer, labels: e.labels, vocab: model.configuration.vocabSize, dlogits: logits.pointer)
            total += Double(mean) * Double(n)
            count += n
        }
        guard count > 0 else { throw NothingToScore() }
        let loss = total / Double(count)
        return Evaluation(loss: loss, perplexity: exp(loss), tokens: count)
    }
}
