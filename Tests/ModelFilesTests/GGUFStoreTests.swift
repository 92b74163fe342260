import Foundation
import Kernels
import Testing
import TestSupport

@testable import ModelFiles

/// Hugging Face names, shapes and row order from GGUF files; typed metadata; the real model.
@Suite struct GGUFStoreTests {
    /// Rows of `rows × 32` Q8_0 blocks whose bytes say which row they were.
    static func taggedQ8Rows(_ rows: Int) -> Data {
        var d = Data()
        for r in 0..<rows { d.append(Data(repeating: UInt8(r), count: 34)) }
        return d
    }

    static func file(architecture: String, heads: UInt32, kvHeads: UInt32) throws -> (GGUFFile, URL) {
        var w = GGUFWriter()
        w.metadata = [
            ("general.architecture", .string(architecture)),
            ("\(architecture).attention.head_count", .uint32(heads)),
            ("\(architecture).attention.head_count_kv", .uint32(kvHeads)),
        ]
        w.tensors = [
            ("blk.0.attn_q.weight", [32, 8], .q8_0, taggedQ8Rows(8)),
            ("blk.0.attn_k.weight", [32, 8], .q8_0, taggedQ8Rows(8)),
            ("blk.0.attn_q.bias", [8], .f32, (0..<8).map(Float.init).withUnsafeBytes { Data($0) }),
            ("blk.0.attn_v.weight", [32, 8], .q8_0, taggedQ8Rows(8)),
        ]
        let url = GGUFFileTests.temporary("store-\(UUID().uuidString).gguf")
        try w.write(to: url)
        return (try GGUFFile(url: url), url)
    }

    static func rowOrder(_ t: StoredTensor) -> [Int] {
        let rowBytes = t.byteCount / t.shape[0]
        return (0..<t.shape[0]).map { Int(t.data.load(fromByteOffset: $0 * rowBytes, as: UInt8.self)) }
    }

