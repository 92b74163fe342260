import Foundation

/// Settings of `lora serve`.
public struct ServerConfiguration: Sendable {
    /// Address to bind; loopback unless asked otherwise.
    public var host = "127.0.0.1"
    /// TCP port (0 picks a free one).
    public var port = 8080
    /// When set, `/v1/...` requests need `Authorization: Bearer <apiKey>`.
    public var apiKey: String?
    /// Sequences decoded together (KV-cache slots).
    public var maxConcurrent = 8
    /// Requests that may wait for a slot; more get 429.
    public var maxQueue = 64
    /// The largest `max_tokens` a request may ask for; also the default.
    public var maxTokensLimit = 512
    /// Tokens per sequence, prompt included.
    public var context = 2048
    /// Where `POST /v1/adapters` may load adapters from.
    public var adapterDirectory: URL?
    /// Training output folders for the dashboard.
    public var runsDirectory: URL?
    /// Seconds a request may run before it is ended.
    public var requestTimeout: Double = 600
    /// The largest request body accepted, in bytes.
    public var maxBodyBytes = 1 << 20

    public init() {}
}
