import Foundation
import Kernels

/// A GGUF file (versions 2 and 3), memory-mapped.
///
/// Layout (little-endian): magic `GGUF`, `u32` version, `u64` tensor count, `u64` metadata count;
/// metadata entries (`string` key, `u32` type, value); tensor infos (`string` name, `u32` n_dims,
/// `u64` ne[n_dims] innermost first, `u32` ggml type, `u64` offset); padding to `general.alignment`
/// (default 32); the data section, where each tensor's offset is relative to its start. A string is
/// a `u64` length and UTF-8 bytes; an array is a `u32` element type, a `u64` count and the values.
/// Every length, count and offset is checked against the file before use.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    public let metadata: [String: GGUFValue]
    public let tensorInfos: [GGUFTensorInfo]
    public let alignment: Int
    let file: MappedFile
    let dataStart: Int
    let index: [String: Int]

    public convenience init(url: URL) throws {
        try self.init(file: MappedFile(path: url.path))
    }

    init(file: MappedFile) throws {
        self.file = file
        path = file.path
        var r = GGUFReader(base: file.bytes, count: file.count, path: file.path)
        guard file.count >= 4 else { throw ModelFileError.truncated(path, "shorter than the magic") }
        guard try r.u32() == 0x4655_4747 else { throw ModelFileError.badMagic(path) }
        let version = Int(try r.u32())
        guard version == 2 || version == 3 else { throw ModelFileError.unsupportedVersion(path, version) }
        self.version = version
        let tensorCount = try r.count(try r.u64(), minimumBytesEach: 24, what: "tensor count")
        let kvCount = try r.count(try r.u64(), minimumBytesEach: 12, what: "metadata count")
        var metadata: [String: GGUFValue] = [:]
        for _ in 0..<kvCount {
            let key = try r.string()
            let type = try r.u32()
            metadata[key] = try r.value(type: type, depth: 0)
        }
        self.metadata = metadata
        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw ModelFileError.corrupt(path, "general.alignment \(a) is not a power of two")
            }
            alignment = v
        }
        self.alignment = alignment
        var infos: [GGUFTensorInfo] = []
        for _ in 0..<tensorCount {
            let name = try r.string()
            let nDims = Int(try r.u32())
            guard (1...4).contains(nDims) else {
                throw ModelFileError.corrupt(path, "tensor '\(name)' has \(nDims) dimensions")
            }
            var dims: [Int] = []
            var elements = 1
            for _ in 0..<nDims {
                let d = try r.u64()
                guard d <= UInt64(Int32.max) else {
                    throw ModelFileError.corrupt(path, "tensor '\(name)' dimension \(d)")
                }
                dims.append(Int(d))
                let (p, overflow) = elements.multipliedReportingOverflow(by: Int(d))
                guard !overflow, p <= 1 << 40 else {
                    throw ModelFileError.corrupt(path, "tensor '\(name)' size overflows")
                }
                elements = p
            }
            let typeID = try r.u32()
            let offset = try r.u64()
            let type = try GGMLType(id: typeID, tensor: name, path: path)
            guard offset % UInt64(alignment) == 0, offset <= UInt64(file.count) else {
                throw ModelFileError.corrupt(path, "tensor '\(name)' offset \(offset) is misaligned or past the end")
            }
            var byteCount = 0
            if let format = type.format {
                guard dims[0] % format.blockElements == 0 else {
                    throw ModelFileError.corrupt(
                        path, "tensor '\(name)' row of \(dims[0]) is not whole \(format.rawValue) blocks")
                }
                byteCount = elements / format.blockElements * format.blockBytes
            }
            infos.append(
                GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: Int(offset), byteCount: byteCount))
        }
        let start = (r.position + alignment - 1) / alignment * alignment
        guard start <= file.count else { throw ModelFileError.truncated(path, "no data section") }
        dataStart = start
        for info in infos where info.type.format != nil {
            guard info.offset + info.byteCount <= file.count - start else {
                throw ModelFileError.truncated(path, "tensor '\(info.name)' extends past the end of the file")
            }
        }
        tensorInfos = infos
        var index: [String: Int] = [:]
        for (i, info) in infos.enumerated() {
            guard index[info.name] == nil else { throw ModelFileError.corrupt(path, "duplicate tensor '\(info.name)'") }
            index[info.name] = i
        }
        self.index = index
    }

    /// A tensor under its GGUF name, with its GGUF dimensions reversed into Hugging Face order.
    public func tensor(named name: String) throws -> StoredTensor {
        guard let i = index[name] else { throw ModelFileError.missingTensor(path, tensor: name) }
        let info = tensorInfos[i]
        guard let format = info.type.format else {
            throw ModelFileError.unsupportedTensorType(path, tensor: name, type: info.type.name)
        }
        return StoredTensor(
            name: name, shape: info.dimensions.reversed(), dtype: .float(format),
            data: file.bytes + dataStart + info.offset,
            byteCount: info.byteCount, owner: file, source: path)
    }
}

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// As stored: `ne[0]` (innermost, the row length) first.
    public let dimensions: [Int]
    public let type: GGMLType
    public let offset: Int
    public let byteCount: Int
}

/// A ggml tensor type id, with its WeightFormat when we can compute with it.
public struct GGMLType: Sendable, Equatable {
    public let id: UInt32
    public let name: String
    public let format: WeightFormat?

    /// ggml's type ids (ggml.h `enum ggml_type`): the supported ones, and names for the rest.
    static let supported: [UInt32: WeightFormat] = [
        0: .f32, 1: .f16, 2: .q4_0, 3: .q4_1, 8: .q8_0, 12: .q4_K, 13: .q5_K, 14: .q6_K, 30: .bf16,
    ]
    static let otherNames: [UInt32: String] = [
        6: "Q5_0", 7: "Q5_1", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS",
        19: "IQ1_S", 20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64",
        28: "F64", 29: "IQ1_M", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4",
    ]

    init(id: UInt32, tensor: String, path: String) throws {
        self.id = id
        if let f = Self.supported[id] {
            format = f
            name = f.rawValue
        } else if let n = Self.otherNames[id] {
            format = nil
            name = n
        } else {
            throw ModelFileError.unsupportedTensorType(path, tensor: tensor, type: "unknown ggml type \(id)")
        }
    }
}
