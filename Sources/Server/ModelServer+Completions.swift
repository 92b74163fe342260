import Foundation
import Generation
import Hummingbird
import Models
import Tokenizers

extension ModelServer {
    /// `POST /v1/chat/completions` (`chat`) and `POST /v1/completions`.
    func completion(_ request: Request, _ context: ServerContext, chat: Bool) async throws -> Response {
        let data = try await Self.body(request, configuration)
        let fields = try JSONDecoder.request(SamplingFields.self, from: data)
        try UnsupportedOptions.check(data, chat: chat)
        let promptIDs: [Int]
        if chat {
            let body = try JSONDecoder.request(ChatCompletionRequest.self, from: data)
            guard !body.messages.isEmpty else { throw APIError.badRequest("'messages' is empty", param: "messages") }
            for (i, message) in body.messages.enumerated() {
                guard UnsupportedOptions.roles.contains(message.role) else {
                    throw APIError.badRequest(
                        "unknown role '\(message.role)' (system, developer, user, assistant or tool)",
                        param: "messages[\(i)].role"
                    )
                }
                guard message.content != nil || message.role == "assistant" else {
                    throw APIError.badRequest("missing field 'messages[\(i)].content'", param: "messages[\(i)].content")
                }
            }
            // OpenAI's newer name for the system role, which chat templates do not know.
            let messages = body.messages.map {
                ChatMessage(role: $0.role == "developer" ? "system" : $0.role, content: $0.content?.text ?? "")
            }
            do {
                promptIDs = try loaded.chatPromptIDs(messages)
            } catch {
                throw APIError.badRequest("cannot render the chat template: \(error)", param: "messages")
            }
        } else {
            let body = try JSONDecoder.request(CompletionRequest.self, from: data)
            promptIDs = loaded.promptIDs(body.prompt.text)
            guard !promptIDs.isEmpty else { throw APIError.badRequest("'prompt' is empty", param: "prompt") }
        }
        let adapterSet: AdapterSet?
        if fields.model == baseName || fields.model.isEmpty {
            adapterSet = nil
        } else if let entry = adapters.entry(fields.model) {
            adapterSet = entry.set
        } else {
            throw APIError.notFound(
                "The model '\(fields.model)' does not exist", param: "model", code: "model_not_found")
        }
        let limit = batch.context
        guard promptIDs.count < limit else {
            throw APIError.badRequest(
                "the prompt has \(promptIDs.count) tokens; this server's context is \(limit)",
                param: chat ? "messages" : "prompt", code: "context_length_exceeded")
        }
        let parameters = try fields.parameters(
            defaultMaxTokens: min(configuration.maxTokensLimit, limit - promptIDs.count),
            maxTokensLimit: configuration.maxTokensLimit, vocabularySize: loaded.model.configuration.vocabSize)
        let stream: AsyncThrowingStream<GenerationEvent, Error>
        do {
            stream = try batch.submit(
                GenerationRequest(
                    promptIDs: promptIDs, parameters: parameters, adapters: adapterSet,
                    deadline: Date().addingTimeInterval(configuration.requestTimeout)))
        } catch let error as BatchGeneratorError {
            throw APIError.busy("the server is busy: \(error)")
        }
        // An empty `model` is the base, and the reply names it, as OpenAI names the model used.
        let model = fields.model.isEmpty ? baseName : fields.model
        context.note.adapter = model
        let reply = Reply(
            id: (chat ? "chatcmpl-" : "cmpl-") + UUID().uuidString.lowercased(), chat: chat, model: model,
            created: Int(Date().timeIntervalSince1970), promptTokens: promptIDs.count)
        if fields.stream == true {
            return streamed(reply, stream, request, context.note, includeUsage: fields.includeUsage)
        }
        // A client that hangs up cancels the collecting task, which ends the stream and so
        // cancels the sequence.
        let collect = Task { () throws -> GenerationResult? in
            for try await event in stream {
                if case .finished(let result) = event { return result }
            }
            return nil
        }
        let finished = try await HangUpWatcher.watching(context.channel, onHangUp: { collect.cancel() }) {
            try await collect.value
        }
        if collect.isCancelled {
            // How many tokens were generated before the sequence was cancelled is not known here.
            context.note.tokens = nil
            throw APIError.clientClosed
        }
        guard let result = finished else {
            throw APIError.server("generation ended without a result")
        }
        context.note.tokens = result.ids.count
        return Self.json(reply.whole(text: result.text, result: result))
    }

