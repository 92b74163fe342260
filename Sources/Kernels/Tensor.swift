#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A 64-byte aligned buffer of Floats with a shape. Kernels take its `pointer` and sizes;
/// the class only owns the memory.
public final class Tensor: @unchecked Sendable {
    public let shape: [Int]
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    /// A zero-filled tensor.
    public convenience init(zeros shape: [Int]) {
        self.init(uninitialized: shape)
        memset(pointer, 0, max(count, 1) * MemoryLayout<Float>.stride)
    }

    /// A tensor whose contents are undefined: for the output of an op that writes every element
    /// (a training step would otherwise zero hundreds of megabytes only to overwrite them).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        count = shape.reduce(1, *)
        var raw: UnsafeMutableRawPointer?
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        guard posix_memalign(&raw, 64, bytes) == 0, let raw else {
            preconditionFailure("out of memory allocating \(bytes) bytes")
        }
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    /// A tensor holding `values` (whose count must equal the shape's product).
    public convenience init(_ values: [Float], shape: [Int]) {
        self.init(uninitialized: shape)
        precondition(values.count == count, "\(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) }
    }

    deinit { free(pointer) }

    /// A copy of the contents.
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
