import Foundation
import Kernels
import Testing
import TestSupport

@testable import ModelFiles

@Suite struct GGUFFileTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-\(getpid())-\(name)")
    }

    /// A small valid file: metadata of every type and two tensors.
    static func sample() -> GGUFWriter {
        var w = GGUFWriter()
        w.metadata = [
            ("general.architecture", .string("llama")), ("general.alignment", .uint32(32)), ("u8", .uint8(7)),
            ("i8", .int8(-7)), ("u16", .uint16(700)), ("i16", .int16(-700)), ("i32", .int32(-70000)),
            ("u64", .uint64(1 << 40)), ("i64", .int64(-(1 << 40))), ("f32", .float32(0.5)), ("f64", .float64(0.25)),
            ("flag", .bool(true)), ("names", .array([.string("a"), .string("bc")])),
            ("nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])])),
            ("llama.attention.head_count", .uint32(2)), ("llama.attention.head_count_kv", .uint32(1)),
        ]
        let floats: [Float] = (0..<(8 * 4)).map(Float.init)
        w.tensors = [
            ("blk.0.attn_q.weight", [4, 8], .f32, floats.withUnsafeBytes { Data($0) }),
            ("token_embd.weight", [32, 2], .q8_0, Data(repeating: 1, count: 68)),
        ]
        return w
    }

    @Test func readsEveryValueTypeAndTensor() throws {
        let url = Self.temporary("sample.gguf")
        try Self.sample().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try GGUFFile(url: url)
        #expect(f.version == 3)
        #expect(try f.int("u8") == 7 && f.int("i8") == -7 && f.int("u16") == 700 && f.int("i16") == -700)
        #expect(try f.int("i32") == -70000 && f.int("u64") == 1 << 40 && f.int("i64") == -(1 << 40))
        #expect(try f.float("f32") == 0.5 && f.float("f64") == 0.25 && f.bool("flag"))
        #expect(try f.strings("names") == ["a", "bc"])
        #expect(f.metadata["nested"] == .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        #expect(
            throws: ModelFileError.wrongType(url.path, key: "names", expected: "an integer", found: "array[string]")
        ) {
            try f.int("names")
        }
        #expect(throws: ModelFileError.missingKey(url.path, key: "absent")) { try f.string("absent") }
        let t = try f.tensor(named: "blk.0.attn_q.weight")
        #expect(t.shape == [8, 4])
        #expect(try t.floats() == (0..<32).map(Float.init))
        #expect(try f.tensor(named: "token_embd.weight").shape == [2, 32])
    }

    @Test func storeUndoesTheQKPermutation() throws {
        let url = Self.temporary("perm.gguf")
        try Self.sample().write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let store = try GGUFStore(file: GGUFFile(url: url))
        // 8 rows, 2 heads of 4: HF row h·4 + s·2 + i is GGUF row h·4 + 2i + s.
        let rows = try store.tensor("model.layers.0.self_attn.q_proj.weight").floats()
        let order = (0..<8).map { Int(rows[$0 * 4]) / 4 }
        #expect(order == [0, 2, 1, 3, 4, 6, 5, 7])
        #expect(store.contains("model.embed_tokens.weight"))
    }

    /// Damaged files give a typed error naming the problem, never a crash or a huge allocation.
    @Test func corruptFilesAreRejected() throws {
        let good = try Self.sample().serialized()
        func open(_ bytes: Data) -> ModelFileError? {
            let url = Self.temporary("bad-\(UUID().uuidString).gguf")
            try? bytes.write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try GGUFFile(url: url)
                return nil
            } catch {
                return error as? ModelFileError
            }
        }
        func patched(_ at: Int, _ bytes: [UInt8]) -> Data {
            var d = good
            d.replaceSubrange(at..<(at + bytes.count), with: bytes)
            return d
        }
        // Truncation anywhere in the header or data.
        for cut in [0, 3, 7, 15, 23, 40, 200, good.count - 40] {
            #expect(open(good.prefix(cut)) != nil, "cut at \(cut)")
        }
        if case .badMagic = open(patched(0, Array("GGML".utf8))) {} else { Issue.record("bad magic") }
        #expect(open(patched(4, [2, 0, 0, 0])) == nil, "version 2 has the same layout and is read")
        if case .unsupportedVersion(_, 1) = open(patched(4, [1, 0, 0, 0])) {} else { Issue.record("version 1") }
        if case .unsupportedVersion(_, 99) = open(patched(4, [99, 0, 0, 0])) {} else { Issue.record("version 99") }
        // The first key's string length (offset 24) set to 2^60.
        if case .corrupt = open(patched(24, [0, 0, 0, 0, 0, 0, 0, 0x10])) {
        } else {
            Issue.record("absurd string length")
        }
        // An absurd tensor count.
        if case .corrupt = open(patched(8, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])) {
        } else {
            Issue.record("absurd tensor count")
        }
        // An array count of 2^60: find the "names" array header (type 8 string, then count).
        var w = GGUFWriter()
        w.metadata = [("a", .array([.uint8(1)]))]
        var arrayFile = try w.serialized()
        let countOffset = 24 + 8 + 1 + 4 + 4
        arrayFile.replaceSubrange(countOffset..<(countOffset + 8), with: [0, 0, 0, 0, 0, 0, 0, 0x10])
        if case .corrupt = open(arrayFile) {} else { Issue.record("absurd array count") }
        // Tensor infos: unknown type, misaligned or past-the-end offset, too many dimensions.
        func tensorFile(dims: [UInt64], type: UInt32, offset: UInt64) -> Data {
            var d = Data("GGUF".utf8)
            func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
            func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
            u32(3)
            u64(1)
            u64(0)
            u64(1)
            d.append(UInt8(ascii: "t"))
            u32(UInt32(dims.count))
            for x in dims { u64(x) }
            u32(type)
            u64(offset)
            while d.count % 32 != 0 { d.append(0) }
            d.append(Data(repeating: 0, count: 64))
            return d
        }
        #expect(open(tensorFile(dims: [16], type: 0, offset: 0)) == nil)
        if case .unsupportedTensorType = open(tensorFile(dims: [16], type: 77, offset: 0)) {
        } else {
            Issue.record("type 77")
        }
        if case .corrupt = open(tensorFile(dims: [16], type: 0, offset: 3)) {} else { Issue.record("misaligned") }
        if case .truncated = open(tensorFile(dims: [16], type: 0, offset: 64)) {} else { Issue.record("past the end") }
        if case .corrupt = open(tensorFile(dims: Array(repeating: 2, count: 17), type: 0, offset: 0)) {
        } else {
            Issue.record("17 dimensions")
        }
        if case .corrupt = open(tensorFile(dims: [30], type: 8, offset: 0)) {} else { Issue.record("partial block") }
    }

    @Test func realModelMetadataAndConfig() throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let f = try GGUFFile(url: url)
        #expect(try f.architecture() == "llama")
        #expect(try f.int("llama.block_count") == 30)
        #expect(f.tensorInfos.count == 272)
        let config = try JSONSerialization.jsonObject(with: f.huggingFaceConfig()) as? [String: Any]
        #expect(config?["hidden_size"] as? Int == 576)
        #expect(config?["num_attention_heads"] as? Int == 9)
        #expect(config?["num_key_value_heads"] as? Int == 3)
        #expect(config?["vocab_size"] as? Int == 49152)
        #expect(config?["tie_word_embeddings"] as? Bool == true)
        let formats = Set(f.tensorInfos.compactMap { $0.type.format })
        #expect(formats == [.q4_1, .q8_0, .f32])
    }

    @Test func namesMapBothWays() {
        for (gguf, hf) in [
            ("blk.3.attn_q.weight", "model.layers.3.self_attn.q_proj.weight"),
            ("blk.12.ffn_down.weight", "model.layers.12.mlp.down_proj.weight"),
            ("blk.0.attn_k.bias", "model.layers.0.self_attn.k_proj.bias"),
            ("output_norm.weight", "model.norm.weight"), ("token_embd.weight", "model.embed_tokens.weight"),
            ("output.weight", "lm_head.weight"),
            ("blk.1.ffn_norm.weight", "model.layers.1.post_attention_layernorm.weight"),
        ] {
            #expect(TensorNames.huggingFace(fromGGUF: gguf) == hf)
            #expect(TensorNames.gguf(fromHuggingFace: hf) == gguf)
        }
        #expect(TensorNames.huggingFace(fromGGUF: "blk.x.attn_q.weight") == nil)
    }
}
