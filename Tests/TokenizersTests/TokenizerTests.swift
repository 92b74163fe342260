import Foundation
import ModelFiles
import Testing
import TestSupport

@testable import Tokenizers

/// Token ids and decodes against Hugging Face `tokenizers` (../shared/fixtures/smollm2/tokenizer-smollm2.json).
@Suite struct TokenizerTests {
    struct Case: Decodable {
        var text: String
        var ids: [Int]
        var decoded: String
    }

    static let cases: [Case] =
        (try? JSONDecoder().decode([Case].self, from: Fixtures.data("smollm2/tokenizer-smollm2.json"))) ?? []

    /// Every tokenizer that must agree with the reference: both tiny models' tokenizer.json,
    /// a GGUF vocabulary built from that vocabulary, and the real GGUF when present.
    static func tokenizers() throws -> [(String, Tokenizer)] {
        var all: [(String, Tokenizer)] = [
            ("tiny-llama", try Tokenizer.load(folder: Fixtures.url("tiny-llama"))),
            ("tiny-qwen2", try Tokenizer.load(folder: Fixtures.url("tiny-qwen2"))),
            ("GGUF vocabulary from tokenizer.json", try ggufStandIn()),
        ]
        if let url = try Fixtures.smolLM2GGUF() {
            all.append(("SmolLM2 GGUF", try Tokenizer(ggufVocabulary: GGUFVocabulary(GGUFFile(url: url)))))
        }
        return all
    }

    /// The GGUF path fed with tiny-llama's tokenizer.json contents.
    static func ggufStandIn() throws -> Tokenizer {
        let root = try JSONSerialization.jsonObject(with: Fixtures.data("tiny-llama/tokenizer.json")) as! [String: Any]
        let model = root["model"] as! [String: Any]
        let vocab = model["vocab"] as! [String: Int]
        var tokens = [String](repeating: "", count: vocab.count)
        for (t, id) in vocab { tokens[id] = t }
        var types = [Int](repeating: 1, count: vocab.count)
        for added in root["added_tokens"] as! [[String: Any]] where added["special"] as? Bool == true {
            types[added["id"] as! Int] = 3
        }
        let merges = (model["merges"] as! [[String]]).map { $0.joined(separator: " ") }
        return try Tokenizer(
            ggufVocabulary: GGUFVocabulary(
                model: "gpt2", pre: "smollm", tokens: tokens, tokenTypes: types, merges: merges, bosTokenID: 1,
                eosTokenID: 2, padTokenID: 2, unknownTokenID: 0, addBOSToken: false, chatTemplate: nil))
    }

    /// A GGUF's end-of-turn control tokens end generation (as in llama.cpp); text alone is not enough.
    @Test func endOfGenerationTokensAreControlTokensByText() {
        let vocabulary = GGUFVocabulary(
            model: "gpt2", pre: nil, tokens: ["a", "<|endoftext|>", "<|im_end|>", "<|im_start|>", "<|eot_id|>"],
            tokenTypes: [1, 3, 3, 3, 1], merges: [], bosTokenID: nil, eosTokenID: 2, padTokenID: nil,
            unknownTokenID: nil, addBOSToken: nil, chatTemplate: nil)
        #expect(vocabulary.endOfGenerationIDs == [1, 2])
    }

    @Test func idsAndDecodesEqualTheReference() throws {
        #expect(Self.cases.count == 13)
        for (name, tokenizer) in try Self.tokenizers() {
            for c in Self.cases {
                #expect(tokenizer.encode(c.text) == c.ids, "\(name): \(c.text.debugDescription)")
                #expect(tokenizer.decode(c.ids) == c.decoded, "\(name): decode \(c.text.debugDescription)")
            }
        }
    }

    @Test func heapMergesEqualTheRescanningReference() throws {
        let tokenizer = try Tokenizer.load(folder: Fixtures.url("tiny-llama"))
        let bpe = tokenizer.model
        // Words over a small alphabet merge a lot; lengths up to a few thousand symbols.
        var random = UInt64(7)
        func next() -> Int {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(random >> 33)
        }
        let alphabet = Array("aeinrst ĠabcĊ").map(String.init).filter { bpe.vocabulary[$0] != nil }
        #expect(alphabet.count > 5)
        for length in [2, 3, 10, 50, 300, 3000] {
            for _ in 0..<5 {
                let symbols = (0..<length).map { _ in bpe.vocabulary[alphabet[next() % alphabet.count]]! }
                #expect(BPEModel.merged(symbols, bpe.merges) == BPEModel.mergedByScanning(symbols, bpe.merges))
            }
        }
        // A long word without spaces (base64, minified code) is read in one pass, not rescanned.
        let long = tokenizer.encode(String(repeating: "ab", count: 100_000), addSpecialTokens: false)
        #expect(tokenizer.decode(long) == String(repeating: "ab", count: 100_000))
    }

