import Foundation

/// Finds a key given twice in one JSON object. Readers disagree on which value wins (Python's
/// `json` takes the last, Foundation's decoder the first), so a file or request with one is
/// refused rather than read one way here and another way elsewhere.
public enum JSONDuplicateKeys {
    /// A key that appears twice: its path (`messages[0].role`) and the offset of its second
    /// appearance in the text.
    public struct Found: Equatable, Sendable {
        public var path: String
        public var offset: Int
    }

    private struct Frame {
        var isObject: Bool
        var keys: Set<String> = []
        var key: String?
        var index = 0
        var expectingKey: Bool
    }

    /// The first duplicate key in `bytes` (JSON text, assumed well-formed), or nil.
    public static func first(in bytes: some Collection<UInt8>) -> Found? {
        let bytes = Array(bytes)
        var frames: [Frame] = []
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            switch c {
            case UInt8(ascii: "{"): frames.append(Frame(isObject: true, expectingKey: true))
            case UInt8(ascii: "["): frames.append(Frame(isObject: false, expectingKey: false))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): if !frames.isEmpty { frames.removeLast() }
            case UInt8(ascii: ","):
                if frames.last?.isObject == true {
                    frames[frames.count - 1].expectingKey = true
                } else if !frames.isEmpty {
                    frames[frames.count - 1].index += 1
                }
            case UInt8(ascii: "\""):
                let start = i
                var escaped = false
                var hasEscape = false
                i += 1
                while i < bytes.count {
                    if escaped {
                        escaped = false
                    } else if bytes[i] == UInt8(ascii: "\\") {
                        escaped = true
                        hasEscape = true
                    } else if bytes[i] == UInt8(ascii: "\"") {
                        break
                    }
                    i += 1
                }
                guard let last = frames.last, last.isObject, last.expectingKey else { break }
                let raw = bytes[start...min(i, bytes.count - 1)]
                let key =
                    hasEscape
                    ? (try? JSONSerialization.jsonObject(with: Data(raw), options: .fragmentsAllowed)) as? String
                        ?? String(decoding: raw, as: UTF8.self)
                    : String(decoding: raw.dropFirst().dropLast(), as: UTF8.self)
                frames[frames.count - 1].key = key
                frames[frames.count - 1].expectingKey = false
                if !frames[frames.count - 1].keys.insert(key).inserted {
                    return Found(path: path(frames), offset: start)
                }
            default: break
            }
            i += 1
        }
        return nil
    }

    /// `a.b[2].c` from the open containers.
    private static func path(_ frames: [Frame]) -> String {
        var out = ""
        for frame in frames {
            if frame.isObject {
                out += (out.isEmpty ? "" : ".") + (frame.key ?? "")
            } else {
                out += "[\(frame.index)]"
            }
        }
        return out
    }

    /// The 1-based line of `offset` in `bytes`.
    public static func line(of offset: Int, in bytes: some Collection<UInt8>) -> Int {
        1 + bytes.prefix(offset).reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
    }
}
