import Foundation

/// Writes `.safetensors` files the way the Python library does (sorted keys, header padded with
/// spaces to a multiple of 8), atomically: a temporary file in the same folder is renamed into place.
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

    public static func write(_ items: [Item], metadata: [String: String] = [:], to url: URL) throws {
        var header: [String: Any] = [:]
        var offset = 0
        let sorted = items.sorted { $0.name < $1.name }
        for item in sorted {
            guard let expected = item.dtype.byteCount(elements: item.shape.reduce(1, *)), expected == item.bytes.count
            else {
                throw ModelFileError.writeFailed(
                    url.path, "tensor '\(item.name)': \(item.bytes.count) bytes for shape \(item.shape)")
            }
            header[item.name] = [
                "dtype": item.dtype.description, "shape": item.shape,
                "data_offsets": [offset, offset + item.bytes.count],
            ]
            offset += item.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for item in sorted { out.append(item.bytes) }
        try AtomicFile.write(out, to: url)
    }
}

/// Writes a file whole or not at all.
public enum AtomicFile {
    public static func write(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: temporary)
            if FileManager.default.fileExists(atPath: url.path) {
                _ = try FileManager.default.replaceItemAt(url, withItemAt: temporary)
            } else {
                try FileManager.default.moveItem(at: temporary, to: url)
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw ModelFileError.writeFailed(url.path, "\(error.localizedDescription)")
        }
    }
}
