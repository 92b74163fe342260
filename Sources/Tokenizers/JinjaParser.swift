/// A Jinja expression.
public indirect enum JinjaExpression: @unchecked Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpression])
    case dict([(JinjaExpression, JinjaExpression)])
    case attribute(JinjaExpression, String)
    case index(JinjaExpression, JinjaExpression)
    case slice(JinjaExpression, JinjaExpression?, JinjaExpression?, JinjaExpression?)
    case call(JinjaExpression, [JinjaExpression], [(String, JinjaExpression)])
    case filter(JinjaExpression, String, [JinjaExpression], [(String, JinjaExpression)])
    case test(JinjaExpression, String, [JinjaExpression], negated: Bool)
    case unary(String, JinjaExpression)
    case binary(String, JinjaExpression, JinjaExpression)
    case conditional(JinjaExpression, condition: JinjaExpression, otherwise: JinjaExpression?)
}

/// A template statement or output.
public indirect enum JinjaNode: @unchecked Sendable {
    case text(String)
    case output(JinjaExpression, line: Int)
    case forLoop(
        targets: [String], iterable: JinjaExpression, condition: JinjaExpression?, body: [JinjaNode],
        otherwise: [JinjaNode],
        line: Int)
    case ifBlock([(JinjaExpression, [JinjaNode])], otherwise: [JinjaNode], line: Int)
    case set(target: [String], attribute: String?, value: JinjaExpression, line: Int)
    case setBlock(name: String, body: [JinjaNode])
    case macro(name: String, parameters: [(String, JinjaExpression?)], body: [JinjaNode])
    case loopControl(breaks: Bool, line: Int)
}

/// Parses the lexer's pieces into nodes (recursive descent; expressions by precedence climbing).
struct JinjaParser {
    var pieces: [JinjaLexer.Piece]
    var index = 0

    static func parse(_ source: String) throws -> [JinjaNode] {
        var parser = JinjaParser(pieces: try JinjaLexer.lex(source))
        let (nodes, end) = try parser.parseBlock(until: [])
        if let end { throw ChatTemplateError.syntax("unexpected '\(end.keyword)'", line: end.line) }
        return nodes
    }

    struct BlockEnd {
        var keyword: String
        var tokens: ExpressionParser
        var line: Int
    }

    /// Parses nodes until a statement whose keyword is in `terminators` (returned) or the end.
    mutating func parseBlock(until terminators: Set<String>) throws -> ([JinjaNode], BlockEnd?) {
        var nodes: [JinjaNode] = []
        while index < pieces.count {
            let piece = pieces[index]
            index += 1
            switch piece {
            case .text(let t): nodes.append(.text(t))
            case .expression(let source, let line):
                var p = try ExpressionParser(source, line: line)
                let e = try p.parseExpression()
                try p.expectEnd()
                nodes.append(.output(e, line: line))
            case .statement(let source, let line):
                var p = try ExpressionParser(source, line: line)
                guard case .name(let keyword) = p.peek else {
                    throw ChatTemplateError.syntax("empty statement", line: line)
                }
                p.advance()
                if terminators.contains(keyword) { return (nodes, BlockEnd(keyword: keyword, tokens: p, line: line)) }
                nodes.append(try parseStatement(keyword, &p, line: line))
            }
        }
        if !terminators.isEmpty {
            throw ChatTemplateError.syntax(
                "missing '\(terminators.sorted().joined(separator: "' or '"))' (unclosed block)", line: 0)
        }
        return (nodes, nil)
    }

