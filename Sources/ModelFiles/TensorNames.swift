/// The one table of external tensor names: GGUF (llama.cpp's `llama-arch.cpp`) ↔ Hugging Face.
public enum TensorNames {
    /// Names outside the layers.
    static let global: [(gguf: String, hf: String)] = [
        ("token_embd", "model.embed_tokens"),
        ("output_norm", "model.norm"),
        ("output", "lm_head"),
    ]

    /// Names inside layer N, without the `blk.N.` / `model.layers.N.` prefix.
    static let perLayer: [(gguf: String, hf: String)] = [
        ("attn_norm", "input_layernorm"),
        ("attn_q", "self_attn.q_proj"),
        ("attn_k", "self_attn.k_proj"),
        ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"),
        ("ffn_norm", "post_attention_layernorm"),
        ("ffn_gate", "mlp.gate_proj"),
        ("ffn_up", "mlp.up_proj"),
        ("ffn_down", "mlp.down_proj"),
    ]

    /// The Hugging Face name of a GGUF tensor, e.g. `blk.3.attn_q.weight` → `model.layers.3.self_attn.q_proj.weight`.
    public static func huggingFace(fromGGUF name: String) -> String? {
        let (stem, suffix) = split(name)
        if let g = global.first(where: { $0.gguf == stem }) { return g.hf + suffix }
        let parts = stem.split(separator: ".", maxSplits: 2)
        guard parts.count == 3, parts[0] == "blk", let layer = Int(parts[1]),
            let l = perLayer.first(where: { $0.gguf == parts[2] })
        else { return nil }
        return "model.layers.\(layer).\(l.hf)\(suffix)"
    }

    /// The GGUF name of a Hugging Face tensor (the inverse).
    public static func gguf(fromHuggingFace name: String) -> String? {
        let (stem, suffix) = split(name)
        if let g = global.first(where: { $0.hf == stem }) { return g.gguf + suffix }
        let prefix = "model.layers."
        guard stem.hasPrefix(prefix) else { return nil }
        let rest = stem.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let module = String(rest[rest.index(after: dot)...])
        guard let l = perLayer.first(where: { $0.hf == module }) else { return nil }
        return "blk.\(layer).\(l.gguf)\(suffix)"
    }

    /// Splits `x.weight` / `x.bias` into the stem and the suffix.
    static func split(_ name: String) -> (String, String) {
        for suffix in [".weight", ".bias"] where name.hasSuffix(suffix) {
            return (String(name.dropLast(suffix.count)), suffix)
        }
        return (name, "")
    }
}