    /// Llama: q rows un-permuted with head_count, k with head_count_kv, whole quantized rows moved;
    /// v untouched. HF row h·D + s·D/2 + i comes from GGUF row h·D + 2i + s.
    @Test func llamaRowsAreUnpermutedPerHeadCount() throws {
        let (f, url) = try Self.file(architecture: "llama", heads: 2, kvHeads: 1)
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try GGUFStore(file: f)
        let q = try store.tensor("model.layers.0.self_attn.q_proj.weight")
        #expect(q.shape == [8, 32] && q.dtype == .float(.q8_0))
        #expect(Self.rowOrder(q) == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(Self.rowOrder(try store.tensor("model.layers.0.self_attn.k_proj.weight")) == [0, 2, 4, 6, 1, 3, 5, 7])
        #expect(try store.tensor("model.layers.0.self_attn.q_proj.bias").floats() == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(Self.rowOrder(try store.tensor("model.layers.0.self_attn.v_proj.weight")) == Array(0..<8))
        #expect(Int(bitPattern: q.data) % 64 == 0, "the rearranged copy is aligned")
        #expect(throws: ModelFileError.missingTensor(url.path, tensor: "model.norm.weight")) {
            try store.tensor("model.norm.weight")
        }
    }

    /// llama.cpp's converter permutes only for LlamaModel (Qwen2Model writes q/k as they are).
    @Test func qwen2RowsStayInPlace() throws {
        let (f, url) = try Self.file(architecture: "qwen2", heads: 2, kvHeads: 1)
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try GGUFStore(file: f)
        #expect(Self.rowOrder(try store.tensor("model.layers.0.self_attn.q_proj.weight")) == Array(0..<8))
        #expect(Self.rowOrder(try store.tensor("model.layers.0.self_attn.k_proj.weight")) == Array(0..<8))
        #expect(store.names.count == 4)
    }

    @Test func headCountThatDoesNotDivideRowsIsAnError() throws {
        let (f, url) = try Self.file(architecture: "llama", heads: 3, kvHeads: 1)
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try GGUFStore(file: f)
        if case .corrupt(_, let why) = Self.error({ try store.tensor("model.layers.0.self_attn.q_proj.weight") }) {
            #expect(why.contains("3 heads"))
        } else {
            Issue.record("3 heads over 8 rows")
        }
    }

    static func error(_ body: () throws -> Any) -> ModelFileError? {
        do {
            _ = try body()
            return nil
        } catch { return error as? ModelFileError }
    }

    @Test func typedMetadataNamesKeyAndTypes() throws {
        let url = GGUFFileTests.temporary("typed-\(UUID().uuidString).gguf")
        try GGUFFileTests.sample().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try GGUFFile(url: url)
        #expect(try f.required("u64", as: Int.self) == 1 << 40)
        #expect(try f.required("i16", as: Int.self) == -700)
        #expect(try f.required("f64", as: Double.self) == 0.25)
        #expect(try f.required("f32", as: Float.self) == 0.5)
        #expect(try f.required("flag", as: Bool.self))
        #expect(try f.required("names", as: [String].self) == ["a", "bc"])
        #expect(try f.required("nested", as: [[Int]].self) == [[1, 2], [3]])
        #expect(try f.optional("absent", as: Int.self) == nil)
        #expect(try f.optional("general.architecture", as: String.self) == "llama")
        #expect(throws: ModelFileError.missingKey(url.path, key: "llama.block_count")) {
            try f.required("llama.block_count", as: Int.self)
        }
        #expect(
            throws: ModelFileError.wrongType(
                url.path, key: "names", expected: "array of an integer", found: "array[string]")
        ) { try f.required("names", as: [Int].self) }
        #expect(throws: ModelFileError.wrongType(url.path, key: "flag", expected: "string", found: "bool")) {
            try f.optional("flag", as: String.self)
        }
    }

    @Test func configFromMetadata() throws {
        var w = GGUFWriter()
        w.metadata = [
            ("general.architecture", .string("qwen2")), ("qwen2.embedding_length", .uint32(64)),
            ("qwen2.feed_forward_length", .uint32(160)), ("qwen2.block_count", .uint32(2)),
            ("qwen2.attention.head_count", .uint32(4)), ("qwen2.attention.head_count_kv", .uint32(2)),
            ("qwen2.attention.layer_norm_rms_epsilon", .float32(1e-6)), ("qwen2.rope.freq_base", .float32(1e6)),
            ("qwen2.context_length", .uint32(4096)), ("qwen2.attention.key_length", .uint32(16)),
            ("qwen2.rope.scaling.type", .string("linear")), ("qwen2.rope.scaling.factor", .float32(2)),
            ("tokenizer.ggml.tokens", .array([.string("a"), .string("b"), .string("c")])),
            ("tokenizer.ggml.bos_token_id", .uint32(1)), ("tokenizer.ggml.eos_token_id", .uint32(2)),
        ]
        w.tensors = [("output.weight", [64, 3], .f32, Data(count: 64 * 3 * 4))]
        let url = GGUFFileTests.temporary("config-\(UUID().uuidString).gguf")
        try w.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let c = try #require(
            JSONSerialization.jsonObject(with: GGUFFile(url: url).huggingFaceConfig()) as? [String: Any])
        #expect(c["model_type"] as? String == "qwen2")
        #expect(c["hidden_size"] as? Int == 64 && c["intermediate_size"] as? Int == 160)
        #expect(c["num_hidden_layers"] as? Int == 2 && c["num_attention_heads"] as? Int == 4)
        #expect(c["num_key_value_heads"] as? Int == 2 && c["head_dim"] as? Int == 16)
        #expect(Float((c["rms_norm_eps"] as? Double) ?? 0) == 1e-6 && c["rope_theta"] as? Double == 1e6)
        #expect(c["max_position_embeddings"] as? Int == 4096 && c["vocab_size"] as? Int == 3)
        #expect(c["tie_word_embeddings"] as? Bool == false)
        #expect(c["bos_token_id"] as? Int == 1 && c["eos_token_id"] as? Int == 2)
        let scaling = c["rope_scaling"] as? [String: Any]
        #expect(scaling?["rope_type"] as? String == "linear" && scaling?["factor"] as? Double == 2)
        // An end-of-turn token (Llama 3's <|eot_id|>) ends generation beside the end of text.
        w.metadata.append(("tokenizer.ggml.eot_token_id", .uint32(0)))
        try w.write(to: url)
        let withTurn = try #require(
            JSONSerialization.jsonObject(with: GGUFFile(url: url).huggingFaceConfig()) as? [String: Any])
        #expect(withTurn["eos_token_id"] as? [Int] == [2, 0])
    }

    /// The real SmolLM2-135M-Instruct Q4_1 file, when present.
    @Test func realModel() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let f = try GGUFFile(url: url)
        #expect(try f.required("general.architecture", as: String.self) == "llama")
        #expect(try f.required("llama.block_count", as: Int.self) == 30)
        #expect(try f.required("tokenizer.ggml.tokens", as: [String].self).count == 49152)
        var histogram: [String: Int] = [:]
        for info in f.tensorInfos { histogram[info.type.name, default: 0] += 1 }
        print(
            "SmolLM2 GGUF v\(f.version): \(f.tensorInfos.count) tensors, types \(histogram.sorted { $0.key < $1.key })")
        let config = try #require(JSONSerialization.jsonObject(with: f.huggingFaceConfig()) as? [String: Any])
        print("SmolLM2 derived config: \(config.sorted { $0.key < $1.key })")
        #expect(config["intermediate_size"] as? Int == 1536)
        #expect(config["num_hidden_layers"] as? Int == 30)
        let store = try GGUFStore(file: f)
        #expect(store.names.count == f.tensorInfos.count, "every tensor has a Hugging Face name")
        #expect(try store.tensor("model.layers.0.self_attn.q_proj.weight").shape == [576, 576])
        #expect(try store.tensor("model.layers.0.self_attn.k_proj.weight").shape == [192, 576])
        #expect(try store.tensor("model.embed_tokens.weight").shape == [49152, 576])
        #expect(!store.contains("lm_head.weight"))
        let norm = try store.tensor("model.norm.weight").floats()
        #expect(norm.count == 576 && norm.allSatisfy(\.isFinite))
    }
}
