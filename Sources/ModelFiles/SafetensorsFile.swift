import Foundation
import Kernels

/// A `.safetensors` file, memory-mapped; tensors are views into the mapping (zero-copy).
///
/// Layout: an 8-byte little-endian header length `N`, then `N` bytes of JSON
/// `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}`, then the
/// data section; offsets are relative to its start. Everything is checked before use: the header
/// length, each dtype, shape × dtype size = byte range, ranges inside the file and not overlapping.
public final class SafetensorsFile: TensorStore, @unchecked Sendable {
    public let path: String
    public let metadata: [String: String]
    let file: MappedFile
    let entries: [String: Entry]

    struct Entry {
        var shape: [Int]
        var dtype: TensorDType
        var begin: Int
        var end: Int
    }

    /// Header lengths above this are treated as corruption (the Python library caps it at 100 MB).
    static let maxHeaderBytes = 100_000_000

    public init(url: URL) throws {
        let path = url.path
        self.path = path
        file = try MappedFile(path: path)
        guard file.count >= 8 else { throw ModelFileError.truncated(path, "no header length") }
        let headerLength = Int(truncatingIfNeeded: file.bytes.loadUnaligned(as: UInt64.self).littleEndian)
        guard headerLength >= 2, headerLength <= Self.maxHeaderBytes else {
            throw ModelFileError.corrupt(path, "header length \(headerLength) is not plausible")
        }
        guard 8 + headerLength <= file.count else {
            throw ModelFileError.truncated(
                path, "header of \(headerLength) bytes past the end of a \(file.count)-byte file")
        }
        let json = Data(bytes: file.bytes + 8, count: headerLength)
        guard let object = (try? JSONSerialization.jsonObject(with: json)) as? [String: Any] else {
            throw ModelFileError.corrupt(path, "header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataLength = file.count - dataStart
        var entries: [String: Entry] = [:]
        var meta: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw ModelFileError.corrupt(path, "__metadata__ is not an object")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw ModelFileError.corrupt(path, "__metadata__.\(k) is not a string")
                    }
                    meta[k] = s
                }
                continue
            }
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                let shapeValues = info["shape"] as? [Any], let offsets = info["data_offsets"] as? [Any],
                offsets.count == 2
            else { throw ModelFileError.corrupt(path, "tensor '\(name)': missing dtype, shape or data_offsets") }
            let shape = try shapeValues.map { v -> Int in
                guard let n = Self.integer(v), n >= 0 else {
                    throw ModelFileError.corrupt(path, "tensor '\(name)': bad shape")
                }
                return n
            }
            guard let begin = Self.integer(offsets[0]), let end = Self.integer(offsets[1]),
                begin >= 0, end >= begin
            else { throw ModelFileError.corrupt(path, "tensor '\(name)': bad data_offsets") }
            let dtype: TensorDType
            switch dtypeName {
            case "F32": dtype = .float(.f32)
            case "F16": dtype = .float(.f16)
            case "BF16": dtype = .float(.bf16)
            case "I32": dtype = .int32
            case "I64": dtype = .int64
            default: throw ModelFileError.unsupportedDType(path, tensor: name, dtype: dtypeName)
            }
            var elements = 1
            for d in shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard !overflow else {
                    throw ModelFileError.corrupt(path, "tensor '\(name)': shape \(shape) overflows")
                }
                elements = p
            }
            guard let bytes = dtype.byteCount(elements: elements), bytes == end - begin else {
                throw ModelFileError.corrupt(
                    path,
                    "tensor '\(name)': shape \(shape) of \(dtypeName) needs a different size than \(end - begin) bytes")
            }
            guard end <= dataLength else {
                throw ModelFileError.truncated(
                    path, "tensor '\(name)' ends at \(end), past the data section of \(dataLength) bytes")
            }
            entries[name] = Entry(shape: shape, dtype: dtype, begin: dataStart + begin, end: dataStart + end)
        }
        let sorted = entries.sorted { $0.value.begin < $1.value.begin }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.value.end > b.value.begin {
            throw ModelFileError.corrupt(path, "tensors '\(a.key)' and '\(b.key)' overlap")
        }
        self.entries = entries
        metadata = meta
    }

    /// A JSON number that is a whole number fitting `Int` (2.5 or 1e30 are not).
    static func integer(_ value: Any) -> Int? {
        if let i = value as? Int { return i }
        guard let d = value as? Double, d.rounded() == d, abs(d) < 0x1p62 else { return nil }
        return Int(d)
    }

    public var names: [String] { entries.keys.sorted() }

    public func contains(_ name: String) -> Bool { entries[name] != nil }

    public func tensor(_ name: String) throws -> StoredTensor {
        guard let e = entries[name] else { throw ModelFileError.missingTensor(path, tensor: name) }
        return StoredTensor(
            name: name, shape: e.shape, dtype: e.dtype, data: file.bytes + e.begin, byteCount: e.end - e.begin,
            owner: file, source: path)
    }
}

/// The weights of a Hugging Face folder: `model.safetensors`, or the shards named by
/// `model.safetensors.index.json`.
public final class SafetensorsStore: TensorStore, @unchecked Sendable {
    let files: [SafetensorsFile]
    let location: [String: SafetensorsFile]
    let folder: String

    public init(folder: URL) throws {
        self.folder = folder.path
        let index = folder.appendingPathComponent("model.safetensors.index.json")
        var files: [SafetensorsFile] = []
        if let data = FileManager.default.contents(atPath: index.path) {
            guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                let map = object["weight_map"] as? [String: String]
            else { throw ModelFileError.corrupt(index.path, "no weight_map") }
            for shard in Set(map.values).sorted() {
                guard !shard.contains("/") else { throw ModelFileError.corrupt(index.path, "shard name '\(shard)'") }
                files.append(try SafetensorsFile(url: folder.appendingPathComponent(shard)))
            }
        } else {
            let single = folder.appendingPathComponent("model.safetensors")
            guard FileManager.default.fileExists(atPath: single.path) else {
                throw ModelFileError.cannotOpen(folder.path, "no model.safetensors or model.safetensors.index.json")
            }
            files.append(try SafetensorsFile(url: single))
        }
        self.files = files
        var location: [String: SafetensorsFile] = [:]
        for f in files { for n in f.names { location[n] = f } }
        self.location = location
    }

    public var names: [String] { location.keys.sorted() }
    public func contains(_ name: String) -> Bool { location[name] != nil }
    public func tensor(_ name: String) throws -> StoredTensor {
        guard let f = location[name] else { throw ModelFileError.missingTensor(folder, tensor: name) }
        return try f.tensor(name)
    }
}
