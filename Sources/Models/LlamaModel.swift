import Kernels

/// A Llama-family decoder (Llama 2/3, Mistral, SmolLM, Qwen2) for inference on the CPU.
///
/// Weights keep their stored format; every projection goes through the one GEMM that reads any
/// format. A forward call runs several sequences together: their tokens are concatenated into
/// one matrix of rows for the projections (no padding is computed), and attention runs per
/// sequence against that sequence's slot in the ``KVCache``.
///
/// ```swift
/// let loaded = try ModelLoader.load(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// let cache = try KVCache(configuration: loaded.model.configuration, slots: 1, capacity: 512)
/// let logits = try loaded.model.forward([.init(slot: 0, tokens: ids)], cache: cache, outputs: .last)
/// ```
public final class LlamaModel: @unchecked Sendable {
    public let configuration: LlamaConfiguration
    public internal(set) var embedTokens: WeightMatrix  // (V, H)
    public internal(set) var layers: [LlamaLayer]
    public let norm: [Float]  // (H)
    public internal(set) var lmHead: WeightMatrix  // (V, H), the embedding itself when tied
    let rope: RoPE
    /// Adapters added to projections' outputs, applied in order (see ``LinearAdapter``).
    /// Attach them before running; they are read by every forward call.
    public var adapters: [ProjectionKey: [any LinearAdapter]] = [:]
    /// Modules that read a float32 weight of their own (see ``replaceWeight(of:with:)``); the
    /// backward pass accumulates their weight gradients.
    public internal(set) var trainableWeights: [LlamaModule: TrainableWeight] = [:]
    /// The loaded weights of the replaced modules.
    var originalWeights: [LlamaModule: WeightMatrix] = [:]

    /// Tokens to append to one cache slot in a forward call.
    public struct Sequence: Sendable {
        public var slot: Int
        public var tokens: [Int]
        /// Adapters for this sequence only, added after the model's own ``LlamaModel/adapters``.
        public var adapters: AdapterSet?
        public init(slot: Int, tokens: [Int], adapters: AdapterSet? = nil) {
            self.slot = slot
            self.tokens = tokens
            self.adapters = adapters
        }
    }

    /// Which positions get logits.
    public enum Outputs: Sendable {
        /// The last new token of each sequence: one row per sequence (generation).
        case last
        /// Every new token, sequences one after another (scoring, tests).
        case all
    }

    public init(
        configuration: LlamaConfiguration, embedTokens: WeightMatrix, layers: [LlamaLayer], norm: [Float],
        lmHead: WeightMatrix
    ) {
        self.configuration = configuration
        self.embedTokens = embedTokens
        self.layers = layers
        self.norm = norm
        self.lmHead = lmHead
        rope = Self.makeRoPE(configuration)
    }

