import Foundation
import Kernels
import ModelFiles

/// Writes a model's weights as a Hugging Face folder or a GGUF file, converting every matrix to
/// one output format. Reports the largest change the conversion made to any weight.
public enum ModelExport {
    /// The result of an export.
    public struct Report: Sendable {
        /// The largest |converted − original| over all matrix elements (0 for F32).
        public var maxAbsoluteError: Float
        /// Matrices written in the chosen format.
        public var matrices: Int
        /// Vectors (norm weights, biases) written as F32.
        public var vectors: Int
    }

    /// Every tensor of the model under its Hugging Face name: matrices and float vectors.
    static func tensors(of model: LlamaModel) -> [(name: String, matrix: WeightMatrix?, vector: [Float]?)] {
        var out: [(String, WeightMatrix?, [Float]?)] = [("model.embed_tokens.weight", model.embedTokens, nil)]
        for (i, l) in model.layers.enumerated() {
            let p = "model.layers.\(i)."
            out.append((p + "input_layernorm.weight", nil, l.inputLayernorm))
            for projection in LlamaProjection.allCases {
                out.append((projection.modulePath(layer: i) + ".weight", l[projection], nil))
            }
            if let b = l.qBias { out.append((p + "self_attn.q_proj.bias", nil, b)) }
            if let b = l.kBias { out.append((p + "self_attn.k_proj.bias", nil, b)) }
            if let b = l.vBias { out.append((p + "self_attn.v_proj.bias", nil, b)) }
            out.append((p + "post_attention_layernorm.weight", nil, l.postAttentionLayernorm))
        }
        out.append(("model.norm.weight", nil, model.norm))
        if model.lmHead.data != model.embedTokens.data { out.append(("lm_head.weight", model.lmHead, nil)) }
        return out
    }

    /// Converts a matrix to `format`, row by row (`rowOrder` maps output rows to source rows).
    static func convert(_ m: WeightMatrix, to format: WeightFormat, rowOrder: [Int]? = nil) -> (Data, Float) {
        var data = Data(count: m.rows * format.rowBytes(m.columns))
        var worst: Float = 0
        let row = UnsafeMutablePointer<Float>.allocate(capacity: m.columns)
        let back = UnsafeMutablePointer<Float>.allocate(capacity: m.columns)
        defer {
            row.deallocate()
            back.deallocate()
        }
        data.withUnsafeMutableBytes { raw in
            for r in 0..<m.rows {
                let source = rowOrder?[r] ?? r
                m.format.dequantizeRow(m.row(source), into: row, count: m.columns)
                let dst = raw.baseAddress! + r * format.rowBytes(m.columns)
                format.quantizeRow(row, into: dst, count: m.columns)
                if format != .f32 {
                    format.dequantizeRow(dst, into: back, count: m.columns)
                    for j in 0..<m.columns { worst = max(worst, abs(back[j] - row[j])) }
                }
            }
        }
        return (data, worst)
    }

