/// The storage formats a weight matrix can have. A row of `n` elements is stored as
/// `n / blockElements` blocks of `blockBytes` bytes each (GGML's block layouts for the
/// quantized formats), so rows are independent and can be dequantized one at a time.
public enum WeightFormat: String, Sendable, CaseIterable, Codable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"
    case q8_0 = "Q8_0"
    case q4_0 = "Q4_0"
    case q4_1 = "Q4_1"
    case q4_K = "Q4_K"
    case q5_K = "Q5_K"
    case q6_K = "Q6_K"

    /// Elements per block.
    public var blockElements: Int {
        switch self {
        case .f32, .f16, .bf16: 1
        case .q8_0, .q4_0, .q4_1: 32
        case .q4_K, .q5_K, .q6_K: 256
        }
    }

    /// Bytes per block (ggml-common.h's block sizes).
    public var blockBytes: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        case .q8_0: 34  // f16 d + 32 × int8
        case .q4_0: 18  // f16 d + 16 bytes of nibbles
        case .q4_1: 20  // f16 d, f16 m + 16 bytes of nibbles
        case .q4_K: 144  // f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        case .q5_K: 176  // as Q4_K + 32 bytes of high bits
        case .q6_K: 210  // 128 low nibbles, 64 high 2-bits, 16 int8 scales, f16 d
        }
    }

    /// Whether the format is a block-quantized one.
    public var isQuantized: Bool { blockElements > 1 }

    /// Bytes used by a row of `count` elements; `count` must be a multiple of ``blockElements``.
    public func rowBytes(_ count: Int) -> Int { count / blockElements * blockBytes }
}
