/// Tokens matched in raw text before the pipeline runs (`added_tokens`): the special tokens
/// (`<|im_start|>`, …) and user-defined ones. The longest match at the earliest position wins.
struct AddedTokens: Sendable {
    struct Token: Sendable {
        var id: Int
        var content: String
        var special: Bool
        var lstrip: Bool
        var rstrip: Bool
    }

    enum Segment: Equatable {
        case text(String)
        case added(Int)
    }

    let byID: [Int: Token]
    let ids: [String: Int]
    /// Candidates by first scalar, longest first.
    private let byFirstScalar: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: Token)]]

    var maxID: Int? { byID.keys.max() }

    init(_ tokens: [Token]) {
        var byID: [Int: Token] = [:]
        var ids: [String: Int] = [:]
        var first: [Unicode.Scalar: [(scalars: [Unicode.Scalar], token: Token)]] = [:]
        for t in tokens where !t.content.isEmpty {
            byID[t.id] = t
            ids[t.content] = t.id
            let scalars = Array(t.content.unicodeScalars)
            first[scalars[0], default: []].append((scalars, t))
        }
        for key in first.keys { first[key]?.sort { $0.scalars.count > $1.scalars.count } }
        self.byID = byID
        self.ids = ids
        byFirstScalar = first
    }

    func split(_ text: String) -> [Segment] {
        guard !byFirstScalar.isEmpty else { return text.isEmpty ? [] : [.text(text)] }
        let scalars = Array(text.unicodeScalars)
        var segments: [Segment] = []
        var pending = String.UnicodeScalarView()
        var i = 0
        func flush(stripTrailing: Bool) {
            var s = String(pending)
            if stripTrailing { while s.last?.isWhitespace == true { s.removeLast() } }
            if !s.isEmpty { segments.append(.text(s)) }
            pending = String.UnicodeScalarView()
        }
        var stripLeading = false
        while i < scalars.count {
            if let candidates = byFirstScalar[scalars[i]],
                let match = candidates.first(where: { c in
                    i + c.scalars.count <= scalars.count && scalars[i..<(i + c.scalars.count)].elementsEqual(c.scalars)
                })
            {
                flush(stripTrailing: match.token.lstrip)
                segments.append(.added(match.token.id))
                i += match.scalars.count
                stripLeading = match.token.rstrip
                continue
            }
            if stripLeading, scalars[i].properties.isWhitespace {
                i += 1
                continue
            }
            stripLeading = false
            pending.append(scalars[i])
            i += 1
        }
        flush(stripTrailing: false)
        return segments
    }
}
