import Hummingbird

/// Per-request context: Hummingbird's core storage plus a note the log line reads.
struct ServerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let note = RequestNote()

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}

/// What a handler tells the request log: the adapter used and tokens generated, or that it
/// logs the request itself (streams end after the response head is sent).
final class RequestNote: @unchecked Sendable {
    var adapter = "-"
    var tokens = 0
    var loggedByHandler = false
}
