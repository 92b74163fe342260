import ArgumentParser
import Foundation
import Logging
import NIOCore
import Server

/// `lora serve`: the OpenAI-compatible server with adapters chosen per request, and the web page.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model and its adapters over an OpenAI-compatible HTTP API, with a web chat page.",
        discussion: """
            Clients pick an adapter with the request's "model" field (the base model's name, or an adapter's).
            Concurrent requests decode together in one batch, whatever adapter each uses.
            """)

    @OptionGroup var model: ModelOptions

    @Option(name: .long, help: "An adapter to serve, as NAME=DIR (a PEFT adapter folder). Repeatable.")
    var adapter: [String] = []

    @Option(name: .long, help: "A folder that POST /v1/adapters may load adapters from (paths relative to it).")
    var adapterDir: String?

    @Option(name: .long, help: "Address to bind (loopback by default).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "TCP port (0 picks a free one).")
    var port = 8080

    @Option(name: .long, help: "Require 'Authorization: Bearer KEY' on /v1 requests.")
    var apiKey: String?

    @Option(name: .long, help: "Sequences decoded together at most.")
    var maxConcurrent = 8

    @Option(name: .long, help: "Requests that may wait for a free slot; more are answered 429.")
    var maxQueue = 64

    @Option(name: .long, help: "The largest max_tokens a request may ask for (also the default).")
    var maxTokensLimit = 512

    @Option(
        name: .long,
        help: "Context per sequence in tokens, prompt included (default: 2048, or the model's context if shorter).")
    var ctx: Int?

    @Option(name: .long, help: "Seconds a request may run before it is ended.")
    var timeout: Double = 600

    @Option(name: .long, help: "A folder of training runs (lora train --out) to chart on the web page.")
    var runs: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxConcurrent > 0 else { throw ValidationError("--max-concurrent must be positive") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must not be negative") }
        guard maxTokensLimit > 0 else { throw ValidationError("--max-tokens-limit must be positive") }
        if let ctx, ctx < 2 { throw ValidationError("--ctx must be at least 2") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
        if let apiKey, apiKey.trimmingCharacters(in: .whitespaces).isEmpty || apiKey.contains(" ") {
            throw ValidationError("--api-key must be a non-empty key without spaces (an unset variable?)")
        }
        var names = Set<String>()
        for spec in adapter {
            guard let equals = spec.firstIndex(of: "=") else {
                throw ValidationError("--adapter takes NAME=DIR, got '\(spec)'")
            }
            let name = String(spec[..<equals])
            let folder = String(spec[spec.index(after: equals)...])
            if let colon = folder.lastIndex(of: ":"), Double(folder[folder.index(after: colon)...]) != nil,
                !FileManager.default.fileExists(atPath: folder)
            {
                throw ValidationError(
                    "--adapter \(spec): serve takes NAME=DIR without a weight (each request uses one adapter at full weight); to serve a weighted mix, merge it first with lora merge --adapter DIR:WEIGHT"
                )
            }
            guard names.insert(name).inserted else {
                throw ValidationError("--adapter \(spec): the name '\(name)' is given twice")
            }
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.apiKey = apiKey
        configuration.maxConcurrent = maxConcurrent
        configuration.maxQueue = maxQueue
        configuration.maxTokensLimit = maxTokensLimit
        configuration.requestTimeout = timeout
        for (flag, path) in [("--adapter-dir", adapterDir), ("--runs", runs)] {
            guard let path else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw ServerStartError("\(flag) \(path): no such folder")
            }
            guard isDirectory.boolValue else { throw ServerStartError("\(flag) \(path): a file, not a folder") }
        }
        configuration.adapterDirectory = adapterDir.map { URL(fileURLWithPath: $0) }
        configuration.runsDirectory = runs.map { URL(fileURLWithPath: $0) }

        let loaded = try model.load()
        let modelContext = loaded.model.configuration.maxPositionEmbeddings
        if let ctx, ctx > modelContext {
            throw ServerStartError("--ctx \(ctx) is over the model's context of \(modelContext) tokens")
        }
        configuration.context = ctx ?? min(2048, modelContext)
        let server = try ModelServer(loaded: loaded, configuration: configuration)
        for spec in adapter {
            let split = spec.split(separator: "=", maxSplits: 1)
            let (name, path) = (String(split[0]), split.count > 1 ? String(split[1]) : "")
            do {
                try server.loadAdapter(name: name, folder: URL(fileURLWithPath: path))
            } catch {
                throw ServerStartError("--adapter \(spec): \(error)")
            }
            log("adapter \(name) ← \(path)")
        }
        // SIGINT/SIGTERM shut the server down gracefully (Hummingbird waits for requests in
        // flight); ending the generations at once keeps that wait short.
        let signals = SignalWatch([SIGINT, SIGTERM]) { _ in
            log("stopping: ending the generations in flight")
            server.stopGenerating()
        }
        defer { signals.cancel() }
        let (host, port) = (host, port)
        do {
            try await server.run { port in
                log("serving \(server.baseName) on http://\(host):\(port) (OpenAI API under /v1, web page at /)")
            }
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw ServerStartError(
                "--port \(port): the port is in use (another server?); pick another, or 0 for any free one")
        } catch let error as IOError where error.errnoCode == EADDRNOTAVAIL {
            throw ServerStartError("--host \(host): not an address of this machine")
        } catch let error as SocketAddressError.UnknownHost {
            throw ServerStartError("--host \(host): not an address or a name that resolves (\(error.errorDescription))")
        } catch let error as SocketAddressError {
            throw ServerStartError("--host \(host): not an address (\(error))")
        }
    }
}

/// A setting that keeps the server from starting.
struct ServerStartError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
