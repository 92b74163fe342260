import Foundation

/// One stage of the `tokenizer.json` pipeline that changes text before splitting (`normalizer`).
enum Normalizer {
    case nfc, nfkc, lowercase
    case prepend(String)
    case replace(String, String)
    case sequence([Normalizer])

    init(json: Any?, source: String) throws {
        guard let object = json as? [String: Any] else {
            self = .sequence([])
            return
        }
        let type = object["type"] as? String ?? ""
        switch type {
        case "NFC": self = .nfc
        case "NFKC": self = .nfkc
        case "Lowercase": self = .lowercase
        case "Prepend": self = .prepend(object["prepend"] as? String ?? "")
        case "Replace":
            guard let pattern = (object["pattern"] as? [String: Any])?["String"] as? String else {
                throw TokenizerError.unsupported(source, "Replace normalizer pattern (only String patterns)")
            }
            self = .replace(pattern, object["content"] as? String ?? "")
        case "Sequence":
            self = .sequence(
                try (object["normalizers"] as? [Any] ?? []).map { try Normalizer(json: $0, source: source) })
        default: throw TokenizerError.unsupported(source, "normalizer type '\(type)'")
        }
    }

    func apply(_ text: String) -> String {
        switch self {
        case .nfc: text.precomposedStringWithCanonicalMapping
        case .nfkc: text.precomposedStringWithCompatibilityMapping
        case .lowercase: text.lowercased()
        case .prepend(let p): text.isEmpty ? text : p + text
        case .replace(let a, let b): text.replacingOccurrences(of: a, with: b)
        case .sequence(let steps): steps.reduce(text) { $1.apply($0) }
        }
    }
}

/// One stage that splits text into words (`pre_tokenizer`).
enum PreTokenizer {
    /// Optional GPT-2 split, then each piece mapped to the byte-level alphabet.
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    /// Split on a regular expression; `isolated` keeps matches as their own pieces, else drops them.
    case split(NSRegularExpression, isolated: Bool, invert: Bool)
    case digits(individual: Bool)
    case sequence([PreTokenizer])

    init(json: Any?, source: String) throws {
        guard let object = json as? [String: Any] else {
            self = .sequence([])
            return
        }
        let type = object["type"] as? String ?? ""
        switch type {
        case "ByteLevel":
            self = .byteLevel(
                addPrefixSpace: object["add_prefix_space"] as? Bool ?? false,
                useRegex: object["use_regex"] as? Bool ?? true)
        case "Split":
            let pattern = object["pattern"] as? [String: Any]
            let regex: NSRegularExpression
            if let r = pattern?["Regex"] as? String {
                regex = try Self.compile(r, source: source)
            } else if let s = pattern?["String"] as? String {
                regex = try Self.compile(NSRegularExpression.escapedPattern(for: s), source: source)
            } else {
                throw TokenizerError.missingField(source, "pre_tokenizer.pattern")
            }
            let behavior = object["behavior"] as? String ?? "Isolated"
            guard behavior == "Isolated" || behavior == "Removed" else {
                throw TokenizerError.unsupported(source, "Split behavior '\(behavior)'")
            }
            if object["invert"] as? Bool == true { throw TokenizerError.unsupported(source, "Split with invert: true") }
            self = .split(regex, isolated: behavior == "Isolated", invert: false)
        case "Digits": self = .digits(individual: object["individual_digits"] as? Bool ?? false)
        case "Sequence":
            self = .sequence(
                try (object["pretokenizers"] as? [Any] ?? []).map { try PreTokenizer(json: $0, source: source) })
        default: throw TokenizerError.unsupported(source, "pre_tokenizer type '\(type)'")
        }
    }

    static func compile(_ pattern: String, source: String) throws -> NSRegularExpression {
        do { return try NSRegularExpression(pattern: pattern) } catch {
            throw TokenizerError.unsupported(source, "split pattern '\(pattern)'")
        }
    }

