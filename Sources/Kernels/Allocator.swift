import CKernels

/// Process-wide allocator settings.
public enum Allocator {
    /// Keeps freed memory in the C allocator for reuse instead of handing it back to the system.
    ///
    /// A training step allocates the same activations every time; by default glibc serves large
    /// blocks with `mmap` and unmaps them on free, so each step faults in and zero-fills them again
    /// (about 5% of a SmolLM2 step on two cores). With this, threads share one arena, blocks up to
    /// 1 GiB come from its heap, and the heap is not trimmed: the process keeps its peak footprint
    /// until it exits. Call it at a training program's start, before other threads allocate (a
    /// thread that has allocated keeps its own arena, which still maps blocks over 64 MiB);
    /// `lora` does for `train` and `bench`. Returns whether it took effect (glibc 2.35 and later;
    /// older glibc gets a 32 MiB threshold).
    @discardableResult
    public static func keepFreedMemory() -> Bool { ck_keep_freed_memory() != 0 }

    /// Bytes the C allocator holds in blocks it mapped one by one (glibc 2.33 and later), else nil.
    public static var mappedBytes: Int? {
        let bytes = ck_mapped_bytes()
        return bytes < 0 ? nil : Int(bytes)
    }
}
