import Foundation

extension LoRATrainer {
    /// Writes a checkpoint of the current step into the output folder (a run stopped between its
    /// checkpoints, by Ctrl-C say, can then be resumed from where it stopped). Returns its folder,
    /// or nil without an output folder or when the current step already has one. Holds the
    /// folder's lock while it writes (``TrainerError/folderInUse(path:)`` if another run has it).
    @discardableResult
    public func saveCheckpointNow() throws -> URL? {
        guard let folder = parameters.outputDirectory, state.step > 0 else { return nil }
        // Called from a progress callback, the run's own lock covers it.
        if folderLock != nil { return try writeCheckpointNow() }
        let lock = try RunFolderLock(folder)
        defer { lock.release() }
        return try writeCheckpointNow()
    }

    /// ``saveCheckpointNow()`` for a caller that holds the folder's lock (``run(progress:)``).
    @discardableResult
    func writeCheckpointNow() throws -> URL? {
        guard let folder = parameters.outputDirectory, state.step > 0 else { return nil }
        let checkpoint = folder.appendingPathComponent("checkpoint-\(state.step)")
        guard !FileManager.default.fileExists(atPath: checkpoint.path) else { return checkpoint }
        try saveCheckpoint(to: checkpoint)
        if let limit = parameters.saveTotalLimit { Self.pruneCheckpoints(in: folder, keeping: limit) }
        return checkpoint
    }
}
