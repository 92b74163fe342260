import Foundation

/// One pass over JSON text that `JSONSerialization` accepted: the line on which each top-level
/// element of an array starts, and the first trailing comma (`[1,]`, `{"a": 1,}`), which
/// `JSONSerialization` accepts although JSON (RFC 8259) does not.
struct JSONScan {
    var elementLines: [Int] = []
    var trailingComma: (line: Int, closer: Character)?

    init(_ text: String, firstLine: Int = 1) {
        var line = firstLine
        var depth = 0
        var inString = false
        var escaped = false
        var comma: Int?  // the line of a comma that no value has followed yet
        var elementDue = false  // at depth 1 after '[' or ','
        for c in text.utf8 {
            if c == UInt8(ascii: "\n") { line += 1 }
            if inString {
                if escaped {
                    escaped = false
                } else if c == UInt8(ascii: "\\") {
                    escaped = true
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            if c == 32 || c == 9 || c == 10 || c == 13 { continue }
            if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                if let comma, trailingComma == nil { trailingComma = (comma, Character(Unicode.Scalar(c))) }
                depth -= 1
            } else if c == UInt8(ascii: ",") {
                elementDue = depth == 1
            } else if depth == 1 && elementDue {
                elementLines.append(line)
                elementDue = false
            }
            comma = c == UInt8(ascii: ",") ? line : nil
            if c == UInt8(ascii: "\"") { inString = true }
            if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                depth += 1
                if depth == 1 { elementDue = true }
            }
        }
    }

    /// Throws at the first trailing comma.
    func refuseTrailingComma(path: String) throws {
        guard let comma = trailingComma else { return }
        throw DatasetError.invalid(
            file: path, line: comma.line, message: "a trailing comma before '\(comma.closer)' is not JSON")
    }
}
