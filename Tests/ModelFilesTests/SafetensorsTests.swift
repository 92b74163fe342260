import Foundation
import Testing
import TestSupport

@testable import ModelFiles

@Suite struct SafetensorsTests {
    @Test func readsTheFixtureModel() throws {
        let store = try SafetensorsStore(folder: Fixtures.url("tiny-llama"))
        let q = try store.tensor("model.layers.0.self_attn.q_proj.weight")
        #expect(q.shape == [64, 64])
        #expect(q.dtype == .float(.f32))
        #expect(store.names.count == 20)
        #expect(throws: ModelFileError.self) { try store.tensor("nope") }
        let logits = try SafetensorsFile(url: Fixtures.url("tiny-llama/reference-logits.safetensors"))
        #expect(try logits.tensor("input_ids").int32s().count == 32)
    }

    @Test func writesWhatItReads() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-\(getpid())-rt.safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafetensorsWriter.write(
            [
                .init(name: "b", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
                .init(name: "a", shape: [2], dtype: .int32, bytes: [Int32(7), -1].withUnsafeBytes { Data($0) }),
            ], metadata: ["format": "pt"], to: url)
        let f = try SafetensorsFile(url: url)
        #expect(f.names == ["a", "b"])
        #expect(f.metadata == ["format": "pt"])
        #expect(try f.tensor("b").floats() == [1, 2, 3, 4, 5, 6])
        #expect(try f.tensor("a").int32s() == [7, -1])
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        #expect(headerLength % 8 == 0)
    }

    @Test func corruptFilesAreRejected() throws {
        func open(header: String, data: Int = 16, declaredLength: UInt64? = nil) -> Error? {
            var d = Data()
            let h = Data(header.utf8)
            withUnsafeBytes(of: (declaredLength ?? UInt64(h.count)).littleEndian) { d.append(contentsOf: $0) }
            d.append(h)
            d.append(Data(repeating: 0, count: data))
            let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-\(UUID().uuidString).st")
            try? d.write(to: url)
            defer { try? FileManager.default.removeItem(at: url) }
            do {
                _ = try SafetensorsFile(url: url)
                return nil
            } catch { return error }
        }
        let ok = #"{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#
        #expect(open(header: ok) == nil)
        #expect(open(header: ok, declaredLength: 1 << 40) is ModelFileError)
        #expect(open(header: ok, declaredLength: 5000) is ModelFileError)
        #expect(open(header: "{not json") is ModelFileError)
        #expect(open(header: #"{"x":{"dtype":"F32","shape":[3,2],"data_offsets":[0,16]}}"#) is ModelFileError)
        #expect(open(header: #"{"x":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#, data: 8) is ModelFileError)
        #expect(
            open(
                header:
                    #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
            ) is ModelFileError)
        guard
            case .unsupportedDType(_, "x", "F8_E4M3") = open(
                header: #"{"x":{"dtype":"F8_E4M3","shape":[16],"data_offsets":[0,16]}}"#) as? ModelFileError
        else {
            Issue.record("unknown dtype")
            return
        }
    }
}
