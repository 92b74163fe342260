/// A tokenizer as GGUF stores it (`tokenizer.ggml.*` metadata), before it is built into a ``Tokenizer``.
public struct GGUFVocabulary: Sendable {
    /// `tokenizer.ggml.model`: "gpt2" for byte-level BPE.
    public var model: String
    /// `tokenizer.ggml.pre`: which pre-tokenizer regex (llama.cpp's names, e.g. "smollm", "llama-bpe", "qwen2").
    public var pre: String?
    public var tokens: [String]
    /// 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
    public var tokenTypes: [Int]
    public var merges: [String]
    public var bosTokenID: Int?
    public var eosTokenID: Int?
    public var padTokenID: Int?
    public var unknownTokenID: Int?
    public var addBOSToken: Bool?
    public var chatTemplate: String?

    public init(
        model: String, pre: String?, tokens: [String], tokenTypes: [Int], merges: [String], bosTokenID: Int?,
        eosTokenID: Int?, padTokenID: Int?, unknownTokenID: Int?, addBOSToken: Bool?, chatTemplate: String?
    ) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.merges = merges
        self.bosTokenID = bosTokenID
        self.eosTokenID = eosTokenID
        self.padTokenID = padTokenID
        self.unknownTokenID = unknownTokenID
        self.addBOSToken = addBOSToken
        self.chatTemplate = chatTemplate
    }
}

extension Tokenizer {
    /// Builds the pipeline a GGUF vocabulary implies: byte-level BPE with the pre-tokenizer its
    /// `pre` names; control tokens become special added tokens, user-defined ones added tokens.
    public convenience init(ggufVocabulary v: GGUFVocabulary) throws {
        let source = "GGUF tokenizer"
        guard v.model == "gpt2" else {
            throw TokenizerError.unsupported(source, "tokenizer.ggml.model '\(v.model)' (only gpt2)")
        }
        guard v.tokenTypes.count == v.tokens.count else {
            throw TokenizerError.invalidJSON(source, "\(v.tokenTypes.count) token types for \(v.tokens.count) tokens")
        }
        let preTokenizer: PreTokenizer
        switch v.pre ?? "default" {
        case "default", "gpt2", "smollm", "gpt-2", "starcoder", "refact":
            preTokenizer = .byteLevel(addPrefixSpace: false, useRegex: true)
        case "llama-bpe", "llama3", "llama-v3":
            preTokenizer = .sequence([
                .split(
                    try PreTokenizer.compile(PreTokenizer.llama3Pattern, source: source), isolated: true, invert: false),
                .byteLevel(addPrefixSpace: false, useRegex: false),
            ])
        case "qwen2":
            preTokenizer = .sequence([
                .split(
                    try PreTokenizer.compile(PreTokenizer.qwen2Pattern, source: source), isolated: true, invert: false),
                .byteLevel(addPrefixSpace: false, useRegex: false),
            ])
        case let other: throw TokenizerError.unsupported(source, "tokenizer.ggml.pre '\(other)'")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(v.tokens.count)
        var added: [AddedTokens.Token] = []
        for (id, token) in v.tokens.enumerated() {
            if vocabulary[token] == nil { vocabulary[token] = id }
            if v.tokenTypes[id] == 3 || v.tokenTypes[id] == 4 {
                added.append(
                    .init(id: id, content: token, special: v.tokenTypes[id] == 3, lstrip: false, rstrip: false))
            }
        }
        let merges = try Tokenizer.parseMerges(v.merges, source: source)
        let bpe = try BPEModel(vocabulary: vocabulary, merges: merges, unknownID: nil, source: source)
        let name: (Int?) -> String? = { $0.flatMap { $0 >= 0 && $0 < v.tokens.count ? v.tokens[$0] : nil } }
        self.init(
            model: bpe, normalizer: .sequence([]), preTokenizer: preTokenizer, decoder: .byteLevel,
            added: AddedTokens(added), prefixIDs: [], suffixIDs: [], bos: name(v.bosTokenID), eos: name(v.eosTokenID),
            pad: name(v.padTokenID), addBOS: v.addBOSToken ?? false, chatTemplate: v.chatTemplate)
    }
}

extension GGUFVocabulary {
    /// Texts of control tokens that end a turn or a text in the chat formats llama.cpp knows.
    static let endOfGenerationTexts: Set = [
        "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
    ]

    /// Control tokens that end generation besides `eosTokenID`, found by their text as llama.cpp
    /// does: a GGUF names one end token, while Qwen2.5 stops on both <|im_end|> and <|endoftext|>.
    public var endOfGenerationIDs: [Int] {
        tokens.indices.filter { i in
            i < tokenTypes.count && tokenTypes[i] == 3 && Self.endOfGenerationTexts.contains(tokens[i])
        }
    }
}
