import Foundation
import Hummingbird
import Logging
import Models
import Server
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A real `ModelServer` on a free loopback port for one test, spoken to over real HTTP.
struct LiveServer {
    let server: ModelServer
    let base: URL

    /// Starts the server, runs `body`, and shuts the server down.
    static func with(
        _ loaded: LoadedModel, configuration: ServerConfiguration = ServerConfiguration(),
        setUp: (ModelServer) throws -> Void = { _ in }, _ body: (LiveServer) async throws -> Void
    ) async throws {
        var configuration = configuration
        configuration.port = 0
        var logger = Logger(label: "test.serve")
        logger.logLevel = .critical  // cancelling the server task at the end logs shutdown errors
        let server = try ModelServer(loaded: loaded, configuration: configuration, logger: logger)
        try setUp(server)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await server.run { port in continuation.yield(port) } }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw URLError(.cannotConnectToHost) }
        defer { task.cancel() }
        try await body(LiveServer(server: server, base: URL(string: "http://127.0.0.1:\(port)")!))
    }

    /// Sends a request; returns the status, headers and body.
    func send(
        _ method: String, _ path: String, json: String? = nil, body: Data? = nil, headers: [String: String] = [:]
    ) async throws -> (status: Int, headers: [String: String], body: Data) {
        // Appended as written: escapes and doubled slashes reach the server unchanged.
        var request = URLRequest(url: URL(string: base.absoluteString + (path.hasPrefix("/") ? "" : "/") + path)!)
        request.httpMethod = method
        request.timeoutInterval = 120
        if let json {
            request.httpBody = Data(json.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let body { request.httpBody = body }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name] = value }
        }
        return (http.statusCode, fields, data)
    }

    /// The body as a JSON object.
    static func object(_ data: Data) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// The OpenAI error object of an error response.
    static func error(_ data: Data) throws -> [String: Any] {
        try object(data)["error"] as? [String: Any] ?? [:]
    }
}
