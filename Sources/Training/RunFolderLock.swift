import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An exclusive lock on a run's output folder, held while a trainer writes into it: a second
/// run on the same folder (a `--resume` started while the first still runs, say) is refused
/// instead of mixing its checkpoints, metrics and clean-up with the first's.
///
/// `flock` on `FOLDER/.lock`: the kernel releases it however the process ends (SIGKILL
/// included), so a killed run never leaves its folder locked. The file is removed on release.
final class RunFolderLock {
    static let fileName = ".lock"
    private let descriptor: Int32
    private let path: String
    /// Whether `flock` took the lock (not on a file system without it: then the file is not ours to remove).
    private let locked: Bool
    private var held = true

    /// Takes the lock, creating the folder if needed; throws ``LoRATrainer/TrainerError/folderInUse(path:)``
    /// when another process holds it.
    init(_ folder: URL) throws {
        let path = folder.appendingPathComponent(Self.fileName).path
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw LoRATrainer.TrainerError.cannotWrite(path: folder.path, reason: "\(error.localizedDescription)")
        }
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw LoRATrainer.TrainerError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            // A file system without flock (some FUSE mounts) runs unlocked rather than not at all.
            let locked = flock(fd, LOCK_EX | LOCK_NB) == 0
            if !locked && errno == EWOULDBLOCK {
                close(fd)
                throw LoRATrainer.TrainerError.folderInUse(path: folder.path)
            }
            // A holder that released meanwhile removed the file this descriptor opened: lock the
            // file now at the path instead.
            var opened = stat()
            var current = stat()
            if fstat(fd, &opened) == 0, stat(path, &current) == 0, opened.st_ino == current.st_ino,
                opened.st_dev == current.st_dev
            {
                descriptor = fd
                self.path = path
                self.locked = locked
                return
            }
            close(fd)
        }
    }

    /// Removes the file and releases the lock (also done on deinit).
    func release() {
        guard held else { return }
        held = false
        if locked { unlink(path) }
        close(descriptor)
    }

    deinit { release() }
}

extension LoRATrainer {
    /// Throws ``TrainerError/folderInUse(path:)`` when another run is writing into `folder` now
    /// (checked early, before a model is loaded; ``run(progress:)`` takes the lock for itself).
    public static func checkFolderNotInUse(_ folder: URL) throws {
        guard FileManager.default.fileExists(atPath: folder.path) else { return }
        try RunFolderLock(folder).release()
    }
}
