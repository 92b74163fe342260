/// A read-only matrix of `rows × columns` elements in any ``WeightFormat``, stored row-major
/// the way Hugging Face checkpoints store a linear layer's weight: `[out_features, in_features]`.
///
/// The bytes usually live in a memory-mapped model file; `owner` keeps that mapping alive.
public struct WeightMatrix: @unchecked Sendable {
    public let format: WeightFormat
    public let rows: Int
    public let columns: Int
    public let data: UnsafeRawPointer
    public let owner: AnyObject?
    /// The weight packed once for the bf16 pair kernel (see ``BFloat16Panels``); `nil` packs it on
    /// every call. Only for a weight that does not change while the panels exist.
    public var bf16Panels: BFloat16Panels?

    public init(format: WeightFormat, rows: Int, columns: Int, data: UnsafeRawPointer, owner: AnyObject?) {
        precondition(columns % format.blockElements == 0, "row length must be whole blocks")
        self.format = format
        self.rows = rows
        self.columns = columns
        self.data = data
        self.owner = owner
    }

    /// Bytes in one stored row.
    public var rowBytes: Int { format.rowBytes(columns) }

    /// The start of row `r`.
    @inline(__always)
    public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }
}
