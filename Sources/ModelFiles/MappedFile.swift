import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only memory mapping of a whole file; unmapped when the last reference goes.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawPointer
    public let count: Int

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw ModelFileError.cannotOpen(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ModelFileError.cannotOpen(path, String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw ModelFileError.cannotOpen(path, "not a regular file") }
        count = Int(info.st_size)
        if count == 0 {
            bytes = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
            return
        }
        guard let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw ModelFileError.cannotOpen(path, String(cString: strerror(errno)))
        }
        bytes = UnsafeRawPointer(p)
    }

    deinit {
        if count == 0 {
            UnsafeMutableRawPointer(mutating: bytes).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: bytes), count)
        }
    }
}

/// Owned, 64-byte aligned bytes (for tensors rearranged at load).
final class OwnedBytes: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(count: Int) { pointer = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64) }
    deinit { pointer.deallocate() }
}
