import Foundation
import Kernels
import Testing
import TestSupport

@testable import ModelFiles

/// The writer against files the Python library wrote, and the reader against damaged headers.
@Suite struct SafetensorsFormatTests {
    static func temporary(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "swiftlora-\(getpid())-\(UUID().uuidString)-\(name)")
    }

    /// Reading a fixture and writing its tensors back gives the same bytes as `save_file` did,
    /// including the order (reference-logits mixes F32 and I32: F32 comes first, as in the library).
    @Test(arguments: [
        "tiny-llama/model.safetensors", "tiny-llama/reference-logits.safetensors", "tiny-qwen2/model.safetensors",
    ])
    func rewritesPythonFilesByteForByte(_ fixture: String) throws {
        let url = Fixtures.url(fixture)
        let f = try SafetensorsFile(url: url)
        let items = try f.names.map { name in
            let t = try f.tensor(name)
            return SafetensorsWriter.Item(
                name: name, shape: t.shape, dtype: t.dtype, bytes: Data(bytes: t.data, count: t.byteCount))
        }
        let ours = try SafetensorsWriter.serialized(items, metadata: f.metadata)
        let theirs = try Data(contentsOf: url)
        #expect(ours.count == theirs.count)
        #expect(ours == theirs)
    }

    @Test func headerEscapesNamesLikeSerdeJSON() throws {
        #expect(JSONText.quoted("a\"b\\c\nd\u{01}é/") == #""a\"b\\c\nd\u0001é/""#)
        let url = Self.temporary("names.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        let odd = "w\"eird\n/name é"
        try SafetensorsWriter.write(
            [.init(name: odd, shape: [1], floats: [3])], metadata: ["k\"": "v\n"], to: url)
        let f = try SafetensorsFile(url: url)
        #expect(f.names == [odd])
        #expect(f.metadata == ["k\"": "v\n"])
        #expect(try f.tensor(odd).floats() == [3])
    }

    @Test func writerRefusesWhatSafetensorsCannotHold() {
        #expect(throws: ModelFileError.self) {
            try SafetensorsWriter.serialized([
                .init(name: "q", shape: [32], dtype: .float(.q8_0), bytes: Data(count: 34))
            ])
        }
        #expect(throws: ModelFileError.self) {
            try SafetensorsWriter.serialized([.init(name: "x", shape: [3], floats: [1, 2])])
        }
        #expect(throws: ModelFileError.self) {
            try SafetensorsWriter.serialized([
                .init(name: "x", shape: [1], floats: [1]), .init(name: "x", shape: [1], floats: [2]),
            ])
        }
    }

    /// Integers at an offset that is not a multiple of their size still read correctly, and an I64
    /// that does not fit in 32 bits is an error, not a silent truncation.
    @Test func integersAtAnyOffsetAndRangeChecked() throws {
        let header =
            #"{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"#
            + #""b":{"dtype":"I32","shape":[2],"data_offsets":[2,10]},"#
            + #""c":{"dtype":"I64","shape":[2],"data_offsets":[10,26]}}"#
        var data = Data([0, 0x3c])
        for v in [Int32(-5), 70000] { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        for v in [Int64(1) << 40, -2] { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        let url = try Self.write(header: header, data: data)
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try SafetensorsFile(url: url)
        #expect(try f.tensor("a").floats() == [1])
        #expect(try f.tensor("b").int32s() == [-5, 70000])
        #expect(try f.tensor("b").floats() == [-5, 70000])
        #expect(try f.tensor("c").int64s() == [1 << 40, -2])
        #expect(throws: ModelFileError.valueOutOfRange(url.path, tensor: "c", value: 1 << 40)) {
            try f.tensor("c").int32s()
        }
        #expect(throws: ModelFileError.self) { try f.tensor("a").int32s() }
    }

    static func write(header: String, data: Data, declaredLength: UInt64? = nil) throws -> URL {
        var d = Data()
        let h = Data(header.utf8)
        withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
        d.append(h)
        d.append(data)
        let url = temporary("hand.safetensors")
        try d.write(to: url)
        return url
    }

    static func openError(header: String, data: Int = 16, declaredLength: UInt64? = nil) -> ModelFileError? {
        guard let url = try? write(header: header, data: Data(count: data), declaredLength: declaredLength) else {
            return .cannotOpen("temp", "")
        }
        defer { try? FileManager.default.removeItem(at: url) }
        do {
            _ = try SafetensorsFile(url: url)
            return nil
        } catch {
            return error as? ModelFileError ?? .cannotOpen("not a ModelFileError", "\(error)")
        }
    }

    /// Each kind of damage gives its own typed error naming the file (and the tensor where there is one).
    @Test func damagedHeadersGiveSpecificErrors() {
        let ok = #"{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#
        #expect(Self.openError(header: ok) == nil)
        if case .truncated = Self.openError(header: ok, declaredLength: 5000) {} else { Issue.record("past end") }
        if case .corrupt = Self.openError(header: ok, declaredLength: 1 << 40) {} else { Issue.record("absurd") }
        if case .corrupt = Self.openError(header: "{not json") {} else { Issue.record("bad JSON") }
        if case .corrupt = Self.openError(header: "[1,2]") {} else { Issue.record("not an object") }
        if case .corrupt(_, let why) = Self.openError(
            header: #"{"x":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#)
        {
            #expect(why.contains("'x'"))
        } else {
            Issue.record("shape/bytes mismatch")
        }
        if case .truncated = Self.openError(header: ok, data: 8) {} else { Issue.record("data past end") }
        if case .corrupt(_, let why) = Self.openError(
            header:
                #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        ) {
            #expect(why.contains("overlap"))
        } else {
            Issue.record("overlap")
        }
        if case .unsupportedDType(_, "x", "F8_E4M3") = Self.openError(
            header: #"{"x":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}}"#)
        {
        } else {
            Issue.record("unknown dtype")
        }
        if case .corrupt = Self.openError(header: #"{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0.5,16]}}"#) {
        } else {
            Issue.record("fractional offset")
        }
        if case .corrupt = Self.openError(header: #"{"x":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}}"#) {
        } else {
            Issue.record("negative dimension")
        }
        if case .corrupt = Self.openError(
            header: #"{"x":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#)
        {
        } else {
            Issue.record("overflowing shape")
        }
        if case .corrupt = Self.openError(header: #"{"__metadata__":{"a":1}}"#) {} else { Issue.record("metadata") }
    }

    /// Random damage to a valid file's header never crashes the reader: it opens or throws ModelFileError.
    @Test func randomHeaderDamageNeverCrashes() throws {
        let good = try SafetensorsWriter.serialized(
            [
                .init(name: "a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
                .init(name: "b", shape: [2], dtype: .int64, bytes: Data(count: 16)),
            ], metadata: ["format": "pt"])
        var rng = SplitMix64(seed: 7)
        let url = Self.temporary("fuzz.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        for _ in 0..<400 {
            var d = good
            for _ in 0..<Int(rng.next() % 3 + 1) {
                let at = Int(rng.next() % UInt64(min(d.count, 8 + 120)))
                d[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            try d.write(to: url)
            do {
                let f = try SafetensorsFile(url: url)
                for n in f.names { _ = try? f.tensor(n).floats() }
            } catch {
                #expect(error is ModelFileError)
            }
        }
    }
}
