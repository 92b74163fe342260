/// GPT-2's byte-level alphabet: every byte maps to a printable Unicode scalar, so BPE works on
/// text with no unknown symbols (`bytes_to_unicode` in the original encoder).
enum ByteLevel {
    /// Scalar for each byte value.
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// Byte for each scalar of the alphabet.
    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The alphabet string of some UTF-8 bytes.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }

    /// The bytes behind an alphabet string; scalars outside the alphabet are passed through as UTF-8.
    static func decode(_ text: String, into bytes: inout [UInt8]) {
        for s in text.unicodeScalars {
            if let b = scalarToByte[s.value] {
                bytes.append(b)
            } else {
                bytes.append(contentsOf: Array(String(s).utf8))
            }
        }
    }
}

/// The GPT-2 pre-tokenization pattern, hand-coded over Unicode scalars:
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
/// It gives the same pieces as the regex (tested against NSRegularExpression) and runs in linear time.
enum GPT2Splitter {
    enum Class { case letter, number, space, other }

    static func classify(_ s: Unicode.Scalar) -> Class {
        let p = s.properties
        if p.isWhitespace { return .space }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    static func split(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let classes = scalars.map(classify)
        let n = scalars.count
        var pieces: [String] = []
        var i = 0
        func emit(_ a: Int, _ b: Int) {
            var v = String.UnicodeScalarView()
            v.append(contentsOf: scalars[a..<b])
            pieces.append(String(v))
        }
        func run(from j: Int, _ c: Class) -> Int {
            var k = j
            while k < n && classes[k] == c { k += 1 }
            return k
        }
        func runOther(from j: Int) -> Int {
            var k = j
            while k < n && classes[k] == .other { k += 1 }
            return k
        }
        while i < n {
            // Contractions.
            if scalars[i] == "'" && i + 1 < n {
                let rest2 = i + 2 < n ? String(String.UnicodeScalarView(scalars[i + 1...i + 2])) : ""
                if rest2 == "re" || rest2 == "ve" || rest2 == "ll" {
                    emit(i, i + 3)
                    i += 3
                    continue
                }
                if ["s", "t", "m", "d"].contains(scalars[i + 1]) {
                    emit(i, i + 2)
                    i += 2
                    continue
                }
            }
            // Optional space, then letters / numbers / others.
            let start = i
            let j = (scalars[i] == " " && i + 1 < n && classes[i + 1] != .space) ? i + 1 : i
            switch classes[j] {
            case .letter:
                let end = run(from: j, .letter)
                emit(start, end)
                i = end
                continue
            case .number:
                let end = run(from: j, .number)
                emit(start, end)
                i = end
                continue
            case .other:
                let end = runOther(from: j)
                emit(start, end)
                i = end
                continue
            case .space:
                break
            }
            // Whitespace: \s+(?!\S) leaves the last space before a non-space; else \s+.
            let end = run(from: i, .space)
            if end == n || end - i == 1 {
                emit(i, end)
                i = end
            } else {
                emit(i, end - 1)
                i = end - 1
            }
        }
        return pieces
    }
}
