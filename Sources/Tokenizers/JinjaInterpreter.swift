import Foundation

/// Evaluates parsed template nodes.
struct JinjaInterpreter {
    var scopes: [[String: JinjaValue]]
    var macros: [String: JinjaMacroReference] = [:]

    enum LoopSignal: Error { case breakLoop, continueLoop }

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        if let m = macros[name] { return .macro(m) }
        return .undefined
    }

    mutating func assign(_ name: String, _ value: JinjaValue) { scopes[scopes.count - 1][name] = value }

    mutating func run(_ nodes: [JinjaNode], into out: inout String) throws {
        for node in nodes {
            switch node {
            case .text(let t): out += t
            case .output(let e, let line): out += try eval(e, line: line).rendered
            case .ifBlock(let branches, let otherwise, let line):
                var done = false
                for (condition, body) in branches where try eval(condition, line: line).truthy {
                    try run(body, into: &out)
                    done = true
                    break
                }
                if !done { try run(otherwise, into: &out) }
            case .forLoop(let targets, let iterable, let condition, let body, let otherwise, let line):
                try runFor(targets, iterable, condition, body, otherwise, line: line, into: &out)
            case .set(let target, let attribute, let value, let line):
                let v = try eval(value, line: line)
                if let attribute {
                    guard case .namespace(let ns) = lookup(target[0]) else {
                        throw ChatTemplateError.runtime("'\(target[0])' is not a namespace", line: line)
                    }
                    ns.attributes[attribute] = v
                } else if target.count == 1 {
                    assign(target[0], v)
                } else {
                    let items = try iterate(v, line: line)
                    guard items.count == target.count else {
                        throw ChatTemplateError.runtime("cannot unpack", line: line)
                    }
                    for (n, item) in zip(target, items) { assign(n, item) }
                }
            case .setBlock(let name, let body):
                var captured = ""
                try run(body, into: &captured)
                assign(name, .string(captured))
            case .macro(let name, let parameters, let body):
                macros[name] = JinjaMacroReference(name: name, parameters: parameters, body: body)
            case .loopControl(let breaks, _):
                throw breaks ? LoopSignal.breakLoop : LoopSignal.continueLoop
            }
        }
    }

    mutating func runFor(
        _ targets: [String], _ iterable: JinjaExpression, _ condition: JinjaExpression?, _ body: [JinjaNode],
        _ otherwise: [JinjaNode], line: Int, into out: inout String
    ) throws {
        var items = try iterate(try eval(iterable, line: line), line: line)
        if let condition {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append(bind(targets, item))
                defer { scopes.removeLast() }
                if try eval(condition, line: line).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            try run(otherwise, into: &out)
            return
        }
        for (i, item) in items.enumerated() {
            var scope = bind(targets, item)
            scope["loop"] = .object([
                ("index", .int(i + 1)), ("index0", .int(i)), ("first", .bool(i == 0)),
                ("last", .bool(i == items.count - 1)),
                ("length", .int(items.count)), ("revindex", .int(items.count - i)),
                ("revindex0", .int(items.count - i - 1)),
                ("previtem", i > 0 ? items[i - 1] : .undefined),
                ("nextitem", i + 1 < items.count ? items[i + 1] : .undefined),
            ])
            scopes.append(scope)
            defer { scopes.removeLast() }
            do { try run(body, into: &out) } catch LoopSignal.breakLoop { break } catch LoopSignal.continueLoop {
                continue
            }
        }
    }

    func bind(_ targets: [String], _ item: JinjaValue) -> [String: JinjaValue] {
        if targets.count == 1 { return [targets[0]: item] }
        var scope: [String: JinjaValue] = [:]
        if case .array(let parts) = item {
            for (n, v) in zip(targets, parts) { scope[n] = v }
        }
        return scope
    }

    func iterate(_ v: JinjaValue, line: Int) throws -> [JinjaValue] {
        switch v {
        case .array(let a): return a
        case .dictionary(let keys, _): return keys.map { .string($0) }
        case .string(let s): return s.map { .string(String($0)) }
        case .undefined, .none: return []
        default: throw ChatTemplateError.runtime("\(v.typeName) is not iterable", line: line)
        }
    }

    mutating func eval(_ e: JinjaExpression, line: Int) throws -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try eval($0, line: line) })
        case .dict(let pairs):
            return .object(try pairs.map { (try eval($0.0, line: line).rendered, try eval($0.1, line: line)) })
        case .attribute(let base, let name):
            return try attribute(try eval(base, line: line), name, line: line)
        case .index(let base, let key):
            return try item(try eval(base, line: line), try eval(key, line: line), line: line)
        case .slice(let base, let start, let stop, let step):
            let s = try start.map { try eval($0, line: line) }
            let t = try stop.map { try eval($0, line: line) }
            let p = try step.map { try eval($0, line: line) }
            return try slice(try eval(base, line: line), s, t, p, line: line)
        case .call(let callee, let args, let kwargs):
            let a = try args.map { try eval($0, line: line) }
            var k: [String: JinjaValue] = [:]
            for (n, v) in kwargs { k[n] = try eval(v, line: line) }
            return try call(callee, a, k, line: line)
        case .filter(let base, let name, let args, let kwargs):
            let v = try eval(base, line: line)
            let a = try args.map { try eval($0, line: line) }
            var k: [String: JinjaValue] = [:]
            for (n, x) in kwargs { k[n] = try eval(x, line: line) }
            return try JinjaBuiltins.filter(name, v, a, k, line: line)
        case .test(let base, let name, let args, let negated):
            let v = try eval(base, line: line)
            let a = try args.map { try eval($0, line: line) }
            let r = try JinjaBuiltins.test(name, v, a, line: line)
            return .bool(negated ? !r : r)
        case .unary(let op, let x):
            let v = try eval(x, line: line)
            switch op {
            case "not": return .bool(!v.truthy)
            default:
                switch v {
                case .int(let i): return .int(-i)
                case .double(let d): return .double(-d)
                default: throw ChatTemplateError.runtime("cannot negate \(v.typeName)", line: line)
                }
            }
        case .binary(let op, let l, let r):
            if op == "and" {
                let a = try eval(l, line: line)
                return a.truthy ? try eval(r, line: line) : a
            }
            if op == "or" {
                let a = try eval(l, line: line)
                return a.truthy ? a : try eval(r, line: line)
            }
            return try JinjaBuiltins.binary(op, try eval(l, line: line), try eval(r, line: line), line: line)
        case .conditional(let value, let condition, let otherwise):
            if try eval(condition, line: line).truthy { return try eval(value, line: line) }
            return try otherwise.map { try eval($0, line: line) } ?? .undefined
        }
    }

    func attribute(_ v: JinjaValue, _ name: String, line: Int) throws -> JinjaValue {
        switch v {
        case .dictionary(_, let values): return values[name] ?? .undefined
        case .namespace(let ns): return ns.attributes[name] ?? .undefined
        case .undefined: throw ChatTemplateError.runtime("'\(name)' of an undefined value", line: line)
        default: return .undefined
        }
    }

    func item(_ v: JinjaValue, _ key: JinjaValue, line: Int) throws -> JinjaValue {
        switch (v, key) {
        case (.array(let a), .int(let i)):
            let j = i < 0 ? a.count + i : i
            guard j >= 0, j < a.count else { return .undefined }
            return a[j]
        case (.string(let s), .int(let i)):
            let chars = Array(s)
            let j = i < 0 ? chars.count + i : i
            guard j >= 0, j < chars.count else { return .undefined }
            return .string(String(chars[j]))
        case (.dictionary(_, let values), .string(let k)): return values[k] ?? .undefined
        case (.namespace(let ns), .string(let k)): return ns.attributes[k] ?? .undefined
        case (.undefined, _): throw ChatTemplateError.runtime("subscript of an undefined value", line: line)
        default: return .undefined
        }
    }

    func slice(_ v: JinjaValue, _ start: JinjaValue?, _ stop: JinjaValue?, _ step: JinjaValue?, line: Int) throws
        -> JinjaValue
    {
        func int(_ x: JinjaValue?) -> Int? {
            if case .int(let i) = x { return i }
            return nil
        }
        let items: [JinjaValue]
        var isString = false
        switch v {
        case .array(let a): items = a
        case .string(let s):
            items = s.map { .string(String($0)) }
            isString = true
        default: throw ChatTemplateError.runtime("cannot slice \(v.typeName)", line: line)
        }
        let n = items.count
        let st = int(step) ?? 1
        guard st != 0 else { throw ChatTemplateError.runtime("slice step 0", line: line) }
        func clamp(_ i: Int?, _ def: Int) -> Int {
            guard var i else { return def }
            if i < 0 { i += n }
            return st > 0 ? min(max(i, 0), n) : min(max(i, -1), n - 1)
        }
        var out: [JinjaValue] = []
        var i = clamp(int(start), st > 0 ? 0 : n - 1)
        let end = clamp(int(stop), st > 0 ? n : -1)
        while st > 0 ? i < end : i > end {
            out.append(items[i])
            i += st
        }
        return isString ? .string(out.map(\.rendered).joined()) : .array(out)
    }

    mutating func call(_ callee: JinjaExpression, _ args: [JinjaValue], _ kwargs: [String: JinjaValue], line: Int)
        throws
        -> JinjaValue
    {
        if case .attribute(let base, let method) = callee {
            let receiver = try eval(base, line: line)
            return try JinjaBuiltins.method(receiver, method, args, kwargs, line: line)
        }
        if case .name(let name) = callee, macros[name] == nil, scopes.allSatisfy({ $0[name] == nil }) {
            return try JinjaBuiltins.global(name, args, kwargs, line: line)
        }
        guard case .macro(let m) = try eval(callee, line: line) else {
            throw ChatTemplateError.runtime("value is not callable", line: line)
        }
        var scope: [String: JinjaValue] = [:]
        for (i, (name, defaultValue)) in m.parameters.enumerated() {
            if i < args.count {
                scope[name] = args[i]
            } else if let v = kwargs[name] {
                scope[name] = v
            } else {
                scope[name] = try defaultValue.map { try eval($0, line: line) } ?? .undefined
            }
        }
        scopes.append(scope)
        defer { scopes.removeLast() }
        var out = ""
        try run(m.body, into: &out)
        return .string(out)
    }
}
