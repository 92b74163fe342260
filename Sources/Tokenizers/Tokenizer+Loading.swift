import Foundation

extension Tokenizer {
    /// A tokenizer from `tokenizer.json` (and optionally `tokenizer_config.json`) contents.
    public convenience init(tokenizerJSON: Data, tokenizerConfig: Data? = nil, source: String = "tokenizer.json") throws
    {
        guard let root = (try? JSONSerialization.jsonObject(with: tokenizerJSON)) as? [String: Any] else {
            throw TokenizerError.invalidJSON(source, "not a JSON object")
        }
        guard let modelJSON = root["model"] as? [String: Any] else {
            throw TokenizerError.missingField(source, "model")
        }
        let type = modelJSON["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupported(source, "model type '\(type)' (only BPE)") }
        guard let vocabJSON = modelJSON["vocab"] as? [String: Any] else {
            throw TokenizerError.missingField(source, "model.vocab")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(vocabJSON.count)
        for (token, id) in vocabJSON {
            guard let n = (id as? NSNumber)?.intValue, n >= 0 else {
                throw TokenizerError.invalidJSON(source, "model.vocab['\(token)']")
            }
            vocabulary[token] = n
        }
        let merges = try Self.parseMerges(modelJSON["merges"] as? [Any] ?? [], source: source)
        var unknown: Int?
        if let u = modelJSON["unk_token"] as? String { unknown = vocabulary[u] }
        let bpe = try BPEModel(
            vocabulary: vocabulary, merges: merges, unknownID: unknown,
            ignoreMerges: modelJSON["ignore_merges"] as? Bool ?? false,
            byteFallback: modelJSON["byte_fallback"] as? Bool ?? false, source: source)
        let added = (root["added_tokens"] as? [[String: Any]] ?? []).compactMap { t -> AddedTokens.Token? in
            guard let id = (t["id"] as? NSNumber)?.intValue, let content = t["content"] as? String else { return nil }
            return AddedTokens.Token(
                id: id, content: content, special: t["special"] as? Bool ?? false,
                lstrip: t["lstrip"] as? Bool ?? false,
                rstrip: t["rstrip"] as? Bool ?? false)
        }
        let (prefix, suffix) = try Self.parsePostProcessor(root["post_processor"], source: source)
        var config: [String: Any] = [:]
        if let tokenizerConfig {
            guard let c = (try? JSONSerialization.jsonObject(with: tokenizerConfig)) as? [String: Any] else {
                throw TokenizerError.invalidJSON("tokenizer_config.json", "not a JSON object")
            }
            config = c
        }
        func tokenText(_ key: String) -> String? {
            if let s = config[key] as? String { return s }
            return (config[key] as? [String: Any])?["content"] as? String
        }
        var template: String?
        if let t = config["chat_template"] as? String {
            template = t
        } else if let list = config["chat_template"] as? [[String: Any]] {
            template = (list.first { $0["name"] as? String == "default" } ?? list.first)?["template"] as? String
        }
        self.init(
            model: bpe, normalizer: try Normalizer(json: root["normalizer"], source: source),
            preTokenizer: try PreTokenizer(json: root["pre_tokenizer"], source: source),
            decoder: try TokenDecoder(json: root["decoder"], source: source), added: AddedTokens(added),
            prefixIDs: prefix, suffixIDs: suffix, bos: tokenText("bos_token"), eos: tokenText("eos_token"),
            pad: tokenText("pad_token"), addBOS: config["add_bos_token"] as? Bool ?? false, chatTemplate: template)
    }

    /// Loads `tokenizer.json`, `tokenizer_config.json` and `chat_template.jinja` (which, when
    /// present, is the chat template) from a Hugging Face model folder.
    public static func load(folder: URL) throws -> Tokenizer {
        let json = folder.appendingPathComponent("tokenizer.json")
        guard let data = FileManager.default.contents(atPath: json.path) else {
            throw TokenizerError.missingFile(json.path)
        }
        let config = FileManager.default.contents(atPath: folder.appendingPathComponent("tokenizer_config.json").path)
        let base = try Tokenizer(tokenizerJSON: data, tokenizerConfig: config, source: json.path)
        let jinja = folder.appendingPathComponent("chat_template.jinja")
        guard let template = FileManager.default.contents(atPath: jinja.path) else { return base }
        return base.withChatTemplate(String(decoding: template, as: UTF8.self))
    }

    func withChatTemplate(_ template: String) -> Tokenizer {
        Tokenizer(
            model: model, normalizer: normalizer, preTokenizer: preTokenizer, decoder: decoder, added: addedTokens,
            prefixIDs: prefixIDs, suffixIDs: suffixIDs, bos: bosToken, eos: eosToken,
            pad: padTokenID.flatMap(tokenString),
            addBOS: false, chatTemplate: template)
    }

    /// Merges as `"a b"` strings or `["a", "b"]` pairs (both forms `tokenizers` writes).
    static func parseMerges(_ items: [Any], source: String) throws -> [(String, String)] {
        try items.enumerated().map { i, item in
            if let s = item as? String {
                guard let space = s.firstIndex(of: " ") else {
                    throw TokenizerError.invalidJSON(source, "merge \(i) '\(s)'")
                }
                return (String(s[..<space]), String(s[s.index(after: space)...]))
            }
            if let pair = item as? [String], pair.count == 2 { return (pair[0], pair[1]) }
            throw TokenizerError.invalidJSON(source, "merge \(i)")
        }
    }

    /// The ids a TemplateProcessing post-processor puts around a single sequence.
    static func parsePostProcessor(_ json: Any?, source: String) throws -> ([Int], [Int]) {
        guard let object = json as? [String: Any] else { return ([], []) }
        switch object["type"] as? String ?? "" {
        case "TemplateProcessing":
            let specials = object["special_tokens"] as? [String: [String: Any]] ?? [:]
            var prefix: [Int] = []
            var suffix: [Int] = []
            var seenSequence = false
            for piece in object["single"] as? [[String: Any]] ?? [] {
                if piece["Sequence"] != nil {
                    seenSequence = true
                } else if let special = piece["SpecialToken"] as? [String: Any], let name = special["id"] as? String {
                    let ids = (specials[name]?["ids"] as? [NSNumber] ?? []).map(\.intValue)
                    if seenSequence { suffix += ids } else { prefix += ids }
                }
            }
            return (prefix, suffix)
        case "ByteLevel", "": return ([], [])
        case "Sequence":
            var result: ([Int], [Int]) = ([], [])
            for p in object["processors"] as? [Any] ?? [] {
                let r = try parsePostProcessor(p, source: source)
                result.0 += r.0
                result.1 += r.1
            }
            return result
        case let other: throw TokenizerError.unsupported(source, "post_processor type '\(other)'")
        }
    }
}
