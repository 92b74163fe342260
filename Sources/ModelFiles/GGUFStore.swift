import Foundation

/// A GGUF file's tensors under Hugging Face names and shapes.
///
/// llama.cpp's converter stores Llama's q_proj/k_proj rows permuted for its interleaved RoPE
/// (`reshape(n_head, 2, head_dim/2, in).swapaxes(1, 2)`); this store undoes it, as transformers'
/// GGUF loader does, so the model inside is exactly the Hugging Face one. Rows are independent,
/// so whole rows (quantized blocks included) are moved into an owned buffer; everything else is
/// a view of the mapping.
public final class GGUFStore: TensorStore, @unchecked Sendable {
    public let file: GGUFFile
    let hfToGGUF: [String: String]
    let queryHeads: Int
    let keyValueHeads: Int
    let permuted: Bool

    /// Architectures whose GGUF q/k rows llama.cpp permutes.
    static let permutedArchitectures: Set<String> = ["llama"]

    public init(file: GGUFFile) throws {
        self.file = file
        let arch = try file.architecture()
        queryHeads = try file.int("\(arch).attention.head_count")
        keyValueHeads = try file.optionalInt("\(arch).attention.head_count_kv") ?? queryHeads
        permuted = Self.permutedArchitectures.contains(arch)
        var map: [String: String] = [:]
        for info in file.tensorInfos {
            if let hf = TensorNames.huggingFace(fromGGUF: info.name) { map[hf] = info.name }
        }
        hfToGGUF = map
    }

    public var names: [String] { hfToGGUF.keys.sorted() }
    public func contains(_ name: String) -> Bool { hfToGGUF[name] != nil }

    public func tensor(_ name: String) throws -> StoredTensor {
        guard let ggufName = hfToGGUF[name] else { throw ModelFileError.missingTensor(file.path, tensor: name) }
        let stored = try file.tensor(named: ggufName)
        let t = StoredTensor(
            name: name, shape: stored.shape, dtype: stored.dtype, data: stored.data, byteCount: stored.byteCount,
            owner: stored.owner, source: stored.source)
        guard permuted else { return t }
        if name.hasSuffix("self_attn.q_proj.weight") || name.hasSuffix("self_attn.q_proj.bias") {
            return try Self.unpermuteRows(t, heads: queryHeads)
        }
        if name.hasSuffix("self_attn.k_proj.weight") || name.hasSuffix("self_attn.k_proj.bias") {
            return try Self.unpermuteRows(t, heads: keyValueHeads)
        }
        return t
    }

    /// Hugging Face row `h·D + s·D/2 + i` is GGUF row `h·D + 2i + s` (D = rows / heads).
    static func unpermuteRows(_ t: StoredTensor, heads: Int) throws -> StoredTensor {
        let rows = t.shape[0]
        guard heads > 0, rows > 0, rows % (2 * heads) == 0, t.byteCount % rows == 0 else {
            throw ModelFileError.corrupt(t.source, "tensor '\(t.name)' rows \(rows) do not split into \(heads) heads")
        }
        let rowBytes = t.byteCount / rows
        let d = rows / heads
        let owned = OwnedBytes(count: t.byteCount)
        for h in 0..<heads {
            for s in 0..<2 {
                for i in 0..<(d / 2) {
                    let hfRow = h * d + s * (d / 2) + i
                    let ggufRow = h * d + 2 * i + s
                    (owned.pointer + hfRow * rowBytes).copyMemory(
                        from: t.data + ggufRow * rowBytes, byteCount: rowBytes)
                }
            }
        }
        return StoredTensor(
            name: t.name, shape: t.shape, dtype: t.dtype, data: UnsafeRawPointer(owned.pointer), byteCount: t.byteCount,
            owner: owned, source: t.source)
    }
}
