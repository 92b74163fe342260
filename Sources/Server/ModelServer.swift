import Foundation
import Generation
import Hummingbird
import Logging
import Models
import NIOCore
import Tokenizers

/// The OpenAI-compatible server: one base model, adapters chosen per request by `model`,
/// every request decoded in one continuous batch.
///
/// ```swift
/// let server = try ModelServer(loaded: loaded, configuration: configuration)
/// try server.adapters.load(name: "pirate", folder: URL(fileURLWithPath: "runs/pirate/adapter"))
/// try await server.run()
/// ```
public final class ModelServer: Sendable {
    public let configuration: ServerConfiguration
    let loaded: LoadedModel
    let batch: BatchGenerator
    let adapters: AdapterRegistry
    let logger: Logger
    /// The name clients use for the base model.
    public let baseName: String

    public init(
        loaded: LoadedModel, configuration: ServerConfiguration, logger: Logger = Logger(label: "lora.serve")
    ) throws {
        self.loaded = loaded
        self.configuration = configuration
        self.logger = logger
        baseName = loaded.name
        batch = try BatchGenerator(
            model: loaded.model, tokenizer: loaded.tokenizer, slots: configuration.maxConcurrent,
            context: configuration.context, maxQueue: configuration.maxQueue)
        adapters = AdapterRegistry(model: loaded.model, root: configuration.adapterDirectory)
    }

    /// Loads a PEFT adapter folder under `name` (from the command line).
    public func loadAdapter(name: String, folder: URL) throws {
        guard name != baseName else {
            throw APIError.badRequest("'\(name)' is the base model's name", param: "name")
        }
        try adapters.load(name: name, folder: folder)
    }

    /// The Hummingbird application; `onRunning` gets the bound port.
    public func application(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "SwiftLoRA"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    /// Ends every sequence being generated or waiting (finished as `cancelled`), so that a
    /// shutting-down server does not wait for long replies; later requests are refused.
    public func stopGenerating() {
        batch.shutDown()
    }

    /// Serves until the process is stopped.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(onRunning: onRunning).runService()
    }

    /// One route: its method, its path (`:name` matches one segment) and its handler.
    struct Route: Sendable {
        var method: HTTPRequest.Method
        var path: String
        var handler: @Sendable (Request, ServerContext) async throws -> Response
    }

    /// Every route the server answers; the middleware reads it to answer 405 with `Allow`.
    func routes() -> [Route] {
        [
            Route(method: .get, path: "/") { _, _ in
                Response(
                    status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.index_html)))
            },
            Route(method: .get, path: "/health") { _, _ in Self.json(["status": "ok"]) },
            Route(method: .get, path: "/v1/models") { [self] _, _ in models() },
            Route(method: .get, path: "/v1/models/:id") { [self] _, context in
                let id = Self.parameter("id", context)
                if id == baseName { return Self.json(Self.modelObject(id, parent: nil)) }
                guard adapters.entry(id) != nil else {
                    throw APIError.notFound("The model '\(id)' does not exist", param: "model", code: "model_not_found")
                }
                return Self.json(Self.modelObject(id, parent: baseName))
            },
            Route(method: .post, path: "/v1/chat/completions") { [self] request, context in
                try await completion(request, context, chat: true)
            },
            Route(method: .post, path: "/v1/completions") { [self] request, context in
                try await completion(request, context, chat: false)
            },
            Route(method: .post, path: "/v1/adapters") { [self] request, context in
                let body = try await JSONDecoder.request(
                    LoadAdapterRequest.self, from: Self.body(request, configuration))
                guard body.name != baseName else {
                    throw APIError.badRequest("'\(body.name)' is the base model's name", param: "name")
                }
                try AdapterRegistry.checkName(body.name)
                try adapters.loadInsideRoot(name: body.name, path: body.path)
                context.note.adapter = body.name
                return Self.json(Self.modelObject(body.name, parent: baseName), status: .created)
            },
            Route(method: .delete, path: "/v1/adapters/:name") { [self] _, context in
                let name = Self.parameter("name", context)
                guard adapters.unload(name) else {
                    throw APIError.notFound("no adapter named '\(name)'", param: "name")
                }
                return Self.json(["id": name, "object": "model", "deleted": true])
            },
            Route(method: .get, path: "/v1/runs") { [self] _, _ in
                let runs = configuration.runsDirectory.map { RunsCatalog(root: $0).runs() } ?? []
                return Self.json(["object": "list", "data": runs.map { ["id": $0.id, "updated": $0.updated] }])
            },
            Route(method: .get, path: "/v1/runs/:id/metrics") { [self] _, context in
                let id = Self.parameter("id", context)
                guard let root = configuration.runsDirectory, let records = RunsCatalog(root: root).records(of: id)
                else {
                    throw APIError.notFound("no training run '\(id)'")
                }
                return Self.json(["id": id, "records": records])
            },
        ]
    }

    /// A path parameter, percent-decoded (`my%20run` is the run `my run`).
    static func parameter(_ name: String, _ context: ServerContext) -> String {
        let raw = context.parameters.get(name) ?? ""
        return raw.removingPercentEncoding ?? raw
    }

    func router() -> Router<ServerContext> {
        let router = Router(context: ServerContext.self)
        let routes = routes()
        router.add(
            middleware: ServerMiddleware(
                apiKey: configuration.apiKey, routes: routes.map { ($0.method, $0.path) }, logger: logger))
        for route in routes {
            router.on(RouterPath(route.path), method: route.method, use: route.handler)
        }
        return router
    }

    func models() -> Response {
        var data = [Self.modelObject(baseName, parent: nil)]
        data += adapters.names.map { Self.modelObject($0, parent: baseName) }
        return Self.json(["object": "list", "data": data])
    }

    static func modelObject(_ id: String, parent: String?) -> [String: Any] {
        var object: [String: Any] = ["id": id, "object": "model", "created": 0, "owned_by": "swiftlora"]
        if let parent { object["parent"] = parent }
        return object
    }

    /// Reads the body up to the configured limit (413 beyond it).
    static func body(_ request: Request, _ configuration: ServerConfiguration) async throws -> Data {
        var request = request
        do {
            let data = Data(buffer: try await request.collectBody(upTo: configuration.maxBodyBytes))
            guard String(data: data, encoding: .utf8) != nil else {
                throw APIError.badRequest("the body is not valid UTF-8", param: nil)
            }
            return data
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge(limit: configuration.maxBodyBytes)
        }
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
