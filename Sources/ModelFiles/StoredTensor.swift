import Kernels

/// Element types a stored tensor can have.
public enum TensorDType: Sendable, Equatable, CustomStringConvertible {
    /// Floating-point or block-quantized values.
    case float(WeightFormat)
    case int32
    case int64

    public var description: String {
        switch self {
        case .float(let f): f.rawValue
        case .int32: "I32"
        case .int64: "I64"
        }
    }

    /// Bytes for `elements` values (whole blocks for quantized formats), or nil when not whole blocks / overflowing.
    func byteCount(elements: Int) -> Int? {
        switch self {
        case .float(let f):
            guard elements % f.blockElements == 0 else { return nil }
            let (bytes, overflow) = (elements / f.blockElements).multipliedReportingOverflow(by: f.blockBytes)
            return overflow ? nil : bytes
        case .int32: return elements.multipliedReportingOverflow(by: 4).overflow ? nil : elements * 4
        case .int64: return elements.multipliedReportingOverflow(by: 8).overflow ? nil : elements * 8
        }
    }
}

/// A tensor read from a model file: a view of its bytes (usually inside a memory mapping that `owner` keeps alive).
public struct StoredTensor: @unchecked Sendable {
    public let name: String
    /// Hugging Face order: outermost dimension first (`[out, in]` for a linear weight).
    public let shape: [Int]
    public let dtype: TensorDType
    public let data: UnsafeRawPointer
    public let byteCount: Int
    public let owner: AnyObject
    /// The file it came from, for error messages.
    public let source: String

    public var elementCount: Int { shape.reduce(1, *) }

    /// The values as Floats (any float or quantized format, or integers converted).
    public func floats() throws -> [Float] {
        let n = elementCount
        switch dtype {
        case .float(let format):
            return [Float](unsafeUninitializedCapacity: n) { buffer, initialized in
                let rowLength = shape.last ?? 1
                let rows = rowLength == 0 ? 0 : n / rowLength
                for r in 0..<rows {
                    format.dequantizeRow(
                        data + r * format.rowBytes(rowLength), into: buffer.baseAddress! + r * rowLength,
                        count: rowLength)
                }
                initialized = n
            }
        case .int32: return try int32s().map(Float.init)
        case .int64: return try int64s().map(Float.init)
        }
    }

    /// The values as 32-bit integers (I32, or I64 values that fit; one that does not throws).
    public func int32s() throws -> [Int32] {
        switch dtype {
        case .int32: return loadIntegers(Int32.self)
        case .int64:
            return try loadIntegers(Int64.self).map {
                guard let v = Int32(exactly: $0) else {
                    throw ModelFileError.valueOutOfRange(source, tensor: name, value: $0)
                }
                return v
            }
        case .float: throw ModelFileError.unsupportedDType(source, tensor: name, dtype: "\(dtype) (expected integers)")
        }
    }

    /// The values as 64-bit integers.
    public func int64s() throws -> [Int64] {
        switch dtype {
        case .int64: return loadIntegers(Int64.self)
        case .int32: return loadIntegers(Int32.self).map(Int64.init)
        case .float: throw ModelFileError.unsupportedDType(source, tensor: name, dtype: "\(dtype) (expected integers)")
        }
    }

    /// Little-endian integers read one by one with unaligned loads: a safetensors data offset
    /// need not be a multiple of the element size, so the bytes cannot be bound as `T`.
    private func loadIntegers<T: FixedWidthInteger>(_: T.Type) -> [T] {
        let n = min(elementCount, byteCount / MemoryLayout<T>.size)
        let base = data
        return (0..<n).map {
            T(littleEndian: base.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self))
        }
    }

    /// A view as a weight matrix: 2-D as `(shape[0], shape[1])`, 1-D as one row. No copy.
    public func asMatrix() throws -> WeightMatrix {
        guard case .float(let format) = dtype else {
            throw ModelFileError.unsupportedDType(source, tensor: name, dtype: "\(dtype) (expected floats)")
        }
        let (rows, columns): (Int, Int)
        switch shape.count {
        case 1: (rows, columns) = (1, shape[0])
        case 2: (rows, columns) = (shape[0], shape[1])
        default: throw ModelFileError.notAMatrix(source, tensor: name, shape: shape)
        }
        guard columns % format.blockElements == 0 else {
            throw ModelFileError.notAMatrix(source, tensor: name, shape: shape)
        }
        return WeightMatrix(format: format, rows: rows, columns: columns, data: data, owner: owner)
    }
}

/// Tensors under Hugging Face names, from one or several files.
public protocol TensorStore {
    /// Every tensor name.
    var names: [String] { get }
    func contains(_ name: String) -> Bool
    /// The tensor, or an error naming it and the file.
    func tensor(_ name: String) throws -> StoredTensor
}
