import Foundation
import Kernels
import Testing

#if os(Linux)
    import Glibc

    /// ``Allocator/keepFreedMemory()``: a large block freed and allocated again is not faulted in
    /// afresh (page faults counted on the test's own thread).
    @Suite struct AllocatorTests {
        /// Minor page faults of the calling thread so far.
        static func threadFaults() -> Int {
            var usage = rusage()
            getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD (a GNU extension Swift does not import)
            return usage.ru_minflt
        }

        /// Faults taken while a zero-filled tensor of `bytes` is made and dropped.
        static func faultsOfOneTensor(_ bytes: Int) -> Int {
            let before = threadFaults()
            let tensor = Tensor(zeros: [bytes / MemoryLayout<Float>.size])
            tensor.pointer[tensor.count - 1] = 1
            return threadFaults() - before
        }

        @Test func aFreedBlockIsReusedWithoutPageFaults() {
            #expect(Allocator.keepFreedMemory())
            let bytes = 48 << 20  // larger than glibc's default mmap threshold (and its 32 MiB maximum)
            let pages = bytes / Int(sysconf(Int32(_SC_PAGESIZE)))
            _ = Self.faultsOfOneTensor(bytes)  // the first one may fault every page in
            let again = Self.faultsOfOneTensor(bytes)
            #expect(again < pages / 10, "\(again) page faults for a \(pages)-page block allocated a second time")
        }
    }
#endif
