/// Turns ids into text one at a time for streaming. Byte-level tokens can end in the middle of
/// a multi-byte UTF-8 character; such trailing bytes are held back until the character is
/// complete, so no delta ever contains half a character.
public struct StreamingDetokenizer {
    let tokenizer: Tokenizer
    let skipSpecialTokens: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer, skipSpecialTokens: Bool) {
        self.tokenizer = tokenizer
        self.skipSpecialTokens = skipSpecialTokens
    }

    /// Adds a token; returns the text that is now complete (possibly empty).
    public mutating func append(_ id: Int) -> String {
        tokenizer.appendBytes(of: id, skipSpecialTokens: skipSpecialTokens, to: &pending)
        let keep = Self.incompleteSuffixLength(pending)
        guard pending.count > keep else { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// The rest, at the end of the stream (an unfinished character becomes U+FFFD).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Bytes at the end that start a UTF-8 character not yet complete.
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        // Look back at most 3 bytes for a lead byte whose sequence runs past the end.
        var i = bytes.count - 1
        var continuation = 0
        while i >= 0 && continuation < 3 && bytes[i] & 0xC0 == 0x80 {
            continuation += 1
            i -= 1
        }
        guard i >= 0 else { return 0 }
        let lead = bytes[i]
        let needed: Int
        if lead & 0xE0 == 0xC0 {
            needed = 2
        } else if lead & 0xF0 == 0xE0 {
            needed = 3
        } else if lead & 0xF8 == 0xF0 {
            needed = 4
        } else {
            return 0
        }
        let have = bytes.count - i
        return have < needed ? have : 0
    }
}
