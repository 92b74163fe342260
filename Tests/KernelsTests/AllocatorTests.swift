import Kernels
import Testing

/// ``Allocator/keepFreedMemory()``: a block far above glibc's default mmap threshold comes from
/// the heap (which keeps it for reuse) instead of a mapping of its own that free would unmap.
@Suite struct AllocatorTests {
    @Test(.enabled(if: Allocator.mappedBytes != nil, "needs glibc's allocator statistics"))
    func largeBlocksComeFromTheHeap() throws {
        try #require(Allocator.keepFreedMemory(), "glibc 2.35 or later takes a 1 GiB mmap threshold")
        let before = Allocator.mappedBytes!
        let bytes = 48 << 20  // over the default threshold and glibc's 32 MiB dynamic maximum
        let tensor = Tensor(zeros: [bytes / MemoryLayout<Float>.size])
        let mapped = Allocator.mappedBytes! - before
        #expect(mapped < bytes, "a \(bytes)-byte tensor was mapped on its own (\(mapped) bytes more mapped)")
        withExtendedLifetime(tensor) {}
    }
}
