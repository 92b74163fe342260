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

    /// Runs the model (with whatever adapters are attached) over `examples`.
    public static func run(_ model: LlamaModel, on examples: [EncodedExample]) throws -> Evaluation {
        var total = 0.0
        var count = 0
        for e in examples {
            let logits = try model.logits(inputIDs: [e.ids])
            let scratch = Tensor(zeros: logits.shape)
            // The first position's label is never predicted (logits at t predict the label at t + 1).
            let n = e.labelledCount - (e.labels.first == EncodedExample.ignored ? 0 : 1)
            guard n > 0 else { continue }
            let mean = CrossEntropy.forwardBackward(
                logits: logits.pointer, labels: e.labels, vocab: model.configuration.vocabSize, dlogits: scratch.pointer
            )
            total += Double(mean) * Double(n)
            count += n
        }
        let loss = count > 0 ? total / Double(count) : .nan
        return Evaluation(loss: loss, perplexity: exp(loss), tokens: count)
    }
}
