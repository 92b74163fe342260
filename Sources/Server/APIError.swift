import Foundation
import Hummingbird
import ModelFiles

/// An error answered in OpenAI's format:
/// `{"error": {"message": ..., "type": ..., "param": ..., "code": ...}}` with a matching status.
struct APIError: Error, Sendable, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    var type: String
    var param: String?
    var code: String?
    var headers: HTTPFields = [:]

    var description: String { message }

    static func badRequest(_ message: String, param: String?, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static func notFound(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .notFound, message: message, type: "invalid_request_error", param: param, code: code)
    }

    static let unauthorized = APIError(
        status: .unauthorized, message: "missing or wrong API key (send 'Authorization: Bearer KEY')",
        type: "invalid_request_error", param: nil, code: "invalid_api_key")

    static func tooLarge(limit: Int) -> APIError {
        APIError(
            status: .contentTooLarge, message: "the request body is over the limit of \(limit) bytes",
            type: "invalid_request_error", param: nil, code: nil)
    }

    static func busy(_ message: String) -> APIError {
        var error = APIError(
            status: .tooManyRequests, message: message, type: "rate_limit_error", param: nil, code: "queue_full")
        error.headers[.retryAfter] = "1"
        return error
    }

    static func server(_ message: String) -> APIError {
        APIError(status: .internalServerError, message: message, type: "server_error", param: nil, code: nil)
    }

    /// The client hung up before its reply (nginx's 499; the response is never delivered, only logged).
    static let clientClosed = APIError(
        status: .init(code: 499, reasonPhrase: "Client Closed Request"), message: "the client closed the connection",
        type: "invalid_request_error", param: nil, code: nil)

}

extension APIError {
    /// A decoding error as a 400 naming the field (`messages[0].content`).
    init(decoding error: DecodingError) {
        func path(_ keys: [any CodingKey]) -> String? {
            var out = ""
            for key in keys {
                if let index = key.intValue {
                    out += "[\(index)]"
                } else {
                    out += (out.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return out.isEmpty ? nil : out
        }
        switch error {
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key]) ?? key.stringValue
            self = .badRequest("missing field '\(field)'", param: field)
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            self = .badRequest("'\(field ?? "body")' should be \(Self.describe(type))", param: field)
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            self = .badRequest("'\(field ?? "body")' is null, should be \(Self.describe(type))", param: field)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            if let field {
                self = .badRequest("'\(field)': \(context.debugDescription)", param: field)
            } else {
                let detail = (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
                self = .badRequest("the body is not valid JSON (\(detail))", param: nil)
            }
        @unknown default:
            self = .badRequest("the body could not be read", param: nil)
        }
    }

    static func describe(_ type: Any.Type) -> String {
        "\(type)" == "StringOrList" ? "a string or a list" : ExpectedType.words(for: type, in: .json)
    }

    /// The JSON body.
    var body: [String: Any] {
        [
            "error": [
                "message": message, "type": type, "param": param as Any? ?? NSNull(), "code": code as Any? ?? NSNull(),
            ]
        ]
    }

    var response: Response {
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
