import Foundation
import Kernels
import Testing

@Suite struct WeightFormatTests {
    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var i = hex.startIndex
        while i < hex.endIndex {
            let j = hex.index(i, offsetBy: 2)
            out.append(UInt8(hex[i..<j], radix: 16)!)
            i = j
        }
        return out
    }

    @Test func blockSizesAreGGMLs() {
        let expected: [WeightFormat: (Int, Int)] = [
            .f32: (1, 4), .f16: (1, 2), .bf16: (1, 2), .q8_0: (32, 34), .q4_0: (32, 18), .q4_1: (32, 20),
            .q4_K: (256, 144),
            .q5_K: (256, 176), .q6_K: (256, 210),
        ]
        for f in WeightFormat.allCases {
            #expect(f.blockElements == expected[f]?.0 && f.blockBytes == expected[f]?.1, "\(f)")
        }
    }

    /// Random blocks dequantized by gguf-py (the library transformers uses to read GGUF files).
    @Test func dequantizeMatchesGGUFPy() {
        for c in QuantVectors.cases {
            let format = WeightFormat.allCases.first { "\($0)" == c.format }!
            let block = Self.bytes(hex: c.hex)
            #expect(block.count == format.blockBytes)
            let fast = block.withUnsafeBytes { format.dequantizedRow($0.baseAddress!, count: format.blockElements) }
            let reference = block.withUnsafeBytes {
                format.dequantizeRowReference($0.baseAddress!, count: format.blockElements)
            }
            #expect(fast == c.values, "\(format) fast path")
            #expect(reference == c.values, "\(format) reference")
        }
    }

    /// The vectorized dequantizer equals the element-by-element definition on random blocks, bit for bit.
    @Test(arguments: WeightFormat.allCases)
    func fastEqualsReference(format: WeightFormat) {
        var rng = SystemRandomNumberGenerator()
        let count = 4 * 256
        var bytes = (0..<format.rowBytes(count)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        // Keep the f16 scales finite: random exponent bytes can make inf/nan, which compare unequal.
        if format.isQuantized {
            let scaleOffsets: [Int] =
                switch format {
                case .q4_1, .q4_K, .q5_K: [0, 2]
                case .q6_K: [208]
                default: [0]
                }
            for b in 0..<(count / format.blockElements) {
                for o in scaleOffsets { bytes[b * format.blockBytes + o + 1] &= 0x3b }
            }
        } else if format == .f16 {
            for i in stride(from: 1, to: bytes.count, by: 2) { bytes[i] &= 0x3b }
        } else if format == .bf16 || format == .f32 {
            let step = format == .f32 ? 4 : 2
            for i in stride(from: step - 1, to: bytes.count, by: step) { bytes[i] &= 0x3f }
        }
        let fast = bytes.withUnsafeBytes { format.dequantizedRow($0.baseAddress!, count: count) }
        let reference = bytes.withUnsafeBytes { format.dequantizeRowReference($0.baseAddress!, count: count) }
        #expect(fast == reference)
    }

    /// Quantize then dequantize: the error stays within each format's step.
    @Test(arguments: WeightFormat.allCases)
    func roundTripErrorIsBounded(format: WeightFormat) {
        let count = 512
        let x: [Float] = (0..<count).map { i -> Float in
            let wave = Float(sin(Double(i) * 0.37))
            let amplitude: Float = 1 + Float(i % 7) / 3
            return wave * amplitude
        }
        var stored = [UInt8](repeating: 0, count: format.rowBytes(count))
        x.withUnsafeBufferPointer { src in
            stored.withUnsafeMutableBytes { format.quantizeRow(src.baseAddress!, into: $0.baseAddress!, count: count) }
        }
        let y = stored.withUnsafeBytes { format.dequantizedRow($0.baseAddress!, count: count) }
        let amax = x.map(abs).max()!
        let worst = zip(x, y).map { abs($0 - $1) }.max()!
        let bound: Float =
            switch format {
            case .f32: 0
            case .f16: amax * 1e-3
            case .bf16: amax * 8e-3
            case .q8_0: amax / 127
            case .q4_0, .q4_1: amax / 7
            case .q5_K: amax / 10
            case .q4_K: amax / 5
            case .q6_K: amax / 20
            }
        #expect(worst <= bound, "\(format): max error \(worst), bound \(bound)")
    }

    @Test func halfConversionIsExactAndRoundsToNearestEven() {
        for bits in stride(from: 0, through: 0x7bff, by: 7) {
            let h = UInt16(bits)
            #expect(Half.bits(Half.float(h)) == h)
        }
        #expect(Half.bits(1 + 0x1p-11) == 0x3c00)  // tie → even
        #expect(Half.bits(1 + 0x1p-11 + 0x1p-20) == 0x3c01)
        #expect(Half.float(0x0001) == 0x1p-24)
        #expect(Half.bits(70000) == 0x7c00)
    }
}
