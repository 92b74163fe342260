import Foundation
import Kernels
import ModelFiles

extension LlamaModel {
    /// Builds the model from a configuration and tensors under Hugging Face names.
    /// Matrices stay in their stored format (F32, F16, BF16 or a GGUF block format) and are read
    /// in place from the mapped file; norms and biases are converted to Float.
    public convenience init(configuration c: LlamaConfiguration, tensors store: TensorStore) throws {
        let q = c.numAttentionHeads * c.headDim
        let kv = c.numKeyValueHeads * c.headDim
        func matrix(_ name: String, _ rows: Int, _ columns: Int) throws -> WeightMatrix {
            let tensor = try store.tensor(name)
            let m = try tensor.asMatrix()
            guard m.rows == rows, m.columns == columns else {
                throw ModelError.shapeMismatch(name, expected: [rows, columns], found: tensor.shape)
            }
            return m
        }
        func vector(_ name: String, _ count: Int) throws -> [Float] {
            let tensor = try store.tensor(name)
            let values = try tensor.floats()
            guard values.count == count else {
                throw ModelError.shapeMismatch(name, expected: [count], found: tensor.shape)
            }
            return values
        }
        var layers: [LlamaLayer] = []
        for i in 0..<c.numHiddenLayers {
            let p = "model.layers.\(i)."
            layers.append(
                LlamaLayer(
                    inputLayernorm: try vector(p + "input_layernorm.weight", c.hiddenSize),
                    qProj: try matrix(p + "self_attn.q_proj.weight", q, c.hiddenSize),
                    kProj: try matrix(p + "self_attn.k_proj.weight", kv, c.hiddenSize),
                    vProj: try matrix(p + "self_attn.v_proj.weight", kv, c.hiddenSize),
                    oProj: try matrix(p + "self_attn.o_proj.weight", c.hiddenSize, q),
                    qBias: c.attentionBias ? try vector(p + "self_attn.q_proj.bias", q) : nil,
                    kBias: c.attentionBias ? try vector(p + "self_attn.k_proj.bias", kv) : nil,
                    vBias: c.attentionBias ? try vector(p + "self_attn.v_proj.bias", kv) : nil,
                    postAttentionLayernorm: try vector(p + "post_attention_layernorm.weight", c.hiddenSize),
                    gateProj: try matrix(p + "mlp.gate_proj.weight", c.intermediateSize, c.hiddenSize),
                    upProj: try matrix(p + "mlp.up_proj.weight", c.intermediateSize, c.hiddenSize),
                    downProj: try matrix(p + "mlp.down_proj.weight", c.hiddenSize, c.intermediateSize)
                ))
        }
        let embed = try matrix("model.embed_tokens.weight", c.vocabSize, c.hiddenSize)
        // A checkpoint may carry lm_head even when tied; tie only when it is absent.
        let head =
            store.contains("lm_head.weight")
            ? try matrix("lm_head.weight", c.vocabSize, c.hiddenSize)
            : (c.tieWordEmbeddings ? embed : try matrix("lm_head.weight", c.vocabSize, c.hiddenSize))
        self.init(
            configuration: c, embedTokens: embed, layers: layers,
            norm: try vector("model.norm.weight", c.hiddenSize), lmHead: head)
    }
}