    /// The GPT-2 pattern, for the generic regex path and tests.
    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    /// Llama 3's pattern (llama.cpp's "llama-bpe").
    static let llama3Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    /// Qwen2's pattern.
    static let qwen2Pattern =
        #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    func apply(_ pieces: [String]) -> [String] {
        switch self {
        case .byteLevel(let addPrefixSpace, let useRegex):
            return pieces.flatMap { piece -> [String] in
                var text = piece
                if addPrefixSpace && !text.hasPrefix(" ") { text = " " + text }
                let words = useRegex ? GPT2Splitter.split(text) : [text]
                return words.map { ByteLevel.encode($0.utf8) }
            }
        case .split(let regex, let isolated, let invert):
            return pieces.flatMap { Self.split($0, regex: regex, isolated: isolated, invert: invert) }
        case .digits(let individual):
            // By code point, a digit being a number category (Nd, Nl, No) as Rust's `is_numeric`:
            // not Swift's `isNumber`, which also holds for CJK numerals such as 一 and 万.
            return pieces.flatMap { piece -> [String] in
                var out: [String] = []
                var current = String.UnicodeScalarView()
                var currentIsDigit = false
                for scalar in piece.unicodeScalars {
                    let isDigit = GPT2Splitter.classify(scalar) == .number
                    if !current.isEmpty && (isDigit != currentIsDigit || (individual && isDigit)) {
                        out.append(String(current))
                        current = String.UnicodeScalarView()
                    }
                    current.append(scalar)
                    currentIsDigit = isDigit
                }
                if !current.isEmpty { out.append(String(current)) }
                return out
            }
        case .sequence(let steps): return steps.reduce(pieces) { $1.apply($0) }
        }
    }

    static func split(_ text: String, regex: NSRegularExpression, isolated: Bool, invert: Bool) -> [String] {
        let ns = text as NSString
        var out: [String] = []
        var last = 0
        for m in regex.matches(in: text, range: NSRange(location: 0, length: ns.length)) where m.range.length > 0 {
            if m.range.location > last {
                out.append(ns.substring(with: NSRange(location: last, length: m.range.location - last)))
            }
            if isolated { out.append(ns.substring(with: m.range)) }
            last = m.range.location + m.range.length
        }
        if last < ns.length { out.append(ns.substring(from: last)) }
        return out
    }
}

/// The `decoder` stage: how token strings become bytes.
enum TokenDecoder {
    case byteLevel
    case replace(String, String)
    case byteFallback
    case fuse
    case strip(String, start: Int, stop: Int)
    case sequence([TokenDecoder])

    init(json: Any?, source: String) throws {
        guard let object = json as? [String: Any] else {
            self = .sequence([])
            return
        }
        let type = object["type"] as? String ?? ""
        switch type {
        case "ByteLevel": self = .byteLevel
        case "ByteFallback": self = .byteFallback
        case "Fuse": self = .fuse
        case "Replace":
            let pattern = (object["pattern"] as? [String: Any])?["String"] as? String ?? ""
            self = .replace(pattern, object["content"] as? String ?? "")
        case "Strip":
            self = .strip(
                object["content"] as? String ?? " ", start: object["start"] as? Int ?? 0,
                stop: object["stop"] as? Int ?? 0)
        case "Sequence":
            self = .sequence(
                try (object["decoders"] as? [Any] ?? []).map { try TokenDecoder(json: $0, source: source) })
        default: throw TokenizerError.unsupported(source, "decoder type '\(type)'")
        }
    }

    var isByteLevel: Bool {
        switch self {
        case .byteLevel: true
        case .sequence(let steps): steps.contains { $0.isByteLevel }
        default: false
        }
    }

    /// Bytes of one token as this decoder renders it (token-local steps only).
    func bytes(of token: String) -> [UInt8] {
        var out: [UInt8] = []
        if isByteLevel {
            ByteLevel.decode(token, into: &out)
            return out
        }
        var text = token
        for step in steps {
            switch step {
            case .replace(let a, let b): text = text.replacingOccurrences(of: a, with: b)
            case .byteFallback:
                if text.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">"),
                    let b = UInt8(text.dropFirst(3).prefix(2), radix: 16)
                {
                    return [b]
                }
            default: break
            }
        }
        return Array(text.utf8)
    }

    var steps: [TokenDecoder] {
        if case .sequence(let s) = self { return s }
        return [self]
    }
}
