import Foundation

/// A Hugging Face `tokenizer.json` tokenizer (byte-level BPE: SmolLM2, Llama 3, Qwen2, GPT-2),
/// or the same vocabulary read from a GGUF file.
///
/// `encode` reads as the pipeline: split on added tokens, then for each other piece normalize,
/// pre-tokenize into words, and run BPE on each word; with `addSpecialTokens` the post-processor
/// adds what the model expects (e.g. a BOS token).
///
/// ```swift
/// let tokenizer = try Tokenizer.load(folder: URL(fileURLWithPath: "SmolLM2-135M-Instruct"))
/// let ids = tokenizer.encode("Hello, world!")        // [19556, 28, 905, 17]
/// let text = tokenizer.decode(ids)                   // "Hello, world!"
/// ```
public final class Tokenizer: @unchecked Sendable {
    let model: BPEModel
    let normalizer: Normalizer
    let preTokenizer: PreTokenizer
    let decoder: TokenDecoder
    let addedTokens: AddedTokens
    /// Ids the post-processor puts before and after a single sequence.
    let prefixIDs: [Int]
    let suffixIDs: [Int]

    public let bosTokenID: Int?
    public let eosTokenIDs: Set<Int>
    public let padTokenID: Int?
    public let bosToken: String?
    public let eosToken: String?
    /// Whether encoding with special tokens puts the BOS token first.
    public let addBOSToken: Bool
    /// The chat template shipped with the tokenizer, if any.
    public let chatTemplate: String?

    public var vocabularySize: Int { max(model.tokens.count, (addedTokens.maxID ?? -1) + 1) }

    init(
        model: BPEModel, normalizer: Normalizer, preTokenizer: PreTokenizer, decoder: TokenDecoder, added: AddedTokens,
        prefixIDs: [Int], suffixIDs: [Int], bos: String?, eos: String?, pad: String?, addBOS: Bool,
        chatTemplate: String?
    ) {
        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = decoder
        addedTokens = added
        self.bosToken = bos
        self.eosToken = eos
        self.chatTemplate = chatTemplate
        let lookup: (String?) -> Int? = { $0.flatMap { added.ids[$0] ?? model.vocabulary[$0] } }
        bosTokenID = lookup(bos)
        eosTokenIDs = Set([lookup(eos)].compactMap { $0 })
        padTokenID = lookup(pad)
        addBOSToken = addBOS
        self.prefixIDs =
            addBOS && !(prefixIDs.first == lookup(bos)) ? [lookup(bos)].compactMap { $0 } + prefixIDs : prefixIDs
        self.suffixIDs = suffixIDs
    }

    /// The token ids of `text`. Added tokens written in the text (e.g. `<|im_start|>`) are
    /// recognized as themselves; `addSpecialTokens` adds the post-processor's tokens.
    public func encode(_ text: String, addSpecialTokens: Bool = false) -> [Int] {
        var ids: [Int] = addSpecialTokens ? prefixIDs : []
        for segment in addedTokens.split(text) {
            switch segment {
            case .added(let id): ids.append(id)
            case .text(let piece):
                let normalized = normalizer.apply(piece)
                for word in preTokenizer.apply([normalized]) { ids += model.tokenize(word) }
            }
        }
        if addSpecialTokens { ids += suffixIDs }
        return ids
    }

    /// The text of `ids`; invalid UTF-8 becomes U+FFFD, as in Hugging Face's `decode`.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) -> String {
        var bytes: [UInt8] = []
        for id in ids { appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &bytes) }
        return String(decoding: bytes, as: UTF8.self)
    }

    func appendBytes(of id: Int, skipSpecialTokens: Bool, to bytes: inout [UInt8]) {
        if let added = addedTokens.byID[id] {
            if skipSpecialTokens && added.special { return }
            bytes += Array(added.content.utf8)
            return
        }
        guard let token = tokenString(id) else { return }
        bytes += decoder.bytes(of: token)
    }

    /// The vocabulary string of an id (in the byte-level alphabet for byte-level models).
    public func tokenString(_ id: Int) -> String? {
        if let added = addedTokens.byID[id] { return added.content }
        guard id >= 0, id < model.tokens.count else { return nil }
        return model.tokens[id]
    }

    /// The id of a vocabulary string or added token.
    public func tokenID(_ token: String) -> Int? { addedTokens.ids[token] ?? model.vocabulary[token] }

    /// Whether `id` is a special token (skipped by `decode(_:skipSpecialTokens: true)`).
    public func isSpecial(_ id: Int) -> Bool { addedTokens.byID[id]?.special ?? false }
}
