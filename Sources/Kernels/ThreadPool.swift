import CKernels
import Foundation

/// Runs data-parallel loops on the machine's cores.
///
/// Work is split into one contiguous chunk per thread (the caller runs one of them), so a
/// kernel's loop body sees large ranges and no per-item overhead. Nested calls run serially.
public final class ThreadPool: @unchecked Sendable {
    /// The pool the kernels use.
    public static let shared = ThreadPool()

    private let lock = NSLock()
    private var count: Int

    init() {
        let env = ProcessInfo.processInfo.environment["SWIFTLORA_THREADS"].flatMap(Int.init)
        count = max(1, env ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Threads used by ``parallelFor(_:_:)`` (at least 1).
    public var threadCount: Int {
        get { lock.withLock { count } }
        set { lock.withLock { count = max(1, newValue) } }
    }

    /// Calls `body(i)` for every `i` in `0..<count`, spread over the threads; returns when all are done.
    /// A nested call, or one made while another thread uses the pool, runs serially.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        let threads = min(threadCount, count)
        if threads <= 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            // The closure outlives no call: ck_pool_parallel returns after every index ran.
            var box = UncheckedBox(body)
            withUnsafeMutablePointer(to: &box) { pointer in
                ck_pool_parallel(
                    Int32(threads), count,
                    { context, index in
                        context!.assumingMemoryBound(to: UncheckedBox<(Int) -> Void>.self).pointee.value(index)
                    }, pointer)
            }
        }
    }

    /// Splits `0..<count` into one range per thread and calls `body` with each.
    public func parallelRanges(_ count: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
        let threads = max(1, min(threadCount, count / max(minimumPerThread, 1)))
        parallelFor(threads) { t in
            body((t * count / threads)..<((t + 1) * count / threads))
        }
    }
}

private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
