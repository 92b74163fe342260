import NIOCore

/// Tells when a client closes its side of the connection. The server allows half-closed
/// connections (Hummingbird's setting), so a client that hangs up during a non-streaming reply
/// only delivers `inputClosed`; the channel itself stays open until a write fails, which for a
/// non-streaming reply comes only at the end.
final class HangUpWatcher: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = NIOAny
    let onHangUp: @Sendable () -> Void

    init(onHangUp: @escaping @Sendable () -> Void) {
        self.onHangUp = onHangUp
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { onHangUp() }
        context.fireUserInboundEventTriggered(event)
    }

    /// Runs `body` with a watcher on `channel` calling `onHangUp` (also when the channel closes),
    /// and takes the watcher off again.
    static func watching<T: Sendable>(
        _ channel: any Channel, onHangUp: @escaping @Sendable () -> Void, _ body: () async throws -> T
    ) async throws -> T {
        let watcher = HangUpWatcher(onHangUp: onHangUp)
        try? await channel.pipeline.addHandler(watcher, position: .first).get()
        channel.closeFuture.whenComplete { _ in onHangUp() }
        defer { channel.pipeline.removeHandler(watcher, promise: nil) }
        return try await body()
    }
}