    /// Writes `model.safetensors` (every matrix in `format`: F32, F16 or BF16; vectors F32) into
    /// `folder`, and copies the configuration and tokenizer files from `sourceFolder`.
    public static func writeHuggingFaceFolder(
        _ model: LlamaModel, format: WeightFormat, sourceFolder: URL, to folder: URL
    ) throws -> Report {
        guard [.f32, .f16, .bf16].contains(format) else {
            throw ModelError.invalidInput("safetensors output takes F32, F16 or BF16, not \(format.rawValue)")
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var items: [SafetensorsWriter.Item] = []
        var report = Report(maxAbsoluteError: 0, matrices: 0, vectors: 0)
        for t in tensors(of: model) {
            if let m = t.matrix {
                let (data, error) = convert(m, to: format)
                report.maxAbsoluteError = max(report.maxAbsoluteError, error)
                report.matrices += 1
                items.append(.init(name: t.name, shape: [m.rows, m.columns], dtype: .float(format), bytes: data))
            } else if let v = t.vector {
                report.vectors += 1
                items.append(.init(name: t.name, shape: [v.count], floats: v))
            }
        }
        try SafetensorsWriter.write(
            items, metadata: ["format": "pt"], to: folder.appendingPathComponent("model.safetensors"))
        let copied = [
            "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json",
            "chat_template.jinja",
        ]
        for name in copied {
            let from = sourceFolder.appendingPathComponent(name)
            guard var data = FileManager.default.contents(atPath: from.path) else { continue }
            if name == "config.json" { data = try Self.config(data, dtype: format, model: model) }
            try AtomicFile.write(data, to: folder.appendingPathComponent(name))
        }
        return report
    }

    /// `config.json` as `save_pretrained` would write it for this model: `torch_dtype` (and
    /// transformers 5's `dtype`) naming the written format, and `tie_word_embeddings: false` for
    /// a tied model whose head no longer is its embedding (a merged `modules_to_save` of one of
    /// them; transformers would otherwise replace the written `lm_head.weight` with the embedding).
    static func config(_ data: Data, dtype format: WeightFormat, model: LlamaModel) throws -> Data {
        guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return data }
        let name = format == .f16 ? "float16" : format == .bf16 ? "bfloat16" : "float32"
        object["torch_dtype"] = name
        if object["dtype"] != nil { object["dtype"] = name }
        if model.configuration.tieWordEmbeddings && model.lmHead.data != model.embedTokens.data {
            object["tie_word_embeddings"] = false
        }
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// Writes a GGUF file with the source file's metadata (tokenizer and chat template included)
    /// and every matrix in `format` (F32, F16, BF16 or Q8_0; vectors F32). Llama q/k rows are put
    /// back into llama.cpp's interleaved order.
    public static func writeGGUF(_ model: LlamaModel, format: WeightFormat, metadataFrom source: GGUFFile, to url: URL)
        throws -> Report
    {
        guard [.f32, .f16, .bf16, .q8_0].contains(format) else {
            throw ModelError.invalidInput("GGUF output takes F32, F16, BF16 or Q8_0, not \(format.rawValue)")
        }
        let fileType: UInt32 =
            switch format {
            case .f32: 0
            case .f16: 1
            case .q8_0: 7
            default: 32
            }
        var writer = GGUFWriter()
        writer.alignment = source.alignment
        writer.metadata = source.metadata.sorted { $0.key < $1.key }.map { key, value in
            (key, key == "general.file_type" ? .uint32(fileType) : value)
        }
        let permuted = try source.architecture() == "llama"
        let c = model.configuration
        var report = Report(maxAbsoluteError: 0, matrices: 0, vectors: 0)
        for t in tensors(of: model) {
            guard let name = TensorNames.gguf(fromHuggingFace: t.name) else { continue }
            var order: [Int]?
            if permuted && t.name.contains("self_attn.q_proj") {
                order = interleaved(rows: c.numAttentionHeads * c.headDim, heads: c.numAttentionHeads)
            }
            if permuted && t.name.contains("self_attn.k_proj") {
                order = interleaved(rows: c.numKeyValueHeads * c.headDim, heads: c.numKeyValueHeads)
            }
            if let m = t.matrix {
                let (data, error) = convert(m, to: format, rowOrder: order)
                report.maxAbsoluteError = max(report.maxAbsoluteError, error)
                report.matrices += 1
                writer.tensors.append((name, [m.columns, m.rows], format, data))
            } else if let v = t.vector {
                report.vectors += 1
                let values = order.map { o in o.map { v[$0] } } ?? v
                writer.tensors.append((name, [values.count], .f32, values.withUnsafeBytes { Data($0) }))
            }
        }
        try writer.write(to: url)
        return report
    }

    /// For each GGUF row, the Hugging Face row it holds: GGUF row `h·D + 2i + s` is HF row `h·D + s·D/2 + i`.
    static func interleaved(rows: Int, heads: Int) -> [Int] {
        let d = rows / heads
        var order = [Int](repeating: 0, count: rows)
        for h in 0..<heads {
            for i in 0..<(d / 2) {
                for s in 0..<2 { order[h * d + 2 * i + s] = h * d + s * (d / 2) + i }
            }
        }
        return order
    }
}
