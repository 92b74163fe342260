import Foundation
import Models
import Testing
import TestSupport
import Tokenizers

@testable import Generation

/// Streaming text deltas and stop conditions on a real tokenizer and model.
@Suite struct StreamingTests {
    static let tokenizer = try? Tokenizer.load(folder: Fixtures.url("tiny-llama"))

    @Test func stopStringsCutTheTextAndAreNeverStreamed() throws {
        let t = try #require(Self.tokenizer)
        let ids = t.encode("The answer is 42.\nUser: more? no")
        var stream = TextStream(tokenizer: t, stop: ["\nUser:"])
        var deltas: [String] = []
        var stopped = false
        for id in ids {
            let (delta, stop) = stream.append(id)
            deltas.append(delta)
            if stop {
                stopped = true
                break
            }
        }
        deltas.append(stream.finish())
        #expect(stopped)
        #expect(deltas.joined() == "The answer is 42.")
        #expect(stream.text == "The answer is 42.")
        #expect(!deltas.contains { $0.contains("User") })
    }

    @Test func partialStopPrefixIsReleasedWhenItIsNotAStop() throws {
        let t = try #require(Self.tokenizer)
        var stream = TextStream(tokenizer: t, stop: ["\nUser:"])
        var out = ""
        for id in t.encode("a\nb\nUse it") { out += stream.append(id).0 }
        out += stream.finish()
        #expect(out == "a\nb\nUse it")
    }

    @Test func multiByteCharactersAreNeverSplitAcrossDeltas() throws {
        let t = try #require(Self.tokenizer)
        var stream = TextStream(tokenizer: t, stop: [])
        var deltas: [String] = []
        for id in t.encode("🙂 低秩 🚀") { deltas.append(stream.append(id).0) }
        deltas.append(stream.finish())
        #expect(deltas.joined() == "🙂 低秩 🚀")
        #expect(!deltas.joined(separator: "|").contains("\u{FFFD}"))
    }

    @Test func generatorStopsOnMaxTokensAndCallerRequest() throws {
        let loaded = try ModelLoader.load(path: Fixtures.url("tiny-llama").path)
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
        var parameters = GenerationParameters(maxTokens: 6, temperature: 0.9, seed: 1)
        let result = try generator.generate(promptIDs: loaded.promptIDs("Hello there"), parameters: parameters)
        #expect(result.ids.count == 6 && result.finishReason == .length)
        var calls = 0
        parameters.maxTokens = 50
        let stopped = try generator.generate(promptIDs: loaded.promptIDs("Hello there"), parameters: parameters) { _ in
            calls += 1
            return calls < 2
        }
        #expect(stopped.finishReason == .cancelled)
        #expect(stopped.ids.count < 50)
        #expect(throws: GenerationError.emptyPrompt) { try generator.generate(promptIDs: [], parameters: parameters) }
    }
}
