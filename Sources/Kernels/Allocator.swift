import CKernels

/// Process-wide allocator settings.
public enum Allocator {
    /// Keeps freed memory in the C allocator for reuse instead of handing it back to the system.
    ///
    /// A training step allocates the same activations every time; by default glibc serves large
    /// blocks with `mmap` and unmaps them on free, so each step faults in and zero-fills them again
    /// (about 5% of a SmolLM2 step on two cores). With this, large blocks come from the heap
    /// and the heap is not trimmed: the process keeps its peak footprint until it exits. Meant for
    /// a program's start (the `lora` command calls it); returns whether it took effect (glibc only).
    @discardableResult
    public static func keepFreedMemory() -> Bool { ck_keep_freed_memory() != 0 }
}