    /// Runs the new tokens of each sequence after what its cache slot holds, stores their keys
    /// and values in the cache, and returns logits `(rows, vocab)` for the requested positions.
    public func forward(_ batch: [Sequence], cache: KVCache, outputs: Outputs) throws -> Tensor {
        let c = configuration
        let H = c.hiddenSize
        let qDim = c.numAttentionHeads * c.headDim
        let kvDim = c.numKeyValueHeads * c.headDim
        var rowStart: [Int] = []
        var positions: [Int] = []
        var ids: [Int] = []
        for s in batch {
            guard s.slot >= 0, s.slot < cache.slots else {
                throw ModelError.invalidInput("cache slot \(s.slot) out of range 0..<\(cache.slots)")
            }
            guard !s.tokens.isEmpty else { throw ModelError.invalidInput("empty sequence for slot \(s.slot)") }
            let past = cache.lengths[s.slot]
            guard past + s.tokens.count <= cache.capacity else {
                throw ModelError.contextOverflow(requested: past + s.tokens.count, limit: cache.capacity)
            }
            if let bad = s.tokens.first(where: { $0 < 0 || $0 >= c.vocabSize }) {
                throw ModelError.invalidInput("token id \(bad) outside the vocabulary of \(c.vocabSize)")
            }
            rowStart.append(ids.count)
            positions += (past..<past + s.tokens.count)
            ids += s.tokens
        }
        let R = ids.count
        // Blocks of consecutive rows that share a per-sequence adapter set.
        var blocks: [(rows: Range<Int>, set: AdapterSet)] = []
        for (b, s) in batch.enumerated() {
            guard let set = s.adapters else { continue }
            let rows = rowStart[b]..<rowStart[b] + s.tokens.count
            if let last = blocks.last, last.set === set, last.rows.upperBound == rows.lowerBound {
                blocks[blocks.count - 1].rows = last.rows.lowerBound..<rows.upperBound
            } else {
                blocks.append((rows, set))
            }
        }
        let x = Tensor(zeros: [R, H])  // (R,H) residual stream
        let xn = Tensor(zeros: [R, H])  // (R,H) normalized
        let q = Tensor(zeros: [R, qDim])  // (R,Hq·D)
        let k = Tensor(zeros: [R, kvDim])  // (R,Hkv·D)
        let v = Tensor(zeros: [R, kvDim])  // (R,Hkv·D)
        let attn = Tensor(zeros: [R, qDim])  // (R,Hq·D)
        let gate = Tensor(zeros: [R, c.intermediateSize])  // (R,I)
        let up = Tensor(zeros: [R, c.intermediateSize])  // (R,I)
        Ops.embed(ids, table: embedTokens, into: x.pointer)

        for (l, layer) in layers.enumerated() {
            Ops.rmsNorm(x.pointer, rows: R, dim: H, weight: layer.inputLayernorm, eps: c.rmsNormEps, into: xn.pointer)
            Ops.linear(xn.pointer, rows: R, weight: layer.qProj, bias: layer.qBias, into: q.pointer)
            Ops.linear(xn.pointer, rows: R, weight: layer.kProj, bias: layer.kBias, into: k.pointer)
            Ops.linear(xn.pointer, rows: R, weight: layer.vProj, bias: layer.vBias, into: v.pointer)
            adapt(l, .qProj, xn.pointer, rows: R, into: q.pointer, blocks: blocks)
            adapt(l, .kProj, xn.pointer, rows: R, into: k.pointer, blocks: blocks)
            adapt(l, .vProj, xn.pointer, rows: R, into: v.pointer, blocks: blocks)
            rope.apply(q.pointer, rows: R, heads: c.numAttentionHeads, positions: positions)
            rope.apply(k.pointer, rows: R, heads: c.numKeyValueHeads, positions: positions)
            for (b, s) in batch.enumerated() {
                let past = cache.lengths[s.slot]
                let n = s.tokens.count
                let r0 = rowStart[b]
                let kc = cache.keyBase(layer: l, slot: s.slot)
                let vc = cache.valueBase(layer: l, slot: s.slot)
                (kc + past * kvDim).update(from: k.pointer + r0 * kvDim, count: n * kvDim)
                (vc + past * kvDim).update(from: v.pointer + r0 * kvDim, count: n * kvDim)
                Ops.attention(
                    out: attn.pointer + r0 * qDim, q: q.pointer + r0 * qDim, queries: n,
                    keys: UnsafePointer(kc), values: UnsafePointer(vc), keyCount: past + n, queryOffset: past,
                    heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim)
            }
            Ops.linear(attn.pointer, rows: R, weight: layer.oProj, accumulateInto: x.pointer)
            adapt(l, .oProj, attn.pointer, rows: R, into: x.pointer, blocks: blocks)
            Ops.rmsNorm(
                x.pointer, rows: R, dim: H, weight: layer.postAttentionLayernorm, eps: c.rmsNormEps,
                into: xn.pointer)
            Ops.linear(xn.pointer, rows: R, weight: layer.gateProj, bias: nil, into: gate.pointer)
            Ops.linear(xn.pointer, rows: R, weight: layer.upProj, bias: nil, into: up.pointer)
            adapt(l, .gateProj, xn.pointer, rows: R, into: gate.pointer, blocks: blocks)
            adapt(l, .upProj, xn.pointer, rows: R, into: up.pointer, blocks: blocks)
            Ops.siluMul(gate: gate.pointer, up: up.pointer, count: R * c.intermediateSize, into: gate.pointer)
            Ops.linear(gate.pointer, rows: R, weight: layer.downProj, accumulateInto: x.pointer)
            adapt(l, .downProj, gate.pointer, rows: R, into: x.pointer, blocks: blocks)
        }
        for s in batch { cache.advance(slot: s.slot, by: s.tokens.count) }

        // Only the requested rows go through the final norm and the (large) output head.
        let selected: [Int] =
            switch outputs {
            case .all: Array(0..<R)
            case .last: batch.indices.map { rowStart[$0] + batch[$0].tokens.count - 1 }
            }
        let h = Tensor(zeros: [selected.count, H])
        for (i, r) in selected.enumerated() {
            Ops.rmsNorm(x.pointer + r * H, rows: 1, dim: H, weight: norm, eps: c.rmsNormEps, into: h.pointer + i * H)
        }
        let logits = Tensor(zeros: [selected.count, c.vocabSize])
        Ops.linear(h.pointer, rows: selected.count, weight: lmHead, bias: nil, into: logits.pointer)
        return logits
    }

