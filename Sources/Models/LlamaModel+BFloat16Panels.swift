import Kernels

extension LlamaModel {
    /// Packs each frozen projection and the output head once as bf16 pair panels
    /// (``BFloat16Panels``), so bf16 training stops packing them on every call. Only weights
    /// stored unquantized (F32, F16, BF16): a quantized base keeps nothing but its blocks in
    /// memory (QLoRA), and a module that trains in full changes every step. Does nothing on
    /// a CPU without the bf16 pair kernel. Returns the bytes the panels take.
    @discardableResult public func packBFloat16Panels() -> Int {
        guard Gemm.bf16Kernel == .pairs else { return 0 }
        var bytes = 0
        func packed(_ weight: WeightMatrix, _ module: LlamaModule) -> WeightMatrix {
            guard weight.format.blockElements == 1, trainableWeights[module] == nil else { return weight }
            var weight = weight
            if weight.bf16Panels == nil { weight.bf16Panels = BFloat16Panels(weight) }
            bytes += weight.bf16Panels!.byteCount
            return weight
        }
        for layer in layers.indices {
            for projection in LlamaProjection.allCases {
                let module = LlamaModule.projection(ProjectionKey(layer: layer, projection: projection))
                layers[layer][projection] = packed(layers[layer][projection], module)
            }
        }
        lmHead = packed(lmHead, .lmHead)
        return bytes
    }

    /// Frees the panels of ``packBFloat16Panels()``.
    public func dropBFloat16Panels() {
        for layer in layers.indices {
            for projection in LlamaProjection.allCases { layers[layer][projection].bf16Panels = nil }
        }
        lmHead.bf16Panels = nil
        // A module replaced after packing keeps its loaded weight, panels and all, to restore.
        for module in originalWeights.keys { originalWeights[module]?.bf16Panels = nil }
    }
}
