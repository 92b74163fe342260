/// Adapters that apply to some sequences of a batch only: a server keeps one per loaded adapter
/// and tags each request's sequence with it, so rows of different adapters share the base
/// model's GEMMs and each adds its own low-rank delta.
///
/// Identity matters: consecutive sequences with the same set are applied as one block of rows.
public final class AdapterSet: Sendable {
    /// The adapters of each projection, applied in order.
    public let adapters: [ProjectionKey: [any LinearAdapter]]

    public init(_ adapters: [ProjectionKey: [any LinearAdapter]]) {
        self.adapters = adapters
    }
}
