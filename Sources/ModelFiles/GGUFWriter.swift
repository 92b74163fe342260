import Foundation
import Kernels

/// Writes GGUF v3 files (the layout ``GGUFFile`` documents), atomically.
///
/// `tensors` take GGUF dimensions (`ne[0]`, the row length, first) and their bytes as stored.
/// An empty metadata array is written with element type uint8 (GGUFValue has no element type of its own).
public struct GGUFWriter {
    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [(name: String, dimensions: [Int], format: WeightFormat, bytes: Data)] = []
    public var alignment = 32

    public init() {}

    /// The file's bytes; throws naming the tensor when its dimensions and bytes disagree.
    public func serialized() throws -> Data {
        try validate()
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) {
            u64(UInt64(s.utf8.count))
            out.append(contentsOf: Array(s.utf8))
        }
        func value(_ v: GGUFValue) {
            switch v {
            case .uint8(let x): out.append(x)
            case .int8(let x): out.append(UInt8(bitPattern: x))
            case .uint16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .int16(let x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case .uint32(let x): u32(x)
            case .int32(let x): u32(UInt32(bitPattern: x))
            case .uint64(let x): u64(x)
            case .int64(let x): u64(UInt64(bitPattern: x))
            case .float32(let x): u32(x.bitPattern)
            case .float64(let x): u64(x.bitPattern)
            case .bool(let x): out.append(x ? 1 : 0)
            case .string(let x): string(x)
            case .array(let items):
                u32(Self.typeID(items.first ?? .uint8(0)))
                u64(UInt64(items.count))
                for item in items { value(item) }
            }
        }
        out.append(contentsOf: Array("GGUF".utf8))
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, v) in metadata {
            string(key)
            u32(Self.typeID(v))
            value(v)
        }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            offsets.append(offset)
            offset += (t.bytes.count + alignment - 1) / alignment * alignment
        }
        for (t, o) in zip(tensors, offsets) {
            string(t.name)
            u32(UInt32(t.dimensions.count))
            for d in t.dimensions { u64(UInt64(d)) }
            u32(Self.ggmlTypeID(t.format))
            u64(UInt64(o))
        }
        while out.count % alignment != 0 { out.append(0) }
        for t in tensors {
            out.append(t.bytes)
            while out.count % alignment != 0 { out.append(0) }
        }
        return out
    }

    /// Writes the file whole or not at all.
    public func write(to url: URL) throws {
        try validate(path: url.path)
        try AtomicFile.write(serialized(), to: url)
    }

    /// Checks what a reader will check: 1–4 dimensions, whole blocks per row, bytes = dimensions × format.
    func validate(path: String = "<gguf>") throws {
        guard alignment > 0, alignment & (alignment - 1) == 0 else {
            throw ModelFileError.writeFailed(path, "alignment \(alignment) is not a power of two")
        }
        var names = Set<String>()
        for t in tensors {
            guard names.insert(t.name).inserted else {
                throw ModelFileError.writeFailed(path, "tensor '\(t.name)' appears twice")
            }
            var elements = 1
            for d in t.dimensions {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else {
                    throw ModelFileError.writeFailed(path, "tensor '\(t.name)': bad dimensions \(t.dimensions)")
                }
                elements = p
            }
            guard (1...4).contains(t.dimensions.count), t.dimensions[0] % t.format.blockElements == 0,
                TensorDType.float(t.format).byteCount(elements: elements) == t.bytes.count
            else {
                throw ModelFileError.writeFailed(
                    "<gguf>", "tensor '\(t.name)': \(t.bytes.count) bytes for \(t.format.rawValue) \(t.dimensions)")
            }
        }
    }

    /// ggml's type id for a format (the inverse of ``GGMLType``'s table).
    static func ggmlTypeID(_ format: WeightFormat) -> UInt32 {
        switch format {
        case .f32: 0
        case .f16: 1
        case .q4_0: 2
        case .q4_1: 3
        case .q8_0: 8
        case .q4_K: 12
        case .q5_K: 13
        case .q6_K: 14
        case .bf16: 30
        }
    }

    static func typeID(_ v: GGUFValue) -> UInt32 {
        switch v {
        case .uint8: 0
        case .int8: 1
        case .uint16: 2
        case .int16: 3
        case .uint32: 4
        case .int32: 5
        case .float32: 6
        case .bool: 7
        case .string: 8
        case .array: 9
        case .uint64: 10
        case .int64: 11
        case .float64: 12
        }
    }
}
