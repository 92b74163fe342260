import Hummingbird
import NIOCore

/// Per-request context: Hummingbird's core storage, the connection (whose closing cancels a
/// request's generation) and a note the log line reads.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel
    let note = RequestNote()

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// What a handler tells the request log: the adapter used and tokens generated, or that it
/// logs the request itself (streams end after the response head is sent).
final class RequestNote: @unchecked Sendable {
    var adapter = "-"
    /// Tokens generated; `nil` when the client hung up and the count is not known.
    var tokens: Int? = 0
    var loggedByHandler = false
}
