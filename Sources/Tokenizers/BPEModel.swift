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
        symbols = Self.merged(symbols, merges)
        if word.unicodeScalars.count < 64 { cacheLock.withLock { cache[word] = symbols } }
        return symbols
    }
}

extension BPEModel {
    /// Applies the merges: the adjacent pair with the lowest rank (the leftmost among equals)
    /// merges, again and again, until no pair has a rank. A heap of candidate pairs over a linked
    /// list of symbols makes this O(n log n) in the word's length (a 200 000-character word
    /// without spaces took minutes with the rescan of ``mergedByScanning(_:_:)``).
    static func merged(_ symbols: [Int], _ merges: [Pair: (rank: Int, merged: Int)]) -> [Int] {
        guard symbols.count > 1 else { return symbols }
        var ids = symbols
        var next = Array(1...symbols.count)  // symbols.count = none
        var previous = Array(-1..<(symbols.count - 1))
        var alive = [Bool](repeating: true, count: symbols.count)
        var heap = PairHeap()
        func push(_ i: Int) {
            let j = next[i]
            guard j < ids.count, let m = merges[Pair(left: ids[i], right: ids[j])] else { return }
            heap.push(.init(rank: m.rank, position: i, left: ids[i], right: ids[j]))
        }
        for i in 0..<(ids.count - 1) { push(i) }
        while let top = heap.pop() {
            let i = top.position
            let j = next[i]
            // Skip pairs that a merge has changed since they were pushed.
            guard alive[i], j < ids.count, alive[j], ids[i] == top.left, ids[j] == top.right else { continue }
            guard let m = merges[Pair(left: top.left, right: top.right)] else { continue }
            ids[i] = m.merged
            alive[j] = false
            next[i] = next[j]
            if next[j] < ids.count { previous[next[j]] = i }
            if previous[i] >= 0 { push(previous[i]) }
            push(i)
        }
        return ids.indices.filter { alive[$0] }.map { ids[$0] }
    }

    /// The reference: rescans the whole word for its best pair after every merge (O(n²)).
    static func mergedByScanning(_ symbols: [Int], _ merges: [Pair: (rank: Int, merged: Int)]) -> [Int] {
        var symbols = symbols
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