    @Test func specialTokensAndSkipping() throws {
        let t = try Tokenizer.load(folder: Fixtures.url("tiny-llama"))
        #expect(t.bosTokenID == 1 && t.eosTokenIDs == [2] && t.padTokenID == 2)
        #expect(t.isSpecial(2) && !t.isSpecial(19556))
        let ids = t.encode("<|im_start|>assistant\nHi<|im_end|>")
        #expect(ids.first == 1 && ids.last == 2)
        #expect(t.decode(ids, skipSpecialTokens: true) == "assistant\nHi")
        #expect(t.vocabularySize == 49152)
        #expect(t.chatTemplate?.contains("im_start") == true)
    }

    /// The `Digits` pre-tokenizer as the `tokenizers` library splits (its `pre_tokenize_str`):
    /// by code point, number categories only (CJK numerals such as 一 are letters there).
    @Test func digitsSplitAsTheTokenizersLibrary() throws {
        let cases: [(String, individual: [String], grouped: [String])] = [
            ("她是一个12", ["她是一个", "1", "2"], ["她是一个", "12"]),
            ("a12b٣٤Ⅻ½x", ["a", "1", "2", "b", "٣", "٤", "Ⅻ", "½", "x"], ["a", "12", "b", "٣٤Ⅻ½", "x"]),
            ("1\u{0301} 2", ["1", "\u{0301} ", "2"], ["1", "\u{0301} ", "2"]),
        ]
        for (text, individual, grouped) in cases {
            let single = try PreTokenizer(json: ["type": "Digits", "individual_digits": true], source: "test")
            let runs = try PreTokenizer(json: ["type": "Digits", "individual_digits": false], source: "test")
            #expect(single.apply([text]) == individual, "\(text.debugDescription)")
            #expect(runs.apply([text]) == grouped, "\(text.debugDescription)")
        }
    }

    @Test func handCodedSplitterAgreesWithTheRegex() throws {
        let regex = try NSRegularExpression(pattern: PreTokenizer.gpt2Pattern)
        var samples = Self.cases.map(\.text)
        samples += ["a  b", "x \n y", "it's  'tis  you're", "  \t\n", "1 22 333 a1b2", "‽!? ¿¡", "end   ", " 'll 'LL"]
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ab 1'\n\t!é漢🙂  ")
        for _ in 0..<300 { samples.append(String((0..<20).map { _ in alphabet.randomElement(using: &rng)! })) }
        for s in samples {
            let ns = s as NSString
            let want = regex.matches(in: s, range: NSRange(location: 0, length: ns.length)).map {
                ns.substring(with: $0.range)
            }
            #expect(GPT2Splitter.split(s) == want, "\(s.debugDescription)")
        }
    }

    @Test func streamingHoldsBackSplitCharacters() throws {
        let t = try Tokenizer.load(folder: Fixtures.url("tiny-llama"))
        for text in ["Emoji 🙂🚀 and 低秩适配 done", "日本語のテキストと한국어", "café 🧑‍🚀!"] {
            let ids = t.encode(text)
            var stream = StreamingDetokenizer(tokenizer: t, skipSpecialTokens: true)
            var pieces: [String] = []
            for id in ids { pieces.append(stream.append(id)) }
            pieces.append(stream.flush())
            #expect(pieces.joined() == text)
            #expect(!pieces.contains { $0.contains("\u{FFFD}") }, "a delta split a character")
        }
        // Some byte-level tokens of this text end inside a character, so some deltas must be empty.
        let ids = t.encode("🙂")
        #expect(ids.count > 1)
    }

    @Test func chatTextEncodesToPromptIDs() throws {
        struct Prompt: Decodable {
            var chat_text: String
            var input_ids: [Int]
        }
        let prompts = try JSONDecoder().decode([Prompt].self, from: Fixtures.data("smollm2/prompts.json"))
        for (name, t) in try Self.tokenizers() {
            for p in prompts { #expect(t.encode(p.chat_text) == p.input_ids, "\(name)") }
        }
    }

    @Test func unsupportedDefinitionsAreNamed() {
        let json = #"{"model": {"type": "WordPiece", "vocab": {}}}"#
        #expect(throws: TokenizerError.unsupported("t.json", "model type 'WordPiece' (only BPE)")) {
            try Tokenizer(tokenizerJSON: Data(json.utf8), source: "t.json")
        }
        let pre =
            #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}}"#
        #expect(throws: TokenizerError.unsupported("t.json", "pre_tokenizer type 'Whitespace'")) {
            try Tokenizer(tokenizerJSON: Data(pre.utf8), source: "t.json")
        }
        #expect(throws: TokenizerError.self) {
            try Tokenizer(
                ggufVocabulary: GGUFVocabulary(
                    model: "gpt2", pre: "mystery", tokens: ["a"], tokenTypes: [1], merges: [], bosTokenID: nil,
                    eosTokenID: nil, padTokenID: nil, unknownTokenID: nil, addBOSToken: nil, chatTemplate: nil))
        }
    }
}