    mutating func parseStatement(_ keyword: String, _ p: inout ExpressionParser, line: Int) throws -> JinjaNode {
        switch keyword {
        case "for":
            var targets = [try p.name()]
            while p.accept(.op(",")) { targets.append(try p.name()) }
            try p.expectName("in")
            let iterable = try p.parseExpression(allowConditional: false)
            var condition: JinjaExpression?
            if p.acceptName("if") { condition = try p.parseExpression(allowConditional: false) }
            try p.expectEnd()
            let (body, end) = try parseBlock(until: ["else", "endfor"])
            var otherwise: [JinjaNode] = []
            if end?.keyword == "else" {
                let (e, _) = try parseBlock(until: ["endfor"])
                otherwise = e
            }
            return .forLoop(
                targets: targets, iterable: iterable, condition: condition, body: body, otherwise: otherwise, line: line
            )
        case "if":
            var branches: [(JinjaExpression, [JinjaNode])] = []
            var condition = try p.parseExpression()
            try p.expectEnd()
            while true {
                let (body, end) = try parseBlock(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard var end else { throw ChatTemplateError.syntax("missing endif", line: line) }
                if end.keyword == "elif" {
                    condition = try end.tokens.parseExpression()
                    try end.tokens.expectEnd()
                    continue
                }
                if end.keyword == "else" {
                    let (otherwise, _) = try parseBlock(until: ["endif"])
                    return .ifBlock(branches, otherwise: otherwise, line: line)
                }
                return .ifBlock(branches, otherwise: [], line: line)
            }
        case "set":
            var targets = [try p.name()]
            var attribute: String?
            if p.accept(.op(".")) {
                attribute = try p.name()
            } else {
                while p.accept(.op(",")) { targets.append(try p.name()) }
            }
            if p.accept(.end) {
                let (body, _) = try parseBlock(until: ["endset"])
                return .setBlock(name: targets[0], body: body)
            }
            try p.expect(.op("="))
            let value = try p.parseExpression()
            try p.expectEnd()
            return .set(target: targets, attribute: attribute, value: value, line: line)
        case "macro":
            let name = try p.name()
            try p.expect(.op("("))
            var parameters: [(String, JinjaExpression?)] = []
            while !p.accept(.op(")")) {
                let parameter = try p.name()
                parameters.append((parameter, p.accept(.op("=")) ? try p.parseExpression() : nil))
                _ = p.accept(.op(","))
            }
            try p.expectEnd()
            let (body, _) = try parseBlock(until: ["endmacro"])
            return .macro(name: name, parameters: parameters, body: body)
        case "generation":
            try p.expectEnd()
            let (body, _) = try parseBlock(until: ["endgeneration"])
            return .ifBlock([(.literal(.bool(true)), body)], otherwise: [], line: line)
        case "break", "continue":
            try p.expectEnd()
            return .loopControl(breaks: keyword == "break", line: line)
        default:
            throw ChatTemplateError.unsupported("statement '\(keyword)'", line: line)
        }
    }
}

/// Expression tokens with a cursor, and the precedence-climbing expression grammar.
struct ExpressionParser {
    var tokens: [JinjaToken]
    var position = 0
    let line: Int

    init(_ source: String, line: Int) throws {
        tokens = try JinjaTokenizer.tokenize(source, line: line)
        self.line = line
    }

    var peek: JinjaToken { tokens[position] }
    mutating func advance() { if position < tokens.count - 1 { position += 1 } }

    mutating func accept(_ t: JinjaToken) -> Bool {
        if peek == t {
            advance()
            return true
        }
        return false
    }

    mutating func acceptName(_ n: String) -> Bool { accept(.name(n)) }

    mutating func expect(_ t: JinjaToken) throws {
        guard accept(t) else { throw ChatTemplateError.syntax("expected \(t), found \(peek)", line: line) }
    }

    mutating func expectName(_ n: String) throws { try expect(.name(n)) }
    mutating func expectEnd() throws { try expect(.end) }

    mutating func name() throws -> String {
        guard case .name(let n) = peek else {
            throw ChatTemplateError.syntax("expected a name, found \(peek)", line: line)
        }
        advance()
        return n
    }

    mutating func parseExpression(allowConditional: Bool = true) throws -> JinjaExpression {
        let value = try parseOr()
        guard allowConditional, acceptName("if") else { return value }
        let condition = try parseOr()
        let otherwise = acceptName("else") ? try parseExpression() : nil
        return .conditional(value, condition: condition, otherwise: otherwise)
    }