    /// Server-sent events in OpenAI's chunk format, ending with `data: [DONE]`. A client that
    /// goes away ends the loop, which cancels its sequence.
    func streamed(
        _ reply: Reply, _ stream: AsyncThrowingStream<GenerationEvent, Error>, _ request: Request, _ note: RequestNote,
        includeUsage: Bool
    ) -> Response {
        note.loggedByHandler = true
        let logger = logger
        let start = ContinuousClock.now
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: .init { writer in
                func send(_ object: Any) async throws {
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    try await writer.write(
                        ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                }
                var status = 200
                note.tokens = nil  // not known until the result gives it (a client may hang up first)
                defer { ServerMiddleware.log(logger, request, note, status: status, since: start) }
                do {
                    try await send(reply.chunk(delta: "", first: true, finish: nil))
                    for try await event in stream {
                        switch event {
                        case .text(let delta):
                            try await send(reply.chunk(delta: delta, first: false, finish: nil))
                        case .finished(let result):
                            note.tokens = result.ids.count
                            try await send(reply.chunk(delta: nil, first: false, finish: result))
                            if includeUsage { try await send(reply.usageChunk(result)) }
                        }
                    }
                    try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
                    try await writer.finish(nil)
                } catch {
                    status = 499  // the client closed the connection
                    throw error
                }
            })
    }
}

/// The fixed parts of one completion's response objects.
struct Reply: Sendable {
    var id: String
    var chat: Bool
    var model: String
    var created: Int
    var promptTokens: Int

    /// OpenAI's `stop` and `length`; a request cut by `--timeout` says `timeout` (not OpenAI's,
    /// but "length" would tell the client that max_tokens was reached).
    static func finishReason(_ reason: FinishReason) -> String {
        reason.rawValue
    }

    func usage(_ result: GenerationResult) -> [String: Any] {
        [
            "prompt_tokens": promptTokens, "completion_tokens": result.ids.count,
            "total_tokens": promptTokens + result.ids.count,
        ]
    }

    func whole(text: String, result: GenerationResult) -> [String: Any] {
        var choice: [String: Any] = [
            "index": 0, "finish_reason": Self.finishReason(result.finishReason), "logprobs": NSNull(),
        ]
        if chat {
            choice["message"] = ["role": "assistant", "content": text]
        } else {
            choice["text"] = text
        }
        return [
            "id": id, "object": chat ? "chat.completion" : "text_completion", "created": created, "model": model,
            "choices": [choice], "usage": usage(result), "system_fingerprint": "swiftlora",
        ]
    }

    func chunk(delta: String?, first: Bool, finish: GenerationResult?) -> [String: Any] {
        var choice: [String: Any] = [
            "index": 0, "logprobs": NSNull(),
            "finish_reason": finish.map { Self.finishReason($0.finishReason) } ?? NSNull(),
        ]
        if chat {
            var d: [String: Any] = [:]
            if first { d["role"] = "assistant" }
            if let delta { d["content"] = delta }
            choice["delta"] = d
        } else {
            choice["text"] = delta ?? ""
        }
        return [
            "id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
            "model": model, "choices": [choice], "system_fingerprint": "swiftlora",
        ]
    }

    func usageChunk(_ result: GenerationResult) -> [String: Any] {
        [
            "id": id, "object": chat ? "chat.completion.chunk" : "text_completion", "created": created,
            "model": model, "choices": [] as [Any], "usage": usage(result),
        ]
    }
}
