import Foundation
import Kernels
import Testing
import TestSupport

@testable import ModelFiles

/// GGUF files cut short or damaged at random: always a typed error, never a crash or a huge allocation.
@Suite struct GGUFRobustnessTests {
    static func open(_ bytes: Data, at url: URL) -> (GGUFFile?, Error?) {
        do {
            try bytes.write(to: url)
            return (try GGUFFile(url: url), nil)
        } catch {
            return (nil, error)
        }
    }

    /// Every prefix shorter than the end of the last tensor's bytes is refused; longer ones (only
    /// trailing padding missing) still open.
    @Test func everyCutPointIsRefused() throws {
        let good = try GGUFFileTests.sample().serialized()
        let url = GGUFFileTests.temporary("cut-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        let (whole, _) = Self.open(good, at: url)
        let file = try #require(whole)
        let needed = file.dataStart + file.tensorInfos.map { $0.offset + $0.byteCount }.max()!
        for cut in 0..<good.count {
            let (f, error) = Self.open(good.prefix(cut), at: url)
            if cut < needed {
                #expect(f == nil && error is ModelFileError, "cut at \(cut) of \(good.count)")
            } else {
                #expect(f != nil, "cut at \(cut) only drops padding")
            }
        }
    }

    /// Seeded random byte damage in the header (metadata and tensor infos).
    @Test func randomHeaderDamageNeverCrashes() throws {
        let good = try GGUFFileTests.sample().serialized()
        let url = GGUFFileTests.temporary("fuzz-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        var rng = SplitMix64(seed: 42)
        var opened = 0
        for _ in 0..<600 {
            var d = good
            for _ in 0..<Int(rng.next() % 3 + 1) {
                d[Int(rng.next() % UInt64(min(d.count, 640)))] = UInt8(truncatingIfNeeded: rng.next())
            }
            let (f, error) = Self.open(d, at: url)
            if let f {
                opened += 1
                for info in f.tensorInfos { _ = try? f.tensor(named: info.name).floats() }
                _ = try? f.huggingFaceConfig()
                if let store = try? GGUFStore(file: f) { for n in store.names { _ = try? store.tensor(n) } }
            } else {
                #expect(error is ModelFileError, "\(String(describing: error))")
            }
        }
        #expect(opened > 0)
    }

    /// Each kind of damage named in the format's rules gives its own typed error.
    @Test func specificDamageGivesSpecificErrors() throws {
        let url = GGUFFileTests.temporary("bad-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        func error(_ d: Data) -> ModelFileError? { Self.open(d, at: url).1 as? ModelFileError }
        // A tensor whose ggml type is known but unsupported (Q5_0 = 6) opens; using it names the type.
        var w = GGUFWriter()
        w.metadata = [("general.architecture", .string("llama"))]
        w.tensors = [("t", [32], .q4_0, Data(count: 18))]
        var d = try w.serialized()
        // The type id sits after the name (8 + 1), n_dims (4) and one dimension (8) of the tensor info.
        let infoStart = 24 + (8 + 20) + 4 + (8 + 5)
        let typeOffset = infoStart + 8 + 1 + 4 + 8
        #expect(d[typeOffset] == 2)
        d[typeOffset] = 6
        let (f, _) = Self.open(d, at: url)
        let file = try #require(f)
        #expect(file.tensorInfos[0].type.name == "Q5_0")
        #expect(throws: ModelFileError.unsupportedTensorType(url.path, tensor: "t", type: "Q5_0")) {
            try file.tensor(named: "t")
        }
        // An unknown metadata value type, and a bool that is neither 0 nor 1.
        var m = GGUFWriter()
        m.metadata = [("k", .bool(true))]
        var md = try m.serialized()
        md[24 + 9] = 13
        if case .corrupt(_, let why) = error(md) {
            #expect(why.contains("value type 13"))
        } else {
            Issue.record("type 13")
        }
        md[24 + 9] = 7
        md[24 + 9 + 4] = 2
        if case .corrupt(_, let why) = error(md) { #expect(why.contains("bool")) } else { Issue.record("bool 2") }
        // general.alignment that is not a power of two.
        var a = GGUFWriter()
        a.metadata = [("general.alignment", .uint32(24))]
        if case .corrupt = error(try a.serialized()) {} else { Issue.record("alignment 24") }
        // Arrays nested beyond any real use are refused before recursing deeper.
        var nested = GGUFValue.int32(1)
        for _ in 0..<6 { nested = .array([nested]) }
        var n = GGUFWriter()
        n.metadata = [("deep", nested)]
        if case .corrupt = error(try n.serialized()) {} else { Issue.record("deep nesting") }
        // Two tensors with one name.
        var dup = GGUFWriter()
        dup.tensors = [("t", [1], .f32, Data(count: 4)), ("u", [1], .f32, Data(count: 4))]
        var dd = try dup.serialized()
        let second = dd.range(of: Data([0x75]), in: 24..<dd.count)!.lowerBound  // the name "u"
        dd[second] = 0x74
        if case .corrupt(_, let why) = error(dd) {
            #expect(why.contains("duplicate"))
        } else {
            Issue.record("duplicate")
        }
    }

    @Test func writerRefusesInconsistentTensors() {
        var w = GGUFWriter()
        w.tensors = [("t", [30], .q8_0, Data(count: 34))]
        #expect(throws: ModelFileError.self) { try w.serialized() }
        w.tensors = [("t", [32], .q8_0, Data(count: 33))]
        #expect(throws: ModelFileError.self) { try w.serialized() }
        w.tensors = [("t", [1, 1, 1, 1, 1], .f32, Data(count: 4))]
        #expect(throws: ModelFileError.self) { try w.serialized() }
        w.tensors = [("t", [1], .f32, Data(count: 4))]
        w.alignment = 12
        #expect(throws: ModelFileError.self) { try w.serialized() }
    }
}
