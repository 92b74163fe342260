import Foundation
import ModelFiles
import Models
import Testing
import TestSupport

/// The model's float32 logits against transformers' on the same inputs (../shared/fixtures).
@Suite struct ReferenceLogitsTests {
    /// Largest absolute difference over rows `rows` of two `(rows, vocab)` arrays, and whether argmaxes agree.
    static func compare(
        _ ours: UnsafePointer<Float>, _ theirs: [Float], rows: [Int], vocab: Int
    ) -> (maxError: Float, argmaxAgrees: Bool) {
        var worst: Float = 0
        var agrees = true
        for r in rows {
            var bestOurs = 0
            var bestTheirs = 0
            for j in 0..<vocab {
                let a = ours[r * vocab + j]
                let b = theirs[r * vocab + j]
                worst = max(worst, abs(a - b))
                if a > ours[r * vocab + bestOurs] { bestOurs = j }
                if b > theirs[r * vocab + bestTheirs] { bestTheirs = j }
            }
            agrees = agrees && bestOurs == bestTheirs
        }
        return (worst, agrees)
    }

    @Test(arguments: ["tiny-llama", "tiny-qwen2"])
    func tinyModelMatchesTransformers(name: String) throws {
        let loaded = try ModelLoader.load(path: Fixtures.url(name).path)
        let reference = try SafetensorsFile(url: Fixtures.url("\(name)/reference-logits.safetensors"))
        let ids = try reference.tensor("input_ids").int32s().map(Int.init)
        let mask = try reference.tensor("attention_mask").int32s().map(Int.init)
        let expected = try reference.tensor("logits").floats()
        let (B, T) = (2, 16)
        let V = loaded.model.configuration.vocabSize
        let rowsIDs = (0..<B).map { Array(ids[$0 * T..<($0 + 1) * T]) }
        let rowsMask = (0..<B).map { Array(mask[$0 * T..<($0 + 1) * T]) }
        let logits = try loaded.model.logits(inputIDs: rowsIDs, attentionMask: rowsMask)
        // Every valid position: row 0 all 16, row 1 its first 11 (then right padding).
        let valid = (0..<B * T).filter { mask[$0] == 1 }
        #expect(valid.count == 27)
        let (error, agrees) = Self.compare(logits.pointer, expected, rows: valid, vocab: V)
        #expect(error < 1e-4, "max |Δlogit| = \(error)")
        #expect(agrees)
    }

    @Test func smolLM2MatchesTransformers() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let reference = try SafetensorsFile(url: Fixtures.url("smollm2/base-logits.safetensors"))
        let V = loaded.model.configuration.vocabSize
        for i in 0..<3 {
            let ids = try reference.tensor("prompt\(i).input_ids").int32s().map(Int.init)
            let expected = try reference.tensor("prompt\(i).logits").floats()
            let logits = try loaded.model.logits(inputIDs: [ids])
            let stored = expected.count / V
            // prompt0 stores every position, the others the last four.
            let first = ids.count - stored
            let ours = logits.pointer + first * V
            let (error, agrees) = Self.compare(ours, expected, rows: Array(0..<stored), vocab: V)
            #expect(error < 2e-3, "prompt\(i): max |Δlogit| = \(error)")
            #expect(agrees, "prompt\(i): argmax differs")
        }
    }
}