    /// Adds the attached adapters' outputs for one projection.
    @inline(__always)
    func adapt(
        _ layer: Int, _ projection: LlamaProjection, _ x: UnsafePointer<Float>, rows: Int,
        into out: UnsafeMutablePointer<Float>, blocks: [(rows: Range<Int>, set: AdapterSet)] = []
    ) {
        guard !adapters.isEmpty || !blocks.isEmpty else { return }
        let key = ProjectionKey(layer: layer, projection: projection)
        if let list = adapters[key] {
            for adapter in list { adapter.apply(x, rows: rows, accumulateInto: out) }
        }
        guard !blocks.isEmpty else { return }
        let shape = self.shape(of: key)
        for block in blocks {
            guard let list = block.set.adapters[key] else { continue }
            let r0 = block.rows.lowerBound
            for adapter in list {
                adapter.apply(
                    x + r0 * shape.inFeatures, rows: block.rows.count,
                    accumulateInto: out + r0 * shape.outFeatures)
            }
        }
    }

    /// Logits for every position of each row of a padded batch, as transformers computes them
    /// for `input_ids` with an `attention_mask` (1 = token, 0 = padding). Padding is dropped
    /// before running, so real tokens take positions 0, 1, 2, … as in `generate`; rows of the
    /// result at padded positions are zero. Returns `(B·T, vocab)`.
    public func logits(inputIDs: [[Int]], attentionMask: [[Int]]? = nil) throws -> Tensor {
        let B = inputIDs.count
        let T = inputIDs.map(\.count).max() ?? 0
        let cache = try KVCache(configuration: configuration, slots: max(B, 1), capacity: max(T, 1))
        var batch: [Sequence] = []
        var kept: [[Int]] = []
        for (b, row) in inputIDs.enumerated() {
            let mask = attentionMask?[b] ?? Array(repeating: 1, count: row.count)
            guard mask.count == row.count else {
                throw ModelError.invalidInput(
                    "attention_mask row \(b) has \(mask.count) entries, input_ids \(row.count)")
            }
            let keep = row.indices.filter { mask[$0] != 0 }
            kept.append(keep)
            if !keep.isEmpty { batch.append(Sequence(slot: b, tokens: keep.map { row[$0] })) }
        }
        let V = configuration.vocabSize
        let out = Tensor(zeros: [B * T, V])
        guard !batch.isEmpty else { return out }
        let dense = try forward(batch, cache: cache, outputs: .all)
        var r = 0
        for (b, keep) in kept.enumerated() {
            for t in keep {
                (out.pointer + (b * T + t) * V).update(from: dense.pointer + r * V, count: V)
                r += 1
            }
        }
        return out
    }
}

extension LlamaModel {
    /// Every matrix of the model once (the head only when untied).
    public var weightMatrices: [WeightMatrix] {
        var all = [embedTokens]
        for l in layers {
            all += [l.qProj, l.kProj, l.vProj, l.oProj, l.gateProj, l.upProj, l.downProj]
        }
        if lmHead.data != embedTokens.data { all.append(lmHead) }
        return all
    }
}

extension LlamaModel {
    /// Parameters of the loaded model as transformers counts them (a tied head counted once;
    /// replaced weights are not counted: they are an adapter's).
    public var parameterCount: Int {
        let c = configuration
        let embed = baseWeight(of: .embedTokens)
        let head = baseWeight(of: .lmHead)
        var n = embed.rows * embed.columns + c.hiddenSize  // final norm
        if head.data != embed.data { n += head.rows * head.columns }
        for (i, l) in layers.enumerated() {
            for projection in LlamaProjection.allCases {
                let m = baseWeight(of: .projection(ProjectionKey(layer: i, projection: projection)))
                n += m.rows * m.columns
            }
            n += l.inputLayernorm.count + l.postAttentionLayernorm.count
            n += (l.qBias?.count ?? 0) + (l.kBias?.count ?? 0) + (l.vBias?.count ?? 0)
        }
        return n
    }
}
