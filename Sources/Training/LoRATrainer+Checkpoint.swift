import Foundation
import Kernels
import LoRA
import ModelFiles

/// The position of a run: step, data order and cursor, and every random state.
public struct TrainerState: Codable, Sendable, Equatable {
    public var step: Int
    public var epoch: Int
    public var order: [Int]
    public var cursor: Int
    public var dataRandom: UInt64
    public var dropoutRandom: [UInt64]
    /// In a checkpoint's state: FNV-1a of its weight files, checked on resume (nil in checkpoints
    /// written before it was recorded, and in a running state).
    public var fileHashes: [String: String]?

    enum CodingKeys: String, CodingKey {
        case step
        case epoch
        case order
        case cursor
        case dataRandom = "data_random_state"
        case dropoutRandom = "dropout_random_states"
        case fileHashes = "file_fnv1a"
    }
}

extension LoRATrainer {
    /// The file a complete checkpoint holds last (its run state).
    public static let stateFile = "trainer_state.json"
    static let optimizerFile = "optimizer.safetensors"
    /// The files whose bytes a checkpoint's state vouches for.
    static let hashedFiles = ["adapter_model.safetensors", optimizerFile]

    static func fileHash(_ url: URL) -> String? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        var hash = FNV1a()
        hash.mix(bytes: data)
        return hash.description
    }

    /// Writes adapter, optimizer moments and run state into a temporary folder, then renames it
    /// into place: a checkpoint folder either is complete or does not exist.
    func saveCheckpoint(to folder: URL) throws {
        let temporary = folder.deletingLastPathComponent().appendingPathComponent(".\(folder.lastPathComponent).tmp")
        try? FileManager.default.removeItem(at: temporary)
        try adapter.save(folder: temporary)
        var items: [SafetensorsWriter.Item] = []
        for (i, pair) in optimizer.moments.enumerated() {
            items.append(.init(name: "\(i).m", shape: [pair.m.count], floats: pair.m))
            items.append(.init(name: "\(i).v", shape: [pair.v.count], floats: pair.v))
        }
        try SafetensorsWriter.write(
            items, metadata: ["step": "\(optimizer.step)"], to: temporary.appendingPathComponent(Self.optimizerFile))
        var saved = state
        saved.fileHashes = Dictionary(
            uniqueKeysWithValues: Self.hashedFiles.map {
                ($0, Self.fileHash(temporary.appendingPathComponent($0)) ?? "")
            })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(saved), to: temporary.appendingPathComponent(Self.stateFile))
        try writeSettings(into: temporary)
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.moveItem(at: temporary, to: folder)
        AtomicFile.sync(folder.deletingLastPathComponent().path)
    }

    /// The steps of the `checkpoint-N` folders in `folder` (complete or not), in order.
    public static func checkpointSteps(in folder: URL) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.compactMap { $0.hasPrefix("checkpoint-") ? Int($0.dropFirst("checkpoint-".count)) : nil }.sorted()
    }

    /// Removes all but the newest `limit` checkpoints.
    static func pruneCheckpoints(in folder: URL, keeping limit: Int) {
        for n in checkpointSteps(in: folder).dropLast(max(limit, 0)) {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent("checkpoint-\(n)"))
        }
    }

    /// Before a run writes into `folder`: removes what a killed run may have left half-written
    /// (temporary checkpoint and adapter folders, Foundation's temporary files of atomic writes)
    /// and, with a limit, checkpoints beyond it (a run killed between saving and pruning).
    static func tidy(_ folder: URL, keeping limit: Int?) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        for name in names
        where (name.hasPrefix(".checkpoint-") || name.hasPrefix(".adapter.")) && name.hasSuffix(".tmp")
            || name.hasPrefix(".dat.nosync")
        {
            try? FileManager.default.removeItem(at: folder.appendingPathComponent(name))
        }
        if let limit { pruneCheckpoints(in: folder, keeping: limit) }
    }

    /// The newest complete `checkpoint-N` in `folder`, if any.
    public static func latestCheckpoint(in folder: URL) -> URL? {
        let complete = checkpointSteps(in: folder).last { n in
            FileManager.default.fileExists(
                atPath: folder.appendingPathComponent("checkpoint-\(n)").appendingPathComponent(stateFile).path)
        }
        return complete.map { folder.appendingPathComponent("checkpoint-\($0)") }
    }

    /// Continues from a checkpoint: weights, moments, step, data order and cursor, random states.
    /// Refuses a checkpoint made with other settings or data (see ``settings``).
    public func resume(from checkpoint: URL) throws {
        try checkSettings(of: checkpoint)
        let stateURL = checkpoint.appendingPathComponent(Self.stateFile)
        guard let data = FileManager.default.contents(atPath: stateURL.path),
            var restored = try? JSONDecoder().decode(TrainerState.self, from: data)
        else {
            throw TrainerError.checkpointMismatch(checkpoint: stateURL.path, reason: "not a readable trainer state")
        }
        // Bytes changed on disk since the checkpoint was written would resume into other numbers.
        for (name, hash) in (restored.fileHashes ?? [:]).sorted(by: { $0.key < $1.key }) {
            let url = checkpoint.appendingPathComponent(name)
            guard Self.fileHash(url) == hash else {
                throw TrainerError.checkpointMismatch(
                    checkpoint: url.path, reason: "its bytes are not those the checkpoint wrote (FNV-1a \(hash))")
            }
        }
        restored.fileHashes = nil
        let saved = try LoRAAdapter.load(folder: checkpoint)
        for (path, w) in adapter.modules {
            guard let s = saved.modules[path], s.a.count == w.a.count, s.b.count == w.b.count else {
                throw LoRAError.missingWeight(checkpoint.path, key: path)
            }
            w.a.pointer.update(from: s.a.pointer, count: w.a.count)
            w.b.pointer.update(from: s.b.pointer, count: w.b.count)
        }
        for (path, w) in adapter.savedModules {
            guard let s = saved.savedModules[path], s.count == w.count else {
                throw LoRAError.missingWeight(checkpoint.path, key: "base_model.model.\(path).weight")
            }
            w.pointer.update(from: s.pointer, count: w.count)
        }
        guard restored.dropoutRandom.count == linears.count else {
            throw LoRAError.invalidConfig(checkpoint.path, "the checkpoint has a different set of adapted modules")
        }
        guard restored.order.allSatisfy({ examples.indices.contains($0) }), restored.cursor <= restored.order.count
        else {
            throw TrainerError.checkpointMismatch(
                checkpoint: checkpoint.path, reason: "its data order does not fit the \(examples.count) examples")
        }
        let file = try SafetensorsFile(url: checkpoint.appendingPathComponent(Self.optimizerFile))
        var moments: [(m: [Float], v: [Float])] = []
        var i = 0
        while file.contains("\(i).m") {
            moments.append((try file.tensor("\(i).m").floats(), try file.tensor("\(i).v").floats()))
            i += 1
        }
        let optimizerStep = Int(file.metadata["step"] ?? "") ?? restored.step
        guard optimizerStep == restored.step else {
            throw TrainerError.checkpointMismatch(
                checkpoint: checkpoint.path,
                reason: "\(Self.stateFile) is at step \(restored.step), \(Self.optimizerFile) at step \(optimizerStep)")
        }
        optimizer.restore(step: optimizerStep, moments: moments)
        for (linear, r) in zip(linears, restored.dropoutRandom) { linear.randomState = r }
        state = restored
    }
}
