/// Errors from chat templates: each names what is unsupported or wrong and where.
public enum ChatTemplateError: Error, CustomStringConvertible, Equatable {
    case syntax(String, line: Int)
    case unsupported(String, line: Int)
    case runtime(String, line: Int)
    /// The template called `raise_exception(message)`.
    case raised(String)

    public var description: String {
        switch self {
        case .syntax(let m, let line): "chat template line \(line): syntax error: \(m)"
        case .unsupported(let m, let line): "chat template line \(line): unsupported \(m)"
        case .runtime(let m, let line): "chat template line \(line): \(m)"
        case .raised(let m): "chat template raised: \(m)"
        }
    }
}

/// Splits template source into text, `{{ expression }}` and `{% statement %}` pieces, applying
/// whitespace control (`-`), and Jinja2's `trim_blocks` and `lstrip_blocks` as transformers sets them.
enum JinjaLexer {
    enum Piece: Equatable {
        case text(String)
        case expression(String, line: Int)
        case statement(String, line: Int)
    }

    static func lex(_ source: String) throws -> [Piece] {
        var s = Array(source.unicodeScalars)
        // Jinja2's keep_trailing_newline=False: one final newline of the source is dropped.
        if s.last == "\n" { s.removeLast() }
        var pieces: [Piece] = []
        var text = String.UnicodeScalarView()
        var i = 0
        var line = 1
        var stripNextLeading = false
        var trimNextNewline = false
        func flushText() {
            if !text.isEmpty { pieces.append(.text(String(text))) }
            text = String.UnicodeScalarView()
        }
        while i < s.count {
            if s[i] == "{", i + 1 < s.count, ["{", "%", "#"].contains(s[i + 1]) {
                let kind = s[i + 1]
                let close: Unicode.Scalar = kind == "{" ? "}" : kind
                var j = i + 2
                var stripBefore = false
                var keepBefore = false
                if j < s.count, s[j] == "-" {
                    stripBefore = true
                    j += 1
                } else if j < s.count, s[j] == "+" {
                    keepBefore = true
                    j += 1
                }
                // Find the closing delimiter outside string literals.
                var k = j
                var quote: Unicode.Scalar?
                while k + 1 < s.count {
                    if let q = quote {
                        if s[k] == "\\" { k += 2; continue }
                        if s[k] == q { quote = nil }
                    } else if kind != "#" && (s[k] == "'" || s[k] == "\"") {
                        quote = s[k]
                    } else if s[k] == close && s[k + 1] == "}" {
                        break
                    }
                    k += 1
                }
                guard k + 1 < s.count else { throw ChatTemplateError.syntax("unclosed '{\(kind)'", line: line) }
                var end = k
                var stripAfter = false
                if end > j, s[end - 1] == "-" {
                    stripAfter = true
                    end -= 1
                }
                if stripBefore {
                    while let last = text.last, last.properties.isWhitespace { text.removeLast() }
                } else if kind != "{" && !keepBefore {
                    // lstrip_blocks: spaces and tabs from the line start up to a block tag go.
                    var t = Array(text)
                    var n = t.count
                    while n > 0 && (t[n - 1] == " " || t[n - 1] == "\t") { n -= 1 }
                    if n == 0 ? pieces.last.map(Self.endsLine) ?? true : t[n - 1] == "\n" {
                        t.removeLast(t.count - n)
                        text = String.UnicodeScalarView(t)
                    }
                }
                flushText()
                let body = String(String.UnicodeScalarView(s[j..<end]))
                switch kind {
                case "{": pieces.append(.expression(body, line: line))
                case "%": pieces.append(.statement(body, line: line))
                default: break
                }
                for c in s[i...(k + 1)] where c == "\n" { line += 1 }
                i = k + 2
                stripNextLeading = stripAfter
                trimNextNewline = kind != "{"
                continue
            }
            if stripNextLeading {
                if s[i].properties.isWhitespace {
                    if s[i] == "\n" { line += 1 }
                    i += 1
                    continue
                }
                stripNextLeading = false
            }
            if trimNextNewline {
                trimNextNewline = false
                if s[i] == "\n" {
                    line += 1
                    i += 1
                    continue
                }
            }
            if s[i] == "\n" { line += 1 }
            text.append(s[i])
            i += 1
        }
        flushText()
        return pieces
    }

    /// Whether the text before a tag ends a line (or the template just started).
    static func endsLine(_ piece: Piece) -> Bool {
        if case .text(let t) = piece { return t.hasSuffix("\n") }
        return false
    }
}

/// A token inside `{{ }}` or `{% %}`.
enum JinjaToken: Equatable {
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    case op(String)
    case end
}

enum JinjaTokenizer {
    static let operators = [
        "**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")",
        "[", "]", "{", "}", ",", ".", ":", "|",
    ]

    static func tokenize(_ source: String, line: Int) throws -> [JinjaToken] {
        let s = Array(source.unicodeScalars)
        var tokens: [JinjaToken] = []
        var i = 0
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace {
                i += 1
                continue
            }
            if c == "'" || c == "\"" {
                var out = String.UnicodeScalarView()
                var j = i + 1
                while j < s.count && s[j] != c {
                    if s[j] == "\\", j + 1 < s.count {
                        j += 1
                        switch s[j] {
                        case "n": out.append("\n")
                        case "t": out.append("\t")
                        case "r": out.append("\r")
                        default: out.append(s[j])
                        }
                    } else {
                        out.append(s[j])
                    }
                    j += 1
                }
                guard j < s.count else { throw ChatTemplateError.syntax("unterminated string", line: line) }
                tokens.append(.string(String(out)))
                i = j + 1
                continue
            }
            if c.properties.numericType != nil && c.isASCII {
                var j = i
                while j < s.count && s[j].isASCII && s[j].properties.numericType != nil { j += 1 }
                if j + 1 < s.count && s[j] == "." && s[j + 1].isASCII && s[j + 1].properties.numericType != nil {
                    j += 1
                    while j < s.count && s[j].isASCII && s[j].properties.numericType != nil { j += 1 }
                    tokens.append(.double(Double(String(String.UnicodeScalarView(s[i..<j])))!))
                } else {
                    tokens.append(.int(Int(String(String.UnicodeScalarView(s[i..<j])))!))
                }
                i = j
                continue
            }
            if c == "_" || c.properties.isAlphabetic {
                var j = i
                while j < s.count
                    && (s[j] == "_" || s[j].properties.isAlphabetic
                        || (s[j].isASCII && s[j].properties.numericType != nil))
                {
                    j += 1
                }
                tokens.append(.name(String(String.UnicodeScalarView(s[i..<j]))))
                i = j
                continue
            }
            guard
                let op = operators.first(where: { op in
                    let o = Array(op.unicodeScalars)
                    return i + o.count <= s.count && Array(s[i..<(i + o.count)]) == o
                })
            else { throw ChatTemplateError.syntax("unexpected character '\(c)'", line: line) }
            tokens.append(.op(op))
            i += op.unicodeScalars.count
        }
        tokens.append(.end)
        return tokens
    }
}
