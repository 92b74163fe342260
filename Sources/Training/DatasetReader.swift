import Foundation
import Tokenizers

/// Reads training rows from a JSON array or a JSONL file, validating every row and naming the
/// file and line of the first bad one.
///
/// ```swift
/// let rows = try DatasetReader.read(URL(fileURLWithPath: "data.jsonl"))
/// let zh = try DatasetReader.read(url, fieldMap: ["input": "input_text", "output": "target_text"])
/// ```
public enum DatasetReader {
    /// Reads all rows. `fieldMap` renames fields (our name → the file's name), e.g.
    /// `["input": "input_text", "output": "target_text"]`.
    public static func read(_ url: URL, format: DatasetFormat = .auto, fieldMap: [String: String] = [:]) throws
        -> [DatasetRow]
    {
        let path = url.path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DatasetError.unreadable(path, "no such file")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw DatasetError.unreadable(path, "not UTF-8") }
        let objects = try parse(text, path: path)
        guard !objects.isEmpty else { throw DatasetError.unreadable(path, "no rows") }
        var resolved = format
        if format == .auto {
            guard let first = objects.first else { throw DatasetError.unreadable(path, "no rows") }
            resolved = try detect(first.object, fieldMap: fieldMap, path: path, line: first.line)
        }
        return try objects.map { try row($0.object, format: resolved, fieldMap: fieldMap, path: path, line: $0.line) }
    }

    /// Objects with the line each starts on.
    static func parse(_ text: String, path: String) throws -> [(object: [String: Any], line: Int)] {
        let trimmed = text.drop { $0.isWhitespace }
        if trimmed.first == "[" {
            guard let array = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [Any] else {
                throw DatasetError.invalid(file: path, line: 1, message: "not a valid JSON array")
            }
            let lines = elementLines(text)
            return try array.enumerated().map { i, item in
                let line = i < lines.count ? lines[i] : 1
                guard let object = item as? [String: Any] else {
                    throw DatasetError.invalid(file: path, line: line, message: "row \(i + 1) is not an object")
                }
                return (object, line)
            }
        }
        var out: [(object: [String: Any], line: Int)] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                throw DatasetError.invalid(file: path, line: i + 1, message: "not a JSON object")
            }
            out.append((object, i + 1))
        }
        return out
    }

    /// The line on which each top-level element of a JSON array starts.
    static func elementLines(_ text: String) -> [Int] {
        var lines: [Int] = []
        var line = 1
        var depth = 0
        var inString = false
        var escaped = false
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
            switch c {
            case UInt8(ascii: "\""):
                if depth == 1 { lines.append(line) }
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == 1 { lines.append(line) }
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default:
                if depth == 1 && !(c == UInt8(ascii: ",") || c == 32 || c == 9 || c == 10 || c == 13) {
                    // a number or literal element: record its start once
                    if lines.last != line { lines.append(line) }
                }
            }
        }
        return lines
    }

    static func field(_ name: String, _ map: [String: String]) -> String { map[name] ?? name }

    static func detect(_ object: [String: Any], fieldMap: [String: String], path: String, line: Int) throws
        -> DatasetFormat
    {
        if object[field("messages", fieldMap)] != nil { return .chat }
        if object[field("instruction", fieldMap)] != nil || object[field("output", fieldMap)] != nil { return .alpaca }
        if object[field("prompt", fieldMap)] != nil { return .promptCompletion }
        if object[field("text", fieldMap)] != nil { return .text }
        throw DatasetError.invalid(
            file: path, line: line,
            message:
                "cannot tell the format from fields \(object.keys.sorted()) (expected messages, instruction/input/output, prompt/completion or text)"
        )
    }

    static func row(_ o: [String: Any], format: DatasetFormat, fieldMap: [String: String], path: String, line: Int)
        throws
        -> DatasetRow
    {
        func string(_ name: String) throws -> String {
            let key = field(name, fieldMap)
            guard let value = o[key] else {
                throw DatasetError.invalid(file: path, line: line, message: "missing field '\(key)'")
            }
            guard let s = value as? String else {
                throw DatasetError.invalid(file: path, line: line, message: "field '\(key)' is not a string")
            }
            return s
        }
        switch format {
        case .alpaca:
            return DatasetRow(
                example: .alpaca(
                    instruction: try string("instruction"), input: try string("input"), output: try string("output")),
                line: line)
        case .promptCompletion:
            return DatasetRow(
                example: .promptCompletion(prompt: try string("prompt"), completion: try string("completion")),
                line: line)
        case .text: return DatasetRow(example: .text(try string("text")), line: line)
        case .chat, .auto:
            let key = field("messages", fieldMap)
            guard let list = o[key] as? [Any] else {
                throw DatasetError.invalid(
                    file: path, line: line, message: "missing field '\(key)' (a list of {role, content})")
            }
            let messages = try list.enumerated().map { i, item -> ChatMessage in
                guard let m = item as? [String: Any], let role = m["role"] as? String,
                    let content = m["content"] as? String
                else {
                    throw DatasetError.invalid(
                        file: path, line: line, message: "\(key)[\(i)] needs string 'role' and 'content'")
                }
                return ChatMessage(role: role, content: content)
            }
            return DatasetRow(example: .chat(messages), line: line)
        }
    }
}
