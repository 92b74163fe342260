import CKernels

extension WeightFormat {
    /// Dequantizes `count` elements (whole blocks) of a stored row into Floats. Fast (C, vectorized);
    /// ``dequantizeRowReference(_:into:count:)`` is the element-by-element definition it is tested against.
    public func dequantizeRow(_ src: UnsafeRawPointer, into dst: UnsafeMutablePointer<Float>, count: Int) {
        switch self {
        case .f32: dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
        case .f16: ck_dequant_f16(src.assumingMemoryBound(to: UInt16.self), dst, count)
        case .bf16: ck_dequant_bf16(src.assumingMemoryBound(to: UInt16.self), dst, count)
        case .q8_0: ck_dequant_q8_0(src.assumingMemoryBound(to: UInt8.self), dst, count)
        case .q4_0: ck_dequant_q4_0(src.assumingMemoryBound(to: UInt8.self), dst, count)
        case .q4_1: ck_dequant_q4_1(src.assumingMemoryBound(to: UInt8.self), dst, count)
        case .q4_K: ck_dequant_q4_k(src.assumingMemoryBound(to: UInt8.self), dst, count)
        case .q5_K: ck_dequant_q5_k(src.assumingMemoryBound(to: UInt8.self), dst, count)
        case .q6_K: ck_dequant_q6_k(src.assumingMemoryBound(to: UInt8.self), dst, count)
        }
    }

    /// A row dequantized into a new array.
    public func dequantizedRow(_ src: UnsafeRawPointer, count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            dequantizeRow(src, into: buffer.baseAddress!, count: count)
            initialized = count
        }
    }
}
