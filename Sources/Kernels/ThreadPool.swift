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
    private static let nestingKey = "swiftlora.threadpool.inside"

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
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        let threads = min(threadCount, count)
        if threads <= 1 || Thread.current.threadDictionary[Self.nestingKey] != nil {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            // The closure outlives no call: concurrentPerform returns after every iteration ran.
            let box = UncheckedBox(body)
            DispatchQueue.concurrentPerform(iterations: threads) { t in
                let body = box.value
                let inner = Thread.current.threadDictionary
                inner[Self.nestingKey] = true
                defer { inner[Self.nestingKey] = nil }
                let start = t * count / threads
                let end = (t + 1) * count / threads
                for i in start..<end { body(i) }
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
