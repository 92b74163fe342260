import Foundation
import ModelFiles

/// A value in a chat template: the subset of Python/Jinja2 values templates use.
public indirect enum JinjaValue: Sendable, Equatable {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    /// Insertion-ordered mapping, as Python dicts are.
    case dictionary(keys: [String], values: [String: JinjaValue])
    /// A `namespace(...)`, mutable through `set ns.x = ...`.
    case namespace(JinjaNamespace)
    case macro(JinjaMacroReference)

    /// An ordered dictionary from pairs.
    public static func object(_ pairs: [(String, JinjaValue)]) -> JinjaValue {
        var values: [String: JinjaValue] = [:]
        var keys: [String] = []
        for (k, v) in pairs {
            if values[k] == nil { keys.append(k) }
            values[k] = v
        }
        return .dictionary(keys: keys, values: values)
    }

    var truthy: Bool {
        switch self {
        case .undefined, .none: false
        case .bool(let b): b
        case .int(let i): i != 0
        case .double(let d): d != 0
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .dictionary(let k, _): !k.isEmpty
        case .namespace, .macro: true
        }
    }

    /// How `{{ value }}` prints it (Python's `str`).
    var rendered: String {
        switch self {
        case .undefined: ""
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): String(i)
        case .double(let d): Self.pythonFloat(d)
        case .string(let s): s
        case .array(let a): "[" + a.map(\.repr).joined(separator: ", ") + "]"
        case .dictionary(let keys, let values):
            "{" + keys.map { "'\($0)': \(values[$0]!.repr)" }.joined(separator: ", ") + "}"
        case .namespace: "<Namespace>"
        case .macro: "<Macro>"
        }
    }

    /// Python's `repr`, used inside lists and dicts.
    var repr: String {
        if case .string(let s) = self {
            return "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        return rendered
    }

    static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded() && abs(d) < 1e16 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    var typeName: String {
        switch self {
        case .undefined: "undefined"
        case .none: "none"
        case .bool: "bool"
        case .int: "int"
        case .double: "float"
        case .string: "string"
        case .array: "list"
        case .dictionary: "dict"
        case .namespace: "namespace"
        case .macro: "macro"
        }
    }

    /// JSON text as Python's `json.dumps` writes it (", " and ": " separators, non-ASCII kept).
    func json(indent: Int?, level: Int = 0) -> String {
        switch self {
        case .undefined, .none: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return Self.pythonFloat(d)
        case .string(let s): return JSONText.quoted(s)
        case .array(let items):
            if items.isEmpty { return "[]" }
            guard let indent else { return "[" + items.map { $0.json(indent: nil) }.joined(separator: ", ") + "]" }
            let pad = String(repeating: " ", count: indent * (level + 1))
            let inner = items.map { pad + $0.json(indent: indent, level: level + 1) }.joined(separator: ",\n")
            return "[\n" + inner + "\n" + String(repeating: " ", count: indent * level) + "]"
        case .dictionary(let keys, let values):
            if keys.isEmpty { return "{}" }
            guard let indent else {
                return "{"
                    + keys.map { JSONText.quoted($0) + ": " + values[$0]!.json(indent: nil) }.joined(separator: ", ")
                    + "}"
            }
            let pad = String(repeating: " ", count: indent * (level + 1))
            let inner = keys.map {
                pad + JSONText.quoted($0) + ": " + values[$0]!.json(indent: indent, level: level + 1)
            }
            return "{\n" + inner.joined(separator: ",\n") + "\n" + String(repeating: " ", count: indent * level) + "}"
        case .namespace, .macro: return "null"
        }
    }
}

/// The mutable attributes of a `namespace()`.
public final class JinjaNamespace: @unchecked Sendable, Equatable {
    var attributes: [String: JinjaValue]
    init(_ attributes: [String: JinjaValue]) { self.attributes = attributes }
    public static func == (a: JinjaNamespace, b: JinjaNamespace) -> Bool { a === b }
}

/// A macro defined in the template.
public final class JinjaMacroReference: @unchecked Sendable, Equatable {
    let name: String
    let parameters: [(String, JinjaExpression?)]
    let body: [JinjaNode]
    init(name: String, parameters: [(String, JinjaExpression?)], body: [JinjaNode]) {
        self.name = name
        self.parameters = parameters
        self.body = body
    }
    public static func == (a: JinjaMacroReference, b: JinjaMacroReference) -> Bool { a === b }
}
