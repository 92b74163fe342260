import Foundation

/// Operators, filters, tests, methods and globals of the template language.
enum JinjaBuiltins {
    static func number(_ v: JinjaValue) -> Double? {
        switch v {
        case .int(let i): Double(i)
        case .double(let d): d
        case .bool(let b): b ? 1 : 0
        default: nil
        }
    }

    static func equal(_ a: JinjaValue, _ b: JinjaValue) -> Bool {
        if let x = number(a), let y = number(b), !(a.isString || b.isString) { return x == y }
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none), (.undefined, .none), (.none, .undefined): return true
        default: return a == b
        }
    }

    static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, line: Int) throws -> JinjaValue {
        switch op {
        case "==": return .bool(equal(a, b))
        case "!=": return .bool(!equal(a, b))
        case "~": return .string(a.rendered + b.rendered)
        case "in":
            switch b {
            case .string(let s): return .bool(s.contains(a.rendered))
            case .array(let items): return .bool(items.contains { equal($0, a) })
            case .dictionary(_, let values): return .bool(values[a.rendered] != nil)
            case .undefined, .none: return .bool(false)
            default: throw ChatTemplateError.runtime("'in' on \(b.typeName)", line: line)
            }
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.array(let x), .array(let y)): return .array(x + y)
            case (.int(let x), .int(let y)): return .int(x + y)
            default: break
            }
        case "-", "*", "//", "%":
            if case .int(let x) = a, case .int(let y) = b {
                switch op {
                case "-": return .int(x - y)
                case "*": return .int(x * y)
                case "//", "%":
                    guard y != 0 else { throw ChatTemplateError.runtime("division by zero", line: line) }
                    let q = Int((Double(x) / Double(y)).rounded(.down))
                    return op == "//" ? .int(q) : .int(x - q * y)
                default: break
                }
            }
            if op == "*", case .string(let s) = a, case .int(let n) = b {
                return .string(String(repeating: s, count: max(n, 0)))
            }
        case "**":
            if case .int(let x) = a, case .int(let y) = b, y >= 0, y < 63 {
                var r = 1
                for _ in 0..<y { r = r.multipliedReportingOverflow(by: x).partialValue }
                return .int(r)
            }
        case "<", ">", "<=", ">=":
            if case .string(let x) = a, case .string(let y) = b {
                let r = op == "<" ? x < y : op == ">" ? x > y : op == "<=" ? x <= y : x >= y
                return .bool(r)
            }
            if let x = number(a), let y = number(b) {
                let r = op == "<" ? x < y : op == ">" ? x > y : op == "<=" ? x <= y : x >= y
                return .bool(r)
            }
            throw ChatTemplateError.runtime("cannot compare \(a.typeName) and \(b.typeName)", line: line)
        default: break
        }
        if let x = number(a), let y = number(b) {
            switch op {
            case "+": return .double(x + y)
            case "-": return .double(x - y)
            case "*": return .double(x * y)
            case "/": return .double(x / y)
            case "//": return .double((x / y).rounded(.down))
            case "%": return .double(x - (x / y).rounded(.down) * y)
            case "**": return .double(pow(x, y))
            default: break
            }
        }
        throw ChatTemplateError.runtime("unsupported operands for \(op): \(a.typeName) and \(b.typeName)", line: line)
    }

    static func filter(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ kwargs: [String: JinjaValue], line: Int)
        throws -> JinjaValue
    {
        switch name {
        case "trim": return .string(v.rendered.trimmingCharacters(in: .whitespacesAndNewlines))
        case "length", "count":
            switch v {
            case .string(let s): return .int(s.count)
            case .array(let a): return .int(a.count)
            case .dictionary(let k, _): return .int(k.count)
            case .undefined: return .int(0)
            default: throw ChatTemplateError.runtime("length of \(v.typeName)", line: line)
            }
        case "upper": return .string(v.rendered.uppercased())
        case "lower": return .string(v.rendered.lowercased())
        case "title": return .string(v.rendered.capitalized)
        case "capitalize":
            let s = v.rendered
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "replace":
            guard args.count >= 2 else { throw ChatTemplateError.runtime("replace needs two arguments", line: line) }
            return .string(v.rendered.replacingOccurrences(of: args[0].rendered, with: args[1].rendered))
        case "default", "d":
            let fallback = args.first ?? kwargs["default_value"] ?? .string("")
            let boolean = (args.count > 1 ? args[1] : kwargs["boolean"])?.truthy ?? false
            if case .undefined = v { return fallback }
            return boolean && !v.truthy ? fallback : v
        case "first", "last":
            let items = try list(v, line: line)
            return (name == "first" ? items.first : items.last) ?? .undefined
        case "join":
            let separator = args.first?.rendered ?? kwargs["d"]?.rendered ?? ""
            return .string(try list(v, line: line).map(\.rendered).joined(separator: separator))
        case "list": return .array(try list(v, line: line))
        case "reverse":
            if case .string(let s) = v { return .string(String(s.reversed())) }
            return .array(try list(v, line: line).reversed())
        case "tojson":
            let indent: Int? = {
                if case .int(let i) = args.first ?? kwargs["indent"] ?? .none { return i }
                return nil
            }()
            return .string(v.json(indent: indent))
        case "string": return .string(v.rendered)
        case "int":
            if let d = number(v) { return .int(Int(d)) }
            return .int(Int(v.rendered.trimmingCharacters(in: .whitespaces)) ?? 0)
        case "float":
            if let d = number(v) { return .double(d) }
            return .double(Double(v.rendered.trimmingCharacters(in: .whitespaces)) ?? 0)
        case "abs":
            if case .int(let i) = v { return .int(abs(i)) }
            return .double(abs(number(v) ?? 0))
        case "items":
            guard case .dictionary(let keys, let values) = v else { return .array([]) }
            return .array(keys.map { .array([.string($0), values[$0]!]) })
        case "safe": return v
        case "indent":
            let width: Int = {
                if case .int(let i) = args.first ?? kwargs["width"] ?? .int(4) { return i }
                return 4
            }()
            let first = (args.count > 1 ? args[1] : kwargs["first"])?.truthy ?? false
            let pad = String(repeating: " ", count: width)
            let lines = v.rendered.components(separatedBy: "\n")
            return .string(
                lines.enumerated().map { i, l in (i == 0 && !first) || l.isEmpty ? l : pad + l }.joined(separator: "\n")
            )
        case "selectattr", "rejectattr":
            guard let attribute = args.first?.rendered else {
                throw ChatTemplateError.runtime("\(name) needs an attribute", line: line)
            }
            let select = name == "selectattr"
            return .array(
                try list(v, line: line).filter { item in
                    let value: JinjaValue
                    if case .dictionary(_, let values) = item {
                        value = values[attribute] ?? .undefined
                    } else {
                        value = .undefined
                    }
                    let passed: Bool
                    if args.count > 1 {
                        passed = try test(args[1].rendered, value, Array(args.dropFirst(2)), line: line)
                    } else {
                        passed = value.truthy
                    }
                    return passed == select
                })
        case "map":
            if let attribute = kwargs["attribute"]?.rendered {
                return .array(
                    try list(v, line: line).map { item in
                        if case .dictionary(_, let values) = item {
                            return values[attribute] ?? kwargs["default"] ?? .undefined
                        }
                        return .undefined
                    })
            }
            guard let filterName = args.first?.rendered else {
                throw ChatTemplateError.runtime("map needs a filter", line: line)
            }
            return .array(
                try list(v, line: line).map { try filter(filterName, $0, Array(args.dropFirst()), [:], line: line) })
        case "unique":
            var seen: [JinjaValue] = []
            for item in try list(v, line: line) where !seen.contains(where: { equal($0, item) }) { seen.append(item) }
            return .array(seen)
        case "sort":
            let items = try list(v, line: line)
            return .array(
                items.sorted { a, b in
                    if let x = number(a), let y = number(b) { return x < y }
                    return a.rendered < b.rendered
                })
        default:
            throw ChatTemplateError.unsupported("filter '\(name)'", line: line)
        }
    }

    static func list(_ v: JinjaValue, line: Int) throws -> [JinjaValue] {
        switch v {
        case .array(let a): return a
        case .string(let s): return s.map { .string(String($0)) }
        case .dictionary(let keys, _): return keys.map { .string($0) }
        case .undefined, .none: return []
        default: throw ChatTemplateError.runtime("\(v.typeName) is not a sequence", line: line)
        }
    }

    static func test(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], line: Int) throws -> Bool {
        switch name {
        case "defined": if case .undefined = v { return false } else { return true }
        case "undefined": if case .undefined = v { return true } else { return false }
        case "none": if case .none = v { return true } else { return false }
        case "string": return v.isString
        case "number": if case .int = v { return true } else if case .double = v { return true } else { return false }
        case "integer": if case .int = v { return true } else { return false }
        case "float": if case .double = v { return true } else { return false }
        case "boolean": if case .bool = v { return true } else { return false }
        case "mapping": if case .dictionary = v { return true } else { return false }
        case "iterable", "sequence":
            switch v {
            case .array, .string, .dictionary: return true
            default: return false
            }
        case "true": return v == .bool(true)
        case "false": return v == .bool(false)
        case "even", "odd":
            guard case .int(let i) = v else { throw ChatTemplateError.runtime("\(name) of \(v.typeName)", line: line) }
            return (i % 2 == 0) == (name == "even")
        case "eq", "equalto", "==": return equal(v, args.first ?? .undefined)
        case "ne", "!=": return !equal(v, args.first ?? .undefined)
        case "in": return try binary("in", v, args.first ?? .undefined, line: line).truthy
        default: throw ChatTemplateError.unsupported("test '\(name)'", line: line)
        }
    }

    static func method(_ v: JinjaValue, _ name: String, _ args: [JinjaValue], _ kwargs: [String: JinjaValue], line: Int)
        throws -> JinjaValue
    {
        switch (v, name) {
        case (.string(let s), "strip"):
            guard let chars = args.first?.rendered else {
                return .string(s.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            return .string(s.trimmingCharacters(in: CharacterSet(charactersIn: chars)))
        case (.string(let s), "lstrip"):
            let set = args.first.map { CharacterSet(charactersIn: $0.rendered) } ?? .whitespacesAndNewlines
            return .string(String(s.drop { $0.unicodeScalars.allSatisfy(set.contains) }))
        case (.string(let s), "rstrip"):
            let set = args.first.map { CharacterSet(charactersIn: $0.rendered) } ?? .whitespacesAndNewlines
            var t = s
            while let c = t.last, c.unicodeScalars.allSatisfy(set.contains) { t.removeLast() }
            return .string(t)
        case (.string(let s), "split"):
            if let separator = args.first?.rendered {
                return .array(s.components(separatedBy: separator).map { .string($0) })
            }
            return .array(s.split(whereSeparator: { $0.isWhitespace }).map { .string(String($0)) })
        case (.string(let s), "startswith"): return .bool(s.hasPrefix(args.first?.rendered ?? ""))
        case (.string(let s), "endswith"): return .bool(s.hasSuffix(args.first?.rendered ?? ""))
        case (.string(let s), "upper"): return .string(s.uppercased())
        case (.string(let s), "lower"): return .string(s.lowercased())
        case (.string(let s), "title"): return .string(s.capitalized)
        case (.string(let s), "replace"):
            guard args.count >= 2 else { throw ChatTemplateError.runtime("replace needs two arguments", line: line) }
            return .string(s.replacingOccurrences(of: args[0].rendered, with: args[1].rendered))
        case (.string(let s), "format"):
            var out = s
            for a in args { if let r = out.range(of: "%s") { out.replaceSubrange(r, with: a.rendered) } }
            return .string(out)
        case (.dictionary(let keys, let values), "items"):
            return .array(keys.map { .array([.string($0), values[$0]!]) })
        case (.dictionary(let keys, _), "keys"): return .array(keys.map { .string($0) })
        case (.dictionary(let keys, let values), "values"): return .array(keys.map { values[$0]! })
        case (.dictionary(_, let values), "get"):
            return values[args.first?.rendered ?? ""] ?? (args.count > 1 ? args[1] : .none)
        default:
            throw ChatTemplateError.unsupported("method '\(name)' on \(v.typeName)", line: line)
        }
    }

    static func global(_ name: String, _ args: [JinjaValue], _ kwargs: [String: JinjaValue], line: Int) throws
        -> JinjaValue
    {
        switch name {
        case "raise_exception": throw ChatTemplateError.raised(args.first?.rendered ?? "")
        case "range":
            let ints = args.compactMap { if case .int(let i) = $0 { return i } else { return nil } }
            guard ints.count == args.count, (1...3).contains(ints.count) else {
                throw ChatTemplateError.runtime("range needs 1 to 3 integers", line: line)
            }
            let (start, stop, step) =
                ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw ChatTemplateError.runtime("range step 0", line: line) }
            return .array(Array(stride(from: start, to: stop, by: step)).map { .int($0) })
        case "namespace":
            var attributes = kwargs
            if case .dictionary(let keys, let values) = args.first ?? .none {
                for k in keys { attributes[k] = values[k] }
            }
            return .namespace(JinjaNamespace(attributes))
        case "strftime_now":
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = strftimeToICU(args.first?.rendered ?? "%Y-%m-%d")
            return .string(formatter.string(from: Date()))
        case "dict": return .object(kwargs.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        default: throw ChatTemplateError.unsupported("function '\(name)'", line: line)
        }
    }

    static func strftimeToICU(_ f: String) -> String {
        let map: [Character: String] = [
            "Y": "yyyy", "m": "MM", "d": "dd", "B": "MMMM", "b": "MMM", "H": "HH", "M": "mm", "S": "ss", "A": "EEEE",
            "a": "EEE",
        ]
        var out = ""
        var percent = false
        for c in f {
            if percent {
                out += map[c] ?? String(c)
                percent = false
            } else if c == "%" {
                percent = true
            } else if c.isLetter {
                out += "'\(c)'"
            } else {
                out.append(c)
            }
        }
        return out
    }
}

extension JinjaValue {
    var isString: Bool {
        if case .string = self { return true }
        return false
    }
}