    mutating func parseOr() throws -> JinjaExpression {
        var left = try parseAnd()
        while acceptName("or") { left = .binary("or", left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws -> JinjaExpression {
        var left = try parseNot()
        while acceptName("and") { left = .binary("and", left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> JinjaExpression {
        if acceptName("not") { return .unary("not", try parseNot()) }
        return try parseComparison()
    }

    mutating func parseComparison() throws -> JinjaExpression {
        var left = try parseConcat()
        while true {
            if case .op(let o) = peek, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                advance()
                left = .binary(o, left, try parseConcat())
            } else if acceptName("in") {
                left = .binary("in", left, try parseConcat())
            } else if case .name("not") = peek, tokens[position + 1] == .name("in") {
                advance()
                advance()
                left = .unary("not", .binary("in", left, try parseConcat()))
            } else if acceptName("is") {
                let negated = acceptName("not")
                let testName = try name()
                var arguments: [JinjaExpression] = []
                if accept(.op("(")) {
                    while !accept(.op(")")) {
                        arguments.append(try parseExpression())
                        _ = accept(.op(","))
                    }
                } else if case .string = peek {
                    arguments.append(try parsePrimary())
                } else if case .int = peek {
                    arguments.append(try parsePrimary())
                }
                left = .test(left, testName, arguments, negated: negated)
            } else {
                return left
            }
        }
    }

    mutating func parseConcat() throws -> JinjaExpression {
        var left = try parseAdditive()
        while accept(.op("~")) { left = .binary("~", left, try parseAdditive()) }
        return left
    }

    mutating func parseAdditive() throws -> JinjaExpression {
        var left = try parseMultiplicative()
        while case .op(let o) = peek, o == "+" || o == "-" {
            advance()
            left = .binary(o, left, try parseMultiplicative())
        }
        return left
    }

    mutating func parseMultiplicative() throws -> JinjaExpression {
        var left = try parseUnary()
        while case .op(let o) = peek, ["*", "/", "//", "%"].contains(o) {
            advance()
            left = .binary(o, left, try parseUnary())
        }
        return left
    }

    mutating func parseUnary() throws -> JinjaExpression {
        if accept(.op("-")) { return .unary("-", try parseUnary()) }
        if accept(.op("+")) { return try parseUnary() }
        return try parsePower()
    }

    mutating func parsePower() throws -> JinjaExpression {
        let base = try parsePostfix()
        if accept(.op("**")) { return .binary("**", base, try parseUnary()) }
        return base
    }

    mutating func parseArguments() throws -> ([JinjaExpression], [(String, JinjaExpression)]) {
        var positional: [JinjaExpression] = []
        var keyword: [(String, JinjaExpression)] = []
        while !accept(.op(")")) {
            if case .name(let n) = peek, tokens[position + 1] == .op("=") {
                advance()
                advance()
                keyword.append((n, try parseExpression()))
            } else {
                positional.append(try parseExpression())
            }
            if !accept(.op(",")) {
                try expect(.op(")"))
                break
            }
        }
        return (positional, keyword)
    }

    mutating func parsePostfix() throws -> JinjaExpression {
        var e = try parsePrimary()
        while true {
            if accept(.op(".")) {
                e = .attribute(e, try name())
            } else if accept(.op("[")) {
                var start: JinjaExpression?
                if peek != .op(":") { start = try parseExpression() }
                if accept(.op(":")) {
                    var stop: JinjaExpression?
                    var step: JinjaExpression?
                    if peek != .op("]") && peek != .op(":") { stop = try parseExpression() }
                    if accept(.op(":")), peek != .op("]") { step = try parseExpression() }
                    try expect(.op("]"))
                    e = .slice(e, start, stop, step)
                } else {
                    try expect(.op("]"))
                    guard let start else { throw ChatTemplateError.syntax("empty subscript", line: line) }
                    e = .index(e, start)
                }
            } else if accept(.op("(")) {
                let (positional, keyword) = try parseArguments()
                e = .call(e, positional, keyword)
            } else if accept(.op("|")) {
                let filterName = try name()
                var positional: [JinjaExpression] = []
                var keyword: [(String, JinjaExpression)] = []
                if accept(.op("(")) { (positional, keyword) = try parseArguments() }
                e = .filter(e, filterName, positional, keyword)
            } else {
                return e
            }
        }
    }

    mutating func parsePrimary() throws -> JinjaExpression {
        let t = peek
        advance()
        switch t {
        case .string(var s):
            while case .string(let more) = peek {  // adjacent literals concatenate
                s += more
                advance()
            }
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try parseExpression()
            if accept(.op(",")) {  // a tuple: treated as a list
                var items = [e]
                while !accept(.op(")")) {
                    items.append(try parseExpression())
                    _ = accept(.op(","))
                }
                return .list(items)
            }
            try expect(.op(")"))
            return e
        case .op("["):
            var items: [JinjaExpression] = []
            while !accept(.op("]")) {
                items.append(try parseExpression())
                _ = accept(.op(","))
            }
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpression, JinjaExpression)] = []
            while !accept(.op("}")) {
                let k = try parseExpression()
                try expect(.op(":"))
                pairs.append((k, try parseExpression()))
                _ = accept(.op(","))
            }
            return .dict(pairs)
        default:
            throw ChatTemplateError.syntax("unexpected \(t)", line: line)
        }
    }
}
