import Foundation
import Hummingbird
import Logging

/// Checks the API key, turns every error into OpenAI's error object, and logs one line per
/// request: method, path, adapter, status, generated tokens, milliseconds.
struct ServerMiddleware: RouterMiddleware {
    typealias Context = ServerContext
    let apiKey: String?
    let logger: Logger

    func handle(
        _ request: Request, context: ServerContext, next: (Request, ServerContext) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        do {
            if let apiKey, request.uri.path.hasPrefix("/v1/"),
                request.headers[.authorization] != "Bearer \(apiKey)"
            {
                throw APIError.unauthorized
            }
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response
        } catch let error as HTTPError where error.status == .notFound {
            response = APIError.notFound("no route for \(request.method) \(request.uri.path)").response
        } catch let error as HTTPError where error.status == .methodNotAllowed {
            var api = APIError.notFound("\(request.method) is not allowed on \(request.uri.path)")
            api.status = .methodNotAllowed
            response = api.response
        } catch {
            response = APIError.server("\(error)").response
        }
        if !context.note.loggedByHandler || response.status != .ok {
            Self.log(logger, request, context.note, status: response.status.code, since: start)
        }
        return response
    }

    static func log(
        _ logger: Logger, _ request: Request, _ note: RequestNote, status: Int, since start: ContinuousClock.Instant
    ) {
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info(
            "\(request.method) \(request.uri.path) adapter=\(note.adapter) status=\(status) tokens=\(note.tokens) ms=\(String(format: "%.1f", ms))"
        )
    }
}
