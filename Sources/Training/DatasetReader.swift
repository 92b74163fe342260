import Foundation
import ModelFiles
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
    /// `["input": "input_text", "output": "target_text"]`; it may rename only fields of the file's
    /// format (see ``DatasetFormat``).
    ///
    /// Lines may end in "\n", "\r\n" or "\r", and the file may start with a UTF-8 byte order mark.
    /// Errors name the file as `name` (the path as the user gave it), else by its full path.
    public static func read(
        _ url: URL, name: String? = nil, format: DatasetFormat = .auto, fieldMap: [String: String] = [:]
    ) throws -> [DatasetRow] {
        if let unknown = fieldMap.keys.sorted().first(where: { !DatasetFormat.auto.fields.contains($0) }) {
            throw DatasetError.unknownField(unknown)
        }
        let path = name ?? url.path
        guard let data = FileManager.default.contents(atPath: url.path) else {
            var isFolder: ObjCBool = false
            let exists = FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder)
            throw DatasetError.unreadable(
                path, !exists ? "no such file" : isFolder.boolValue ? "a folder, not a data file" : "cannot be read")
        }
        let objects = try parse(try lines(data, path: path), path: path)
        guard let first = objects.first else { throw DatasetError.unreadable(path, "no rows") }
        let resolved =
            format == .auto ? try detect(first.object, fieldMap: fieldMap, path: path, line: first.line) : format
        if let other = fieldMap.keys.sorted().first(where: { !resolved.fields.contains($0) }) {
            throw DatasetError.invalid(
                file: path, line: first.line,
                message:
                    "field map: '\(other)' is not a field of \(resolved.rawValue) rows "
                    + "(\(DatasetError.alternatives(resolved.fields)))")
        }
        return try objects.map {
            try row($0.object, format: resolved, named: format != .auto, fieldMap: fieldMap, path: path, line: $0.line)
        }
    }

    /// The file's lines without their "\n", "\r\n" or lone "\r" (classic Mac OS), and without a
    /// leading byte order mark. (JSON strings cannot hold a raw carriage return, so a lone one
    /// only ever ends a line or sits between tokens.) Splitting the bytes finds the line of a byte
    /// that is not UTF-8, and keeps "\r\n" apart, which Swift's `Character` would read as one
    /// grapheme.
    static func lines(_ data: Data, path: String) throws -> [String] {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let bytes = Array(data.starts(with: bom) ? data.dropFirst(bom.count) : data[...])
        let (newline, carriageReturn) = (UInt8(ascii: "\n"), UInt8(ascii: "\r"))
        var lines: [String] = []
        func add(_ line: ArraySlice<UInt8>) throws {
            guard let text = String(bytes: line, encoding: .utf8) else {
                throw DatasetError.invalid(file: path, line: lines.count + 1, message: "not UTF-8")
            }
            lines.append(text)
        }
        var start = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == newline || bytes[i] == carriageReturn {
                try add(bytes[start..<i])
                if bytes[i] == carriageReturn && i + 1 < bytes.count && bytes[i + 1] == newline { i += 1 }
                start = i + 1
            }
            i += 1
        }
        try add(bytes[start...])
        return lines
    }

    /// Objects with the line each starts on.
    static func parse(_ lines: [String], path: String) throws -> [(object: [String: Any], line: Int)] {
        let text = lines.joined(separator: "\n")
        if text.drop(while: \.isWhitespace).first == "[" {
            guard let array = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [Any] else {
                throw DatasetError.invalid(file: path, line: 1, message: "not a valid JSON array")
            }
            let scan = JSONScan(text)
            try scan.refuseTrailingComma(path: path)
            let utf8 = Array(text.utf8)
            if let duplicate = JSONDuplicateKeys.first(in: utf8) {
                throw DatasetError.invalid(
                    file: path, line: JSONDuplicateKeys.line(of: duplicate.offset, in: utf8),
                    message: "'\(duplicate.path.drop { $0 != "." }.dropFirst())' is given twice")
            }
            return try array.enumerated().map { i, item in
                let line = i < scan.elementLines.count ? scan.elementLines[i] : 1
                guard let object = item as? [String: Any] else {
                    throw DatasetError.invalid(file: path, line: line, message: "row \(i + 1) is not an object")
                }
                return (object, line)
            }
        }
        var out: [(object: [String: Any], line: Int)] = []
        for (i, raw) in lines.enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let value: Any
            do {
                value = try JSONSerialization.jsonObject(with: Data(line.utf8), options: [.fragmentsAllowed])
            } catch {
                throw DatasetError.invalid(file: path, line: i + 1, message: "not valid JSON (a cut or broken line?)")
            }
            guard let object = value as? [String: Any] else {
                throw DatasetError.invalid(file: path, line: i + 1, message: "not a JSON object")
            }
            try JSONScan(line, firstLine: i + 1).refuseTrailingComma(path: path)
            if let duplicate = JSONDuplicateKeys.first(in: line.utf8) {
                throw DatasetError.invalid(file: path, line: i + 1, message: "'\(duplicate.path)' is given twice")
            }
            out.append((object, i + 1))
        }
        return out
    }

    /// The roles of chat messages that chat templates know.
    static let roles = ["system", "user", "assistant", "tool"]

    static func field(_ name: String, _ map: [String: String]) -> String { map[name] ?? name }

    static func detect(_ object: [String: Any], fieldMap: [String: String], path: String, line: Int) throws
        -> DatasetFormat
    {
        if object[field("messages", fieldMap)] != nil { return .chat }
        if object[field("instruction", fieldMap)] != nil || object[field("output", fieldMap)] != nil { return .alpaca }
        if object[field("prompt", fieldMap)] != nil { return .promptCompletion }
        if object[field("text", fieldMap)] != nil { return .text }
        let expected = [DatasetFormat.chat, .alpaca, .promptCompletion, .text].map {
            $0.fields.map { field($0, fieldMap) }.joined(separator: "/")
        }
        throw DatasetError.invalid(
            file: path, line: line,
            message:
                "cannot tell the format from fields \(object.keys.sorted()) "
                + "(expected \(DatasetError.alternatives(expected)))")
    }

    /// The row of `o` in `format`, which was `named` by the caller or else read from the first row.
    static func row(
        _ o: [String: Any], format: DatasetFormat, named: Bool = false, fieldMap: [String: String], path: String,
        line: Int
    ) throws -> DatasetRow {
        /// A row of another format says so, rather than which field it lacks.
        func refuseOtherFormat() throws {
            guard let other = try? detect(o, fieldMap: fieldMap, path: path, line: line), other != format else {
                return
            }
            let why =
                named
                ? ", but the format asked for is \(format.rawValue)"
                : " among \(format.rawValue) rows (the first row decides the format; a file holds one format)"
            throw DatasetError.invalid(file: path, line: line, message: "\(other.withArticle) row\(why)")
        }
        func string(_ name: String) throws -> String {
            let key = field(name, fieldMap)
            guard let value = o[key] else {
                try refuseOtherFormat()
                throw DatasetError.invalid(file: path, line: line, message: "missing field '\(key)'")
            }
            // Exported datasets often hold null for an empty input.
            if name == "input" && value is NSNull { return "" }
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
                if o[key] == nil { try refuseOtherFormat() }
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
                guard Self.roles.contains(role) else {
                    throw DatasetError.invalid(
                        file: path, line: line,
                        message: "\(key)[\(i)]: unknown role '\(role)' (\(DatasetError.alternatives(Self.roles)))")
                }
                return ChatMessage(role: role, content: content)
            }
            return DatasetRow(example: .chat(messages), line: line)
        }
    }
}
