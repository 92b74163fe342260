import Kernels

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Keys and values of past positions for a fixed number of sequence slots.
///
/// Layout per layer: `[slots, capacity, kvHeads × headDim]`, so a slot's keys are contiguous and
/// attention reads them with a fixed row stride. Slots are independent: a server can reset one
/// and start a new sequence in it while the others continue.
///
/// The memory is reserved, not touched: pages become resident as positions are written, and a
/// reset slot gives its pages back, so a server sized for many long sequences uses memory only
/// for the tokens it actually holds.
public final class KVCache: @unchecked Sendable {
    public let slots: Int
    public let capacity: Int
    let layers: Int
    let rowWidth: Int
    let keys: [PageBuffer]  // per layer (slots, capacity, kvDim)
    let values: [PageBuffer]  // per layer (slots, capacity, kvDim)
    /// Positions filled in each slot.
    public private(set) var lengths: [Int]

    /// A cache for `slots` sequences of up to `capacity` positions each. Throws
    /// ``ModelError/outOfMemory(_:)`` when the address space for it cannot be reserved.
    public init(configuration: LlamaConfiguration, slots: Int, capacity: Int) throws {
        self.slots = slots
        self.capacity = capacity
        layers = configuration.numHiddenLayers
        rowWidth = configuration.numKeyValueHeads * configuration.headDim
        guard slots >= 0, capacity >= 0 else {
            throw ModelError.invalidInput("a KV cache needs slots ≥ 0 and capacity ≥ 0, got \(slots) and \(capacity)")
        }
        let (perSlot, overflow1) = capacity.multipliedReportingOverflow(by: rowWidth)
        let (count, overflow2) = slots.multipliedReportingOverflow(by: perSlot)
        guard !overflow1, !overflow2 else {
            throw ModelError.outOfMemory("a KV cache of \(slots) slots × \(capacity) positions is too large")
        }
        keys = try (0..<layers).map { _ in try PageBuffer(count: count) }
        values = try (0..<layers).map { _ in try PageBuffer(count: count) }
        lengths = Array(repeating: 0, count: slots)
    }

    /// Forgets slot `slot`'s positions so it can hold a new sequence.
    public func reset(slot: Int) {
        lengths[slot] = 0
        for buffer in keys + values { buffer.release(offset: slot * capacity * rowWidth, count: capacity * rowWidth) }
    }

    /// Forgets every slot.
    public func resetAll() {
        for slot in 0..<slots { reset(slot: slot) }
    }

    /// Keeps only the first `length` positions of `slot` (e.g. to drop a rejected suffix).
    public func truncate(slot: Int, to length: Int) {
        precondition(length <= lengths[slot])
        lengths[slot] = length
    }

    func advance(slot: Int, by count: Int) { lengths[slot] += count }

    @inline(__always)
    func keyBase(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        keys[layer].pointer + slot * capacity * rowWidth
    }

    @inline(__always)
    func valueBase(layer: Int, slot: Int) -> UnsafeMutablePointer<Float> {
        values[layer].pointer + slot * capacity * rowWidth
    }
}

/// Floats in anonymous memory: zero pages until written, released back to the system on request.
final class PageBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let bytes: Int

    init(count: Int) throws {
        let (size, overflow) = max(1, count).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        bytes = size
        guard !overflow, let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            raw != MAP_FAILED
        else {
            throw ModelError.outOfMemory(
                "cannot reserve \(overflow ? "\(count) floats" : "\(size) bytes") for the KV cache")
        }
        pointer = raw.assumingMemoryBound(to: Float.self)
    }

    /// Returns the whole pages inside `offset..<offset+count` (in floats) to the system; they read
    /// as zeros afterwards.
    func release(offset: Int, count: Int) {
        let page = Int(getpagesize())
        let start = (offset * MemoryLayout<Float>.stride + page - 1) / page * page
        let end = (offset + count) * MemoryLayout<Float>.stride / page * page
        guard end > start else { return }
        _ = madvise(UnsafeMutableRawPointer(pointer) + start, end - start, Int32(MADV_DONTNEED))
    }

    deinit { munmap(pointer, bytes) }
}
