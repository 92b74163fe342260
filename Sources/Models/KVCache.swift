import Kernels

/// Keys and values of past positions for a fixed number of sequence slots.
///
/// Layout per layer: `[slots, capacity, kvHeads × headDim]`, so a slot's keys are contiguous and
/// attention reads them with a fixed row stride. Slots are independent: a server can reset one
/// and start a new sequence in it while the others continue.
public final class KVCache: @unchecked Sendable {
    public let slots: Int
    public let capacity: Int
    let layers: Int
    let rowWidth: Int
    let keys: [Tensor]  // per layer (slots, capacity, kvDim)
    let values: [Tensor]  // per layer (slots, capacity, kvDim)
    /// Positions filled in each slot.
    public private(set) var lengths: [Int]

    /// A cache for `slots` sequences of up to `capacity` positions each.
    public init(configuration: LlamaConfiguration, slots: Int, capacity: Int) {
        self.slots = slots
        self.capacity = capacity
        layers = configuration.numHiddenLayers
        rowWidth = configuration.numKeyValueHeads * configuration.headDim
        keys = (0..<layers).map { _ in
            Tensor(zeros: [slots, capacity, configuration.numKeyValueHeads * configuration.headDim])
        }
        values = (0..<layers).map { _ in
            Tensor(zeros: [slots, capacity, configuration.numKeyValueHeads * configuration.headDim])
        }
        lengths = Array(repeating: 0, count: slots)
    }

    /// Forgets slot `slot`'s positions so it can hold a new sequence.
    public func reset(slot: Int) { lengths[slot] = 0 }

    /// Forgets every slot.
    public func resetAll() { lengths = Array(repeating: 0, count: slots) }

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
