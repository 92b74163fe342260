import Foundation

extension LoRATrainer {
    /// Writes a checkpoint of the current step into the output folder (a run stopped between its
    /// checkpoints, by Ctrl-C say, can then be resumed from where it stopped). Returns its folder,
    /// or nil without an output folder or when the current step already has one.
    @discardableResult
    public func saveCheckpointNow() throws -> URL? {
        guard let folder = parameters.outputDirectory, state.step > 0 else { return nil }
        let checkpoint = folder.appendingPathComponent("checkpoint-\(state.step)")
        guard !FileManager.default.fileExists(atPath: checkpoint.path) else { return checkpoint }
        try saveCheckpoint(to: checkpoint)
        if let limit = parameters.saveTotalLimit { Self.pruneCheckpoints(in: folder, keeping: limit) }
        return checkpoint
    }
}
