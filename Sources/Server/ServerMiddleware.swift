import Foundation
import Hummingbird
import Logging

/// Checks the API key and the body's media type, turns every error into OpenAI's error object
/// (405 with `Allow` for a known path asked with another method), and logs one line per request:
/// method, path, adapter, status, generated tokens, milliseconds.
struct ServerMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let apiKey: String?
    /// The server's routes as (method, path with `:name` segments).
    let routes: [(method: HTTPRequest.Method, path: String)]
    let logger: Logger

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            // Everything but the page and the health check needs the key. (Checking for a "/v1/"
            // prefix instead let "//v1/models" through: the router ignores empty segments.)
            if let apiKey, !Self.open.contains(request.uri.path),
                !Self.bearer(request.headers[.authorization], is: apiKey)
            {
                throw APIError.unauthorized
            }
            try Self.checkMediaType(request)
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response
        } catch let error as HTTPError where error.status == .notFound || error.status == .methodNotAllowed {
            let allowed = allowedMethods(request.uri.path)
            if allowed.isEmpty {
                response = APIError.notFound("no route for \(request.method) \(request.uri.path)").response
            } else {
                let list = allowed.map(\.rawValue).joined(separator: ", ")
                var api = APIError.notFound("\(request.method) is not allowed on \(request.uri.path) (only \(list))")
                api.status = .methodNotAllowed
                api.headers[.allow] = list
                response = api.response
            }
        } catch {
            response = APIError.server("\(error)").response
        }
        if !context.note.loggedByHandler || response.status != .ok {
            Self.log(logger, request, context.note, status: response.status.code, since: start)
        }
        return response
    }

    /// The paths answered without the API key.
    static let open: Set<String> = ["/", "/health"]

    /// Whether an `Authorization` header carries `key` as a bearer token (the scheme's case
    /// does not matter, RFC 9110 §11.1).
    static func bearer(_ header: String?, is key: String) -> Bool {
        guard let header, let space = header.firstIndex(of: " ") else { return false }
        let scheme = header[..<space]
        let token = header[space...].drop { $0 == " " }
        guard scheme.lowercased() == "bearer" else { return false }
        // Compare every byte, so that the time taken does not tell how much of a guess was right.
        let given = Array(token.utf8)
        let wanted = Array(key.utf8)
        var difference = given.count ^ wanted.count
        for i in 0..<given.count { difference |= Int(given[i] ^ (i < wanted.count ? wanted[i] : 0)) }
        return difference == 0
    }

    /// A request body must be JSON when its type is given. (A web page of another site can post
    /// `text/plain` to a local server without asking first; JSON needs the browser's consent.)
    static func checkMediaType(_ request: Request) throws(APIError) {
        guard request.method == .post, let type = request.headers[.contentType] else { return }
        let media = type.split(separator: ";", maxSplits: 1).first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard media == "application/json" else {
            throw APIError(
                status: .unsupportedMediaType,
                message: "the body must be JSON sent as 'Content-Type: application/json', not '\(type)'",
                type: "invalid_request_error", param: nil, code: nil)
        }
    }

    /// The methods of the routes whose path matches `path`.
    func allowedMethods(_ path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.filter { route in
            let pattern = route.path.split(separator: "/", omittingEmptySubsequences: true)
            return pattern.count == segments.count
                && zip(pattern, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
        }.map(\.method)
    }

    static func log(
        _ logger: Logger, _ request: Request, _ note: RequestNote, status: Int, since start: ContinuousClock.Instant
    ) {
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info(
            "\(request.method) \(request.uri.path) adapter=\(note.adapter) status=\(status) tokens=\(note.tokens.map(String.init) ?? "-") ms=\(String(format: "%.1f", ms))"
        )
    }
}
