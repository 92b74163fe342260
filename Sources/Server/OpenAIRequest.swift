import Foundation
import Generation
import Tokenizers

/// A stop setting: OpenAI accepts one string or a list.
struct StopStrings: Decodable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(String.self) {
            values = [one]
        } else {
            values = try container.decode([String].self)
        }
    }
}

/// A chat message's content: a string, or OpenAI's list of parts of which text parts are read.
struct MessageContent: Decodable {
    var text: String
    struct Part: Decodable {
        var type: String
        var text: String?
    }
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            text = string
        } else if container.decodeNil() {
            text = ""
        } else {
            let parts = try container.decode([Part].self)
            if let other = parts.first(where: { $0.type != "text" }) {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "content parts of type '\(other.type)' are not supported")
            }
            text = parts.compactMap(\.text).joined()
        }
    }
}

/// The sampling fields shared by `/v1/chat/completions` and `/v1/completions`.
struct SamplingFields: Decodable {
    var model: String
    var max_tokens: Int?
    var max_completion_tokens: Int?
    var temperature: Float?
    var top_p: Float?
    var top_k: Int?
    var min_p: Float?
    var stop: StopStrings?
    var seed: Int64?
    var frequency_penalty: Float?
    var presence_penalty: Float?
    var repetition_penalty: Float?
    var stream: Bool?
    var n: Int?

    /// The generation settings; `defaultMaxTokens` when none is asked for, at most `maxTokensLimit`.
    func parameters(defaultMaxTokens: Int, maxTokensLimit: Int) throws(APIError) -> GenerationParameters {
        if let n, n != 1 { throw .badRequest("only n = 1 is supported", param: "n") }
        let requested = max_completion_tokens ?? max_tokens
        if let requested, requested < 1 {
            throw .badRequest("max_tokens must be at least 1, got \(requested)", param: "max_tokens")
        }
        if let requested, requested > maxTokensLimit {
            throw .badRequest(
                "max_tokens \(requested) is over this server's limit of \(maxTokensLimit)", param: "max_tokens")
        }
        for (name, value) in [("presence_penalty", presence_penalty), ("frequency_penalty", frequency_penalty)] {
            if let value, !(-2...2).contains(value) {
                throw .badRequest("\(name) must be between -2 and 2, got \(value)", param: name)
            }
        }
        var p = GenerationParameters()
        p.maxTokens = requested ?? defaultMaxTokens
        p.temperature = temperature ?? 1  // OpenAI's default
        p.topP = top_p ?? 1
        p.topK = top_k ?? 0
        p.minP = min_p ?? 0
        p.stop = stop?.values ?? []
        p.seed = seed.map { UInt64(bitPattern: $0) } ?? UInt64.random(in: 0...UInt64.max)
        p.frequencyPenalty = frequency_penalty ?? 0
        p.presencePenalty = presence_penalty ?? 0
        p.repetitionPenalty = repetition_penalty ?? 1
        do {
            try p.validate()
        } catch {
            if case .invalidParameter(let name, let message) = error {
                throw .badRequest("invalid \(name): \(message)", param: name)
            }
            throw .badRequest(error.description, param: nil)
        }
        return p
    }
}

/// `POST /v1/chat/completions`.
struct ChatCompletionRequest: Decodable {
    struct Message: Decodable {
        var role: String
        var content: MessageContent?
    }
    var messages: [Message]
}

/// `POST /v1/completions`.
struct CompletionRequest: Decodable {
    var prompt: PromptText
    /// A prompt string, or a list holding one string.
    struct PromptText: Decodable {
        var text: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) {
                text = one
                return
            }
            let list = try container.decode([String].self)
            guard list.count == 1 else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "exactly one prompt per request is supported")
            }
            text = list[0]
        }
    }
}

/// `POST /v1/adapters`.
struct LoadAdapterRequest: Decodable {
    var name: String
    var path: String
}

extension JSONDecoder {
    /// Decodes a request body, turning decoding errors into 400s that name the field.
    static func request<T: Decodable>(_ type: T.Type, from data: Data) throws(APIError) -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch DecodingError.dataCorrupted(let context)
            where context.codingPath.isEmpty && (try? JSONSerialization.jsonObject(with: data)) != nil
        {
            // Valid JSON with a value its field cannot hold (1.5 for an integer, 1e400).
            throw .badRequest("a value does not fit its field: \(context.debugDescription)", param: nil)
        } catch let error as DecodingError {
            throw APIError(decoding: error)
        } catch {
            throw .badRequest("the body is not valid JSON", param: nil)
        }
    }
}
