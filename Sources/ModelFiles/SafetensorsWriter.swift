import Foundation

/// Writes `.safetensors` files byte for byte as the Python library (`safetensors.torch.save_file`,
/// Rust `safetensors::serialize`) does, atomically: a temporary file in the same folder is renamed into place.
///
/// The library's layout (safetensors `tensor.rs`, `prepare`): tensors ordered by dtype, widest
/// alignment first (its `Dtype` enum order, descending), then by name; the header lists
/// `__metadata__` first and then the tensors in data order, each as
/// `{"dtype":…,"shape":[…],"data_offsets":[begin,end]}`, compact, padded with spaces to a multiple of 8.
public enum SafetensorsWriter {
    /// One tensor to write.
    public struct Item {
        public var name: String
        public var shape: [Int]
        public var dtype: TensorDType
        public var bytes: Data
        public init(name: String, shape: [Int], dtype: TensorDType, bytes: Data) {
            self.name = name
            self.shape = shape
            self.dtype = dtype
            self.bytes = bytes
        }
        /// A float32 tensor.
        public init(name: String, shape: [Int], floats: [Float]) {
            self.init(name: name, shape: shape, dtype: .float(.f32), bytes: floats.withUnsafeBytes { Data($0) })
        }
    }

    /// Writes `items` and `metadata` to `url`, whole or not at all.
    public static func write(_ items: [Item], metadata: [String: String] = [:], to url: URL) throws {
        try AtomicFile.write(serialized(items, metadata: metadata, path: url.path), to: url)
    }

    /// The file's bytes. `path` only names the file in errors.
    public static func serialized(_ items: [Item], metadata: [String: String] = [:], path: String = "<memory>")
        throws -> Data
    {
        var seen = Set<String>()
        for item in items {
            guard seen.insert(item.name).inserted else {
                throw ModelFileError.writeFailed(path, "tensor '\(item.name)' appears twice")
            }
            guard item.name != "__metadata__" else {
                throw ModelFileError.writeFailed(path, "'__metadata__' is reserved for the metadata")
            }
            guard rank(item.dtype) != nil else {
                throw ModelFileError.unsupportedDType(
                    path, tensor: item.name, dtype: "\(item.dtype) (not a safetensors dtype)")
            }
            var elements = 1
            for d in item.shape {
                let (p, overflow) = elements.multipliedReportingOverflow(by: d)
                guard d >= 0, !overflow else {
                    throw ModelFileError.writeFailed(path, "tensor '\(item.name)': bad shape \(item.shape)")
                }
                elements = p
            }
            guard let expected = item.dtype.byteCount(elements: elements), expected == item.bytes.count else {
                throw ModelFileError.writeFailed(
                    path, "tensor '\(item.name)': \(item.bytes.count) bytes for shape \(item.shape) of \(item.dtype)")
            }
        }
        let ordered = items.sorted { a, b in
            let (ra, rb) = (rank(a.dtype)!, rank(b.dtype)!)
            return ra != rb ? ra > rb : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        var json = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            // The library keeps metadata in a hash map (any order); sorted keys make our output reproducible.
            let entries = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            let pairs = entries.map { JSONText.quoted($0.key) + ":" + JSONText.quoted($0.value) }
            fields.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for item in ordered {
            let end = offset + item.bytes.count
            fields.append(
                "\(JSONText.quoted(item.name)):{\"dtype\":\"\(item.dtype)\",\"shape\":["
                    + item.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        json += fields.joined(separator: ",") + "}"
        var header = Data(json.utf8)
        header.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8))
        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(header)
        for item in ordered { out.append(item.bytes) }
        return out
    }

    /// Position in the library's `Dtype` enum (BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16,
    /// I32, U32, F32, F64, I64, U64), which orders tensors in the file; nil for formats safetensors lacks.
    static func rank(_ dtype: TensorDType) -> Int? {
        switch dtype {
        case .float(.f16): 7
        case .float(.bf16): 8
        case .int32: 9
        case .float(.f32): 11
        case .int64: 13
        case .float: nil
        }
    }
}

/// Writes a file whole or not at all: the bytes go to a temporary file in the same folder (so the
/// rename cannot cross file systems), which `rename(2)` then puts in place atomically.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())-\(UUID().uuidString.prefix(8))")
        do {
            try data.write(to: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ModelFileError.writeFailed(url.path, "\(error.localizedDescription)")
        }
        // On disk before the rename makes it visible: after a power cut the file is whole or absent.
        guard sync(temporary.path), rename(temporary.path, url.path) == 0 else {
            let why = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw ModelFileError.writeFailed(url.path, why)
        }
        sync(url.deletingLastPathComponent().path)
    }

    /// Flushes a file, or a folder's entries, to the disk (`fsync`).
    @discardableResult
    public static func sync(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return fsync(fd) == 0
    }
}
