/// A bounds-checked cursor over GGUF bytes.
struct GGUFReader {
    let base: UnsafeRawPointer
    let count: Int
    let path: String
    var position = 0

    mutating func bytes(_ n: Int, _ what: String) throws -> UnsafeRawPointer {
        guard n >= 0, n <= count - position else {
            throw ModelFileError.truncated(path, "reading \(what) at byte \(position)")
        }
        defer { position += n }
        return base + position
    }

    mutating func u8() throws -> UInt8 { try bytes(1, "u8").load(as: UInt8.self) }
    mutating func u16() throws -> UInt16 { UInt16(littleEndian: try bytes(2, "u16").loadUnaligned(as: UInt16.self)) }
    mutating func u32() throws -> UInt32 { UInt32(littleEndian: try bytes(4, "u32").loadUnaligned(as: UInt32.self)) }
    mutating func u64() throws -> UInt64 { UInt64(littleEndian: try bytes(8, "u64").loadUnaligned(as: UInt64.self)) }

    /// A count that must fit in the rest of the file at `minimumBytesEach` bytes per item.
    func count(_ n: UInt64, minimumBytesEach: Int, what: String) throws -> Int {
        guard n <= UInt64((count - position) / max(minimumBytesEach, 1)) else {
            throw ModelFileError.corrupt(path, "\(what) \(n) cannot fit in the file")
        }
        return Int(n)
    }

    mutating func string() throws -> String {
        let n = try u64()
        guard n <= UInt64(count - position) else {
            throw ModelFileError.corrupt(path, "string length \(n) at byte \(position - 8) runs past the end")
        }
        let p = try bytes(Int(n), "string")
        return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(n)), as: UTF8.self)
    }

    mutating func value(type: UInt32, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try u8())
        case 1: return .int8(Int8(bitPattern: try u8()))
        case 2: return .uint16(try u16())
        case 3: return .int16(Int16(bitPattern: try u16()))
        case 4: return .uint32(try u32())
        case 5: return .int32(Int32(bitPattern: try u32()))
        case 6: return .float32(Float(bitPattern: try u32()))
        case 7:
            let b = try u8()
            guard b <= 1 else { throw ModelFileError.corrupt(path, "bool value \(b) at byte \(position - 1)") }
            return .bool(b == 1)
        case 8: return .string(try string())
        case 9:
            guard depth < 4 else { throw ModelFileError.corrupt(path, "arrays nested too deeply") }
            let elementType = try u32()
            let n = try count(try u64(), minimumBytesEach: Self.minimumSize(elementType), what: "array count")
            var values: [GGUFValue] = []
            values.reserveCapacity(n)
            for _ in 0..<n { values.append(try value(type: elementType, depth: depth + 1)) }
            return .array(values)
        case 10: return .uint64(try u64())
        case 11: return .int64(Int64(bitPattern: try u64()))
        case 12: return .float64(Double(bitPattern: try u64()))
        default: throw ModelFileError.corrupt(path, "unknown metadata value type \(type) at byte \(position - 4)")
        }
    }

    static func minimumSize(_ type: UInt32) -> Int {
        switch type {
        case 0, 1, 7: 1
        case 2, 3: 2
        case 4, 5, 6: 4
        case 8, 10, 11, 12: 8
        case 9: 12
        default: 1
        }
    }
}
