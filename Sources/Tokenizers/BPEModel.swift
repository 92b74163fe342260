/// Byte-pair encoding (Sennrich et al. 2016) as Hugging Face `tokenizers`' BPE model: a word is
/// split into symbols, then the adjacent pair with the lowest merge rank is merged, repeatedly,
/// until no ranked pair is left.
final class BPEModel: @unchecked Sendable {
    let vocabulary: [String: Int]
    let tokens: [String]
    /// (left id, right id) → (rank, merged id).
    let merges: [Pair: (rank: Int, merged: Int)]
    let unknownID: Int?
    let ignoreMerges: Bool
    let byteFallback: Bool
    private var cache: [String: [Int]] = [:]
    private let cacheLock = NSLockLike()

    struct Pair: Hashable {
        var left: Int
        var right: Int
    }

    init(
        vocabulary: [String: Int], merges: [(String, String)], unknownID: Int?, ignoreMerges: Bool = false,
        byteFallback: Bool = false, source: String
    ) throws {
        self.vocabulary = vocabulary
        var tokens = [String](repeating: "", count: (vocabulary.values.max() ?? -1) + 1)
        for (t, id) in vocabulary { tokens[id] = t }
        self.tokens = tokens
        var table: [Pair: (Int, Int)] = [:]
        for (rank, (a, b)) in merges.enumerated() {
            guard let l = vocabulary[a], let r = vocabulary[b], let m = vocabulary[a + b] else {
                throw TokenizerError.invalidJSON(
                    source, "merge \(rank) '\(a) \(b)' uses a token outside the vocabulary")
            }
            let key = Pair(left: l, right: r)
            if table[key] == nil { table[key] = (rank, m) }
        }
        self.merges = table
        self.unknownID = unknownID
        self.ignoreMerges = ignoreMerges
        self.byteFallback = byteFallback
    }

    /// Ids of one pre-tokenized word (already in the byte-level alphabet when that is used).
    func tokenize(_ word: String) -> [Int] {
        if let cached = cacheLock.withLock({ cache[word] }) { return cached }
        if ignoreMerges, let id = vocabulary[word] { return [id] }
        var symbols: [Int] = []
        for s in word.unicodeScalars {
            let piece = String(s)
            if let id = vocabulary[piece] {
                symbols.append(id)
            } else if byteFallback {
                for b in piece.utf8 {
                    if let id = vocabulary[String(format: "<0x%02X>", b)] { symbols.append(id) }
                }
            } else if let unknownID {
                symbols.append(unknownID)
            }
        }
        while symbols.count > 1 {
            var best = -1
            var bestRank = Int.max
            var merged = 0
            for i in 0..<(symbols.count - 1) {
                if let m = merges[Pair(left: symbols[i], right: symbols[i + 1])], m.rank < bestRank {
                    bestRank = m.rank
                    best = i
                    merged = m.merged
                }
            }
            if best < 0 { break }
            symbols[best] = merged
            symbols.remove(at: best + 1)
        }
        if word.unicodeScalars.count < 64 { cacheLock.withLock { cache[word] = symbols } }
        return symbols
    }
}

import Foundation

/// A small lock wrapper (NSLock with a closure API that returns a value).
final class NSLockLike: @unchecked Sendable {
    private let lock = NSLock()
    func withLock<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }
}
