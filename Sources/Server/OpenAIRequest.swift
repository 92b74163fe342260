import Foundation
import Generation
import ModelFiles
import Tokenizers

/// What a field that takes a string or a list holds, for error messages.
enum StringOrList {}

extension SingleValueDecodingContainer {
    /// A string, or `nil` when the value is of another type (an undecodable string, such as a
    /// lone surrogate escape, is an error naming the field, not "another type").
    func decodeStringIfString() throws -> String? {
        do {
            return try decode(String.self)
        } catch DecodingError.typeMismatch {
            return nil
        }
    }

    /// A list of `T`, or a type error saying that a string or a list was expected.
    func decodeList<T: Decodable>(_ type: [T].Type) throws -> [T] {
        do {
            return try decode(type)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.count == codingPath.count {
            throw DecodingError.typeMismatch(
                StringOrList.self, .init(codingPath: codingPath, debugDescription: "a string or a list"))
        }
    }
}

/// A stop setting: OpenAI accepts one string or a list.
struct StopStrings: Decodable {
    var values: [String]
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try container.decodeStringIfString() {
            values = [one]
        } else {
            values = try container.decodeList([String].self)
        }
    }
}

/// A chat message's content: a string, or OpenAI's list of parts of which text parts are read.
struct MessageContent: Decodable {
    var text: String
    struct Part: Decodable {
        var text: String
        enum CodingKeys: String, CodingKey { case type, text }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let type = try container.decode(String.self, forKey: .type)
            guard type == "text" else {
                throw DecodingError.dataCorruptedError(
                    forKey: .type, in: container, debugDescription: "content parts of type '\(type)' are not supported")
            }
            text = try container.decode(String.self, forKey: .text)
        }
    }
    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            text = ""
        } else if let string = try container.decodeStringIfString() {
            text = string
        } else {
            text = try container.decodeList([Part].self).map(\.text).joined()
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
    var logit_bias: [String: Float]?
    var stream: Bool?
    var stream_options: StreamOptions?
    var n: Int?

    struct StreamOptions: Decodable { var include_usage: Bool? }

    /// Whether a streamed reply ends with a usage chunk.
    var includeUsage: Bool { stream == true && stream_options?.include_usage == true }

    /// The generation settings; `defaultMaxTokens` when none is asked for, at most `maxTokensLimit`;
    /// `logit_bias` keys are token ids below `vocabularySize`.
    func parameters(defaultMaxTokens: Int, maxTokensLimit: Int, vocabularySize: Int) throws(APIError)
        -> GenerationParameters
    {
        if let n, n != 1 { throw .badRequest("only n = 1 is supported", param: "n") }
        let requested = max_completion_tokens ?? max_tokens
        let name = max_completion_tokens != nil ? "max_completion_tokens" : "max_tokens"
        if let requested, requested < 1 {
            throw .badRequest("\(name) must be at least 1, got \(requested)", param: name)
        }
        if let requested, requested > maxTokensLimit {
            throw .badRequest("\(name) \(requested) is over this server's limit of \(maxTokensLimit)", param: name)
        }
        if let temperature, !(0...2).contains(temperature) {
            throw .badRequest("temperature must be between 0 and 2, got \(temperature)", param: "temperature")
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
        for (key, bias) in logit_bias ?? [:] {
            guard let id = Int(key), (0..<vocabularySize).contains(id) else {
                throw .badRequest(
                    "logit_bias key '\(key)' is not a token id (0 to \(vocabularySize - 1))", param: "logit_bias")
            }
            p.logitBias[id] = bias
        }
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
            if let one = try container.decodeStringIfString() {
                text = one
                return
            }
            let list = try container.decodeList([String].self)
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
        if let duplicate = JSONDuplicateKeys.first(in: data) {
            throw .badRequest("'\(duplicate.path)' is given twice", param: duplicate.path)
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch DecodingError.dataCorrupted(let context)
            where context.codingPath.isEmpty && (try? JSONSerialization.jsonObject(with: data)) != nil
        {
            // Valid JSON with a value its field cannot hold (1.5 for an integer, 1e20): the
            // decoder does not say which field, so each number that is no Int64 is left out in
            // turn; the one whose absence ends this error is named.
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            for key in object.keys.sorted() {
                guard let number = object[key] as? NSNumber, !(number is Bool) else { continue }
                let value = number.doubleValue
                guard value.rounded() != value || !(Double(Int64.min)..<Double(Int64.max)).contains(value) else {
                    continue
                }
                var without = object
                without[key] = nil
                guard let trimmed = try? JSONSerialization.data(withJSONObject: without) else { continue }
                do {
                    _ = try JSONDecoder().decode(type, from: trimmed)
                } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
                    continue
                } catch {}
                throw .badRequest("'\(key)' should be an integer, got \(number)", param: key)
            }
            throw .badRequest("a value does not fit its field: \(context.debugDescription)", param: nil)
        } catch let error as DecodingError {
            throw APIError(decoding: error)
        } catch {
            throw .badRequest("the body is not valid JSON", param: nil)
        }
    }
}
