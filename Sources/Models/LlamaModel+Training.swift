import Kernels

extension LlamaModel {
    /// What the forward pass keeps for the backward pass of one layer.
    struct LayerActivations {
        var input: Tensor  // (T, H) residual stream into the layer
        var normed1: Tensor  // (T, H) input of q/k/v
        var q: Tensor  // (T, Hq·D) after RoPE
        var k: Tensor  // (T, Hkv·D) after RoPE
        var v: Tensor  // (T, Hkv·D)
        var attention: Tensor  // (T, Hq·D) input of o_proj
        var middle: Tensor  // (T, H) residual after attention
        var normed2: Tensor  // (T, H) input of gate/up
        var gate: Tensor  // (T, I)
        var up: Tensor  // (T, I)
        var hidden: Tensor  // (T, I) silu(gate)·up, input of down_proj
    }

    /// Mean next-token cross-entropy of one sequence (labels of -100 ignored, as transformers'
    /// causal-LM loss), and its gradient with respect to every attached ``DifferentiableAdapter``
    /// and every ``trainableWeights`` entry, accumulated into their gradient buffers. Frozen
    /// weights get no gradient; only the activations' gradients flow through them.
    /// `gradientScale` multiplies the gradients (not the returned loss), so several sequences can
    /// be weighted into one batch gradient.
    ///
    /// With `checkpointing`, only each layer's input is kept and the layer is recomputed during the
    /// backward pass (less memory, about one more forward of compute, the same result bit for bit).
    ///
    /// `segments` packs several rows into the one sequence: their lengths, in order, summing to
    /// `ids.count`. Positions restart at each row and attention stays inside it, so each row is
    /// computed as if alone (the caller sets the label of each later row's first token to -100,
    /// so no row learns to predict the next).
    ///
    /// `precision` is the arithmetic of every GEMM with a frozen weight (the projections and the
    /// LM head, forward and backward); adapters, attention, norms and the loss stay in float32.
    public func lossAndGradients(
        ids: [Int], labels: [Int], segments: [Int]? = nil, gradientScale: Float = 1, checkpointing: Bool = false,
        precision: GemmPrecision = .float32
    ) throws -> Float {
        let c = configuration
        let T = ids.count
        guard T > 0, labels.count == T else {
            throw ModelError.invalidInput("ids and labels must have the same length")
        }
        let segments = segments ?? [T]
        guard segments.allSatisfy({ $0 > 0 }), segments.reduce(0, +) == T else {
            throw ModelError.invalidInput("segment lengths \(segments) do not add up to \(T) tokens")
        }
        if let bad = ids.first(where: { $0 < 0 || $0 >= c.vocabSize }) {
            throw ModelError.invalidInput("token id \(bad) outside the vocabulary of \(c.vocabSize)")
        }
        let H = c.hiddenSize
        let I = c.intermediateSize
        let qDim = c.numAttentionHeads * c.headDim
        let kvDim = c.numKeyValueHeads * c.headDim
        let positions = segments.flatMap { 0..<$0 }

        // Forward, keeping what backward needs.
        var x = Tensor(uninitialized: [T, H])
        Ops.embed(ids, table: embedTokens, into: x.pointer)
        var saved: [LayerActivations?] = []
        var inputs: [Tensor] = []
        var states: [[UInt64]] = []
        for l in layers.indices {
            inputs.append(x)
            states.append(adapterStates(l))
            let (a, next) = layerForward(l, input: x, positions: positions, segments: segments, precision: precision)
            // With checkpointing only the layer's input is kept; backward recomputes the rest.
            saved.append(checkpointing ? nil : a)
            x = next
        }
        let final = Tensor(uninitialized: [T, H])
        Ops.rmsNorm(x.pointer, rows: T, dim: H, weight: norm, eps: c.rmsNormEps, into: final.pointer)
        // The LM head runs only on the positions that predict a label (position t predicts
        // labels[t + 1]): a masked prompt costs no logits, forward or backward. Each row's loss and
        // gradient are the same as over all T rows.
        let scored = (0..<(T - 1)).filter { labels[$0 + 1] != -100 }
        let R = scored.count
        // Scored positions that are one run of rows (every position, or a completion after its
        // prompt) are read and written in place; others are gathered into `gathered` and scattered back.
        let first = scored.first ?? 0
        let gathered: Tensor? = R > 0 && scored[R - 1] - first == R - 1 ? nil : Tensor(uninitialized: [R, H])
        if let gathered {
            for (i, t) in scored.enumerated() {
                (gathered.pointer + i * H).update(from: final.pointer + t * H, count: H)
            }
        }
        // The logits become their own gradient in place (one R × vocab buffer instead of two).
        let logits = Tensor(uninitialized: [R, c.vocabSize])
        if R > 0 {
            Ops.linear(
                gathered?.pointer ?? final.pointer + first * H, rows: R, weight: lmHead, bias: nil,
                into: logits.pointer, precision: precision)
        }
        let loss = CrossEntropy.forwardBackward(
            logits: logits.pointer, targets: scored.map { labels[$0 + 1] }, vocab: c.vocabSize,
            dlogits: logits.pointer)

        // Backward. The gradient scale is applied after the LM head's data gradient (which is
        // linear in dlogits): R × H values to scale instead of R × vocab.
        let dfinal = Tensor(zeros: [T, H])
        // Gathered rows are not needed any more: their buffer takes the head's gradient.
        let dhead = gathered?.pointer ?? dfinal.pointer + first * H
        if R > 0, let head = trainableWeights[.lmHead] {
            // dW(V, H) += scale · dlogitsᵀ(V, R) · h(R, H), before dhead overwrites gathered rows.
            Gemm.sgemm(
                transA: true, transB: false, m: c.vocabSize, n: H, k: R, alpha: gradientScale, a: logits.pointer,
                lda: c.vocabSize, b: gathered?.pointer ?? final.pointer + first * H, ldb: H, beta: 1,
                c: head.gradient.pointer, ldc: H)
        }
        Gemm.linearBackwardData(logits.pointer, rows: R, weight: lmHead, into: dhead, precision: precision)
        if gradientScale != 1 {
            for i in 0..<(R * H) { dhead[i] *= gradientScale }
        }
        if let gathered {
            for (i, t) in scored.enumerated() {
                (dfinal.pointer + t * H).update(from: gathered.pointer + i * H, count: H)
            }
        }
        var dx = Tensor(zeros: [T, H])
        Ops.rmsNormBackward(
            dfinal.pointer, x: x.pointer, weight: norm, rows: T, dim: H, eps: c.rmsNormEps, accumulateInto: dx.pointer)
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let layer = layers[l]
            let a: LayerActivations
            if let kept = saved[l] {
                a = kept
            } else {
                let after = adapterStates(l)
                restoreAdapterStates(l, states[l])
                a = layerForward(l, input: inputs[l], positions: positions, segments: segments, precision: precision).0
                restoreAdapterStates(l, after)
            }
            // MLP: x_out = middle + down(silu(gate)·up)
            let dhidden = Tensor(uninitialized: [T, I])
            Gemm.linearBackwardData(
                dx.pointer, rows: T, weight: layer.downProj, into: dhidden.pointer, precision: precision)
            adaptBackward(l, .downProj, dx.pointer, x: a.hidden.pointer, rows: T, into: dhidden.pointer)
            weightGradient(l, .downProj, dx.pointer, x: a.hidden.pointer, rows: T)
            let dgate = Tensor(uninitialized: [T, I])
            let dup = Tensor(uninitialized: [T, I])
            Ops.siluMulBackward(
                dhidden.pointer, gate: a.gate.pointer, up: a.up.pointer, count: T * I, dgate: dgate.pointer,
                dup: dup.pointer)
            let dnormed2 = Tensor(zeros: [T, H])
            Gemm.linearBackwardData(
                dgate.pointer, rows: T, weight: layer.gateProj, into: dnormed2.pointer, accumulate: true,
                precision: precision)
            Gemm.linearBackwardData(
                dup.pointer, rows: T, weight: layer.upProj, into: dnormed2.pointer, accumulate: true,
                precision: precision)
            adaptBackward(l, .gateProj, dgate.pointer, x: a.normed2.pointer, rows: T, into: dnormed2.pointer)
            adaptBackward(l, .upProj, dup.pointer, x: a.normed2.pointer, rows: T, into: dnormed2.pointer)
            weightGradient(l, .gateProj, dgate.pointer, x: a.normed2.pointer, rows: T)
            weightGradient(l, .upProj, dup.pointer, x: a.normed2.pointer, rows: T)
            let dmiddle = dx  // the residual passes the gradient through
            Ops.rmsNormBackward(
                dnormed2.pointer, x: a.middle.pointer, weight: layer.postAttentionLayernorm, rows: T, dim: H,
                eps: c.rmsNormEps, accumulateInto: dmiddle.pointer)
            // Attention: middle = input + o(attention(q, k, v))
            let dattention = Tensor(uninitialized: [T, qDim])
            Gemm.linearBackwardData(
                dmiddle.pointer, rows: T, weight: layer.oProj, into: dattention.pointer, precision: precision)
            adaptBackward(l, .oProj, dmiddle.pointer, x: a.attention.pointer, rows: T, into: dattention.pointer)
            weightGradient(l, .oProj, dmiddle.pointer, x: a.attention.pointer, rows: T)
            let dq = Tensor(zeros: [T, qDim])
            let dk = Tensor(zeros: [T, kvDim])
            let dv = Tensor(zeros: [T, kvDim])
            var start = 0
            for n in segments {
                Attention.backward(
                    dattention.pointer + start * qDim, q: a.q.pointer + start * qDim, k: a.k.pointer + start * kvDim,
                    v: a.v.pointer + start * kvDim, positions: n, heads: c.numAttentionHeads,
                    kvHeads: c.numKeyValueHeads, headDim: c.headDim, dq: dq.pointer + start * qDim,
                    dk: dk.pointer + start * kvDim, dv: dv.pointer + start * kvDim)
                start += n
            }
            rope.backward(dq.pointer, rows: T, heads: c.numAttentionHeads, positions: positions)
            rope.backward(dk.pointer, rows: T, heads: c.numKeyValueHeads, positions: positions)
            let dnormed1 = Tensor(zeros: [T, H])
            Gemm.linearBackwardData(
                dq.pointer, rows: T, weight: layer.qProj, into: dnormed1.pointer, accumulate: true, precision: precision
            )
            Gemm.linearBackwardData(
                dk.pointer, rows: T, weight: layer.kProj, into: dnormed1.pointer, accumulate: true, precision: precision
            )
            Gemm.linearBackwardData(
                dv.pointer, rows: T, weight: layer.vProj, into: dnormed1.pointer, accumulate: true, precision: precision
            )
            adaptBackward(l, .qProj, dq.pointer, x: a.normed1.pointer, rows: T, into: dnormed1.pointer)
            adaptBackward(l, .kProj, dk.pointer, x: a.normed1.pointer, rows: T, into: dnormed1.pointer)
            adaptBackward(l, .vProj, dv.pointer, x: a.normed1.pointer, rows: T, into: dnormed1.pointer)
            weightGradient(l, .qProj, dq.pointer, x: a.normed1.pointer, rows: T)
            weightGradient(l, .kProj, dk.pointer, x: a.normed1.pointer, rows: T)
            weightGradient(l, .vProj, dv.pointer, x: a.normed1.pointer, rows: T)
            Ops.rmsNormBackward(
                dnormed1.pointer, x: a.input.pointer, weight: layer.inputLayernorm, rows: T, dim: H,
                eps: c.rmsNormEps, accumulateInto: dmiddle.pointer)
            dx = dmiddle
        }
        if let table = trainableWeights[.embedTokens] {
            // The embedding is a row lookup: its gradient is dx scattered into the rows read.
            for (t, id) in ids.enumerated() {
                let row = table.gradient.pointer + id * H
                for j in 0..<H { row[j] += dx.pointer[t * H + j] }
            }
        }
        return loss
    }

    /// One decoder layer's training forward: its output and what its backward needs.
    func layerForward(
        _ l: Int, input x: Tensor, positions: [Int], segments: [Int], precision: GemmPrecision
    ) -> (LayerActivations, Tensor) {
        let c = configuration
        let layer = layers[l]
        let T = positions.count
        let H = c.hiddenSize
        let I = c.intermediateSize
        let qDim = c.numAttentionHeads * c.headDim
        let kvDim = c.numKeyValueHeads * c.headDim
        let a = LayerActivations(
            input: x, normed1: Tensor(uninitialized: [T, H]), q: Tensor(uninitialized: [T, qDim]),
            k: Tensor(uninitialized: [T, kvDim]), v: Tensor(uninitialized: [T, kvDim]),
            attention: Tensor(uninitialized: [T, qDim]), middle: Tensor(uninitialized: [T, H]),
            normed2: Tensor(uninitialized: [T, H]), gate: Tensor(uninitialized: [T, I]),
            up: Tensor(uninitialized: [T, I]), hidden: Tensor(uninitialized: [T, I]))
        Ops.rmsNorm(
            x.pointer, rows: T, dim: H, weight: layer.inputLayernorm, eps: c.rmsNormEps, into: a.normed1.pointer)
        Ops.linear(
            a.normed1.pointer, rows: T, weight: layer.qProj, bias: layer.qBias, into: a.q.pointer, precision: precision)
        Ops.linear(
            a.normed1.pointer, rows: T, weight: layer.kProj, bias: layer.kBias, into: a.k.pointer, precision: precision)
        Ops.linear(
            a.normed1.pointer, rows: T, weight: layer.vProj, bias: layer.vBias, into: a.v.pointer, precision: precision)
        adapt(l, .qProj, a.normed1.pointer, rows: T, into: a.q.pointer)
        adapt(l, .kProj, a.normed1.pointer, rows: T, into: a.k.pointer)
        adapt(l, .vProj, a.normed1.pointer, rows: T, into: a.v.pointer)
        rope.apply(a.q.pointer, rows: T, heads: c.numAttentionHeads, positions: positions)
        rope.apply(a.k.pointer, rows: T, heads: c.numKeyValueHeads, positions: positions)
        var start = 0
        for n in segments {
            Ops.attention(
                out: a.attention.pointer + start * qDim, q: a.q.pointer + start * qDim, queries: n,
                keys: a.k.pointer + start * kvDim, values: a.v.pointer + start * kvDim, keyCount: n, queryOffset: 0,
                heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim)
            start += n
        }
        a.middle.pointer.update(from: x.pointer, count: T * H)
        Ops.linear(
            a.attention.pointer, rows: T, weight: layer.oProj, accumulateInto: a.middle.pointer, precision: precision)
        adapt(l, .oProj, a.attention.pointer, rows: T, into: a.middle.pointer)
        Ops.rmsNorm(
            a.middle.pointer, rows: T, dim: H, weight: layer.postAttentionLayernorm, eps: c.rmsNormEps,
            into: a.normed2.pointer)
        Ops.linear(
            a.normed2.pointer, rows: T, weight: layer.gateProj, bias: nil, into: a.gate.pointer, precision: precision)
        Ops.linear(
            a.normed2.pointer, rows: T, weight: layer.upProj, bias: nil, into: a.up.pointer, precision: precision)
        adapt(l, .gateProj, a.normed2.pointer, rows: T, into: a.gate.pointer)
        adapt(l, .upProj, a.normed2.pointer, rows: T, into: a.up.pointer)
        Ops.siluMul(gate: a.gate.pointer, up: a.up.pointer, count: T * I, into: a.hidden.pointer)
        let next = Tensor(uninitialized: [T, H])
        next.pointer.update(from: a.middle.pointer, count: T * H)
        Ops.linear(
            a.hidden.pointer, rows: T, weight: layer.downProj, accumulateInto: next.pointer, precision: precision)
        adapt(l, .downProj, a.hidden.pointer, rows: T, into: next.pointer)
        return (a, next)
    }

    /// The random states of layer `l`'s differentiable adapters.
    func adapterStates(_ l: Int) -> [UInt64] {
        LlamaProjection.allCases.flatMap { projection in
            (adapters[ProjectionKey(layer: l, projection: projection)] ?? []).compactMap {
                ($0 as? any DifferentiableAdapter)?.randomState
            }
        }
    }

    func restoreAdapterStates(_ l: Int, _ states: [UInt64]) {
        var i = 0
        for projection in LlamaProjection.allCases {
            for adapter in adapters[ProjectionKey(layer: l, projection: projection)] ?? [] {
                guard let d = adapter as? any DifferentiableAdapter else { continue }
                d.randomState = states[i]
                i += 1
            }
        }
    }

    /// Sends a projection's output gradient through its differentiable adapters.
    func adaptBackward(
        _ layer: Int, _ projection: LlamaProjection, _ dy: UnsafePointer<Float>, x: UnsafePointer<Float>, rows: Int,
        into dx: UnsafeMutablePointer<Float>
    ) {
        guard let list = adapters[ProjectionKey(layer: layer, projection: projection)] else { return }
        for adapter in list {
            (adapter as? any DifferentiableAdapter)?.backward(dy, x: x, rows: rows, accumulateInputGradient: dx)
        }
    }
}
