import Foundation
import Models
@testable import Server
import Testing
import TestSupport

/// `lora serve`'s API over real HTTP on the real model: OpenAI's wire format, adapters chosen by
/// `model`, streaming, run-time adapter loading, and every error status the API promises.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ServerAPITests {
    static let question = "What is a DDoS attack and how do you defend against it?"
    struct Greedy: Decodable {
        var greedy_ids: [Int]
        var greedy_text: String
    }

    static func chat(_ model: String, _ content: String, extra: String = "") -> String {
        let message = String(
            data: try! JSONSerialization.data(withJSONObject: content, options: .fragmentsAllowed), encoding: .utf8)!
        return #"{"model": "\#(model)", "messages": [{"role": "user", "content": \#(message)}]\#(extra)}"#
    }

    @Test func modelsChatStreamingAndCompletionsFollowOpenAI() async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let greedy = try JSONDecoder().decode(Greedy.self, from: Fixtures.data("smollm2/peft-adapter-qv-greedy.json"))
        try await LiveServer.with(loaded) { server in
            try server.loadAdapter(name: "qv", folder: Fixtures.url("smollm2/peft-adapter-qv"))
        } _: { live in
            let health = try await live.send("GET", "health")
            #expect(health.status == 200)
            let page = try await live.send("GET", "")
            #expect(
                page.status == 200
                    && String(decoding: page.body, as: UTF8.self).lowercased().hasPrefix("<!doctype html>"))

            let models = try LiveServer.object(try await live.send("GET", "v1/models").body)
            let data = models["data"] as? [[String: Any]] ?? []
            #expect(models["object"] as? String == "list")
            #expect(data.map { $0["id"] as? String } == [loaded.name, "qv"])
            #expect(data.last?["parent"] as? String == loaded.name)

            // The adapter by name gives PEFT's greedy text; usage counts the tokens.
            let reply = try await live.send(
                "POST", "v1/chat/completions",
                json: Self.chat("qv", Self.question, extra: #", "max_tokens": 40, "temperature": 0"#))
            #expect(reply.status == 200)
            let object = try LiveServer.object(reply.body)
            let choice = (object["choices"] as? [[String: Any]])?.first
            let message = choice?["message"] as? [String: Any]
            #expect(message?["content"] as? String == greedy.greedy_text)
            #expect(message?["role"] as? String == "assistant")
            #expect(choice?["finish_reason"] as? String == "length")
            #expect(object["object"] as? String == "chat.completion")
            let usage = object["usage"] as? [String: Int]
            #expect(usage?["completion_tokens"] == 40)
            #expect(
                usage?["prompt_tokens"]
                    == (try loaded.chatPromptIDs([.init(role: "user", content: Self.question)])).count)
            #expect(usage?["total_tokens"] == (usage?["prompt_tokens"] ?? 0) + 40)

            // Streaming: OpenAI chunks whose deltas add up to the same text, then [DONE].
            let streamed = try await live.send(
                "POST", "v1/chat/completions",
                json: Self.chat(
                    "qv", Self.question,
                    extra:
                        #", "max_tokens": 40, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}"#
                ))
            #expect(streamed.status == 200)
            #expect(streamed.headers["Content-Type"]?.hasPrefix("text/event-stream") == true)
            let events = String(decoding: streamed.body, as: UTF8.self).components(separatedBy: "\n\n").filter {
                !$0.isEmpty
            }
            #expect(events.last == "data: [DONE]")
            var text = ""
            var finish: String?
            var sawUsage = false
            for event in events.dropLast() {
                #expect(event.hasPrefix("data: "))
                let chunk = try LiveServer.object(Data(event.dropFirst(6).utf8))
                #expect(chunk["object"] as? String == "chat.completion.chunk")
                if let usage = chunk["usage"] as? [String: Int] { sawUsage = usage["completion_tokens"] == 40 }
                guard let choice = (chunk["choices"] as? [[String: Any]])?.first else { continue }
                text += (choice["delta"] as? [String: Any])?["content"] as? String ?? ""
                if let reason = choice["finish_reason"] as? String { finish = reason }
            }
            #expect(text == greedy.greedy_text)
            #expect(finish == "length" && sawUsage)
            #expect(events.count > 10, "one chunk per token or so, not one block")

            // The base by its name, and /v1/completions with a plain prompt and a stop string.
            let base = try LiveServer.object(
                try await live.send(
                    "POST", "v1/chat/completions",
                    json: Self.chat(loaded.name, Self.question, extra: #", "max_tokens": 40, "temperature": 0"#)
                ).body)
            let baseText =
                ((base["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
            #expect(baseText != nil && baseText != greedy.greedy_text)
            let completion = try LiveServer.object(
                try await live.send(
                    "POST", "v1/completions",
                    json:
                        #"{"model": "qv", "prompt": "The capital of France is", "max_tokens": 30, "temperature": 0, "stop": ["."]}"#
                ).body)
            let choiceText = (completion["choices"] as? [[String: Any]])?.first
            #expect(completion["object"] as? String == "text_completion")
            #expect((choiceText?["text"] as? String)?.contains(".") == false)
            #expect(choiceText?["finish_reason"] as? String == "stop")

            // An empty model is the base, and the reply names the base.
            let unnamed = try LiveServer.object(
                try await live.send(
                    "POST", "v1/completions", json: #"{"model": "", "prompt": "Hi", "max_tokens": 1}"#
                ).body)
            #expect(unnamed["model"] as? String == loaded.name)

            // logit_bias: +100 forces a token; -100 bans the one greedy decoding would pick.
            let paris = loaded.tokenizer.encode(" Paris")[0]
            func completionText(_ bias: String) async throws -> String? {
                let object = try LiveServer.object(
                    try await live.send(
                        "POST", "v1/completions",
                        json:
                            #"{"model": "\#(loaded.name)", "prompt": "The capital of France is", "max_tokens": 3, "temperature": 0, "logit_bias": {\#(bias)}}"#
                    ).body)
                return (object["choices"] as? [[String: Any]])?.first?["text"] as? String
            }
            let forced = try await completionText(#""\#(paris)": 100"#)
            #expect(forced == loaded.tokenizer.decode([paris, paris, paris]))
            let free = try await completionText("")
            let first = loaded.tokenizer.encode(free ?? "")[0]
            let banned = try await completionText(#""\#(first)": -100"#)
            #expect(
                banned != nil && loaded.tokenizer.encode(banned ?? "").first != first, "\(free ?? "") / \(banned ?? "")"
            )
        }
    }

    @Test func errorsUseOpenAIsObjectAndStatus() async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        var configuration = ServerConfiguration()
        configuration.context = 1024
        configuration.maxBodyBytes = 8192
        configuration.maxConcurrent = 1
        configuration.maxQueue = 0
        configuration.apiKey = "sekret"
        try await LiveServer.with(loaded, configuration: configuration) { live in
            let key = ["Authorization": "Bearer sekret"]
            func expectError(
                _ path: String, _ body: String?, status: Int, param: String? = nil, headers: [String: String]? = nil,
                _ comment: String
            ) async throws {
                let response = try await live.send(
                    body == nil ? "GET" : "POST", path, json: body, headers: headers ?? key)
                #expect(response.status == status, "\(comment): \(String(decoding: response.body, as: UTF8.self))")
                let error = try LiveServer.error(response.body)
                #expect(error["message"] is String && error["type"] is String, "\(comment)")
                if let param { #expect(error["param"] as? String == param, "\(comment)") }
            }
            try await expectError("v1/models", nil, status: 401, headers: [:], "no key")
            try await expectError(
                "v1/models", nil, status: 401, headers: ["Authorization": "Bearer wrong"], "wrong key")
            #expect(try await live.send("GET", "v1/models", headers: key).status == 200)
            #expect(try await live.send("GET", "health").status == 200, "health needs no key")
            // The router ignores empty segments: "//v1/models" is /v1/models and needs the key too.
            for path in ["/v1/models", "//v1/chat/completions", "/./v1/models"] {
                try await expectError(path, nil, status: 401, headers: [:], "no key on \(path)")
            }
            try await expectError("v1/chat/completions", "{not json", status: 400, "malformed JSON")
            try await expectError(
                "v1/chat/completions", #"{"model": "x", "messages": "hi"}"#, status: 400, param: "messages",
                "wrong type")
            try await expectError(
                "v1/chat/completions", #"{"messages": []}"#, status: 400, param: "model", "missing model")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: #", "temperature": "hot""#),
                status: 400, param: "temperature", "temperature as a string")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: #", "max_tokens": 100000"#),
                status: 400, param: "max_tokens", "over --max-tokens-limit")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: #", "top_p": 7"#),
                status: 400, param: "top_p", "top_p out of range")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat("nobody", "hi"), status: 404, param: "model", "unknown model"
            )
            // Options this server does not implement are refused by name, not answered as if honoured.
            for (extra, param) in [
                (#", "logprobs": true"#, "logprobs"),
                (#", "tools": [{"type": "function"}]"#, "tools"),
                (#", "response_format": {"type": "json_object"}"#, "response_format"),
            ] {
                try await expectError(
                    "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: extra), status: 400,
                    param: param, param)
            }
            // logit_bias keys are token ids of this model; biases lie in [-100, 100] as in OpenAI's API.
            for (bias, param) in [
                (#"{"abc": 5}"#, "logit_bias"), (#"{"-1": 5}"#, "logit_bias"), (#"{"49152": 5}"#, "logit_bias"),
                (#"{"42": 101}"#, "logit_bias"), (#"{"42": "x"}"#, "logit_bias[42]"),
            ] {
                try await expectError(
                    "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: #", "logit_bias": \#(bias)"#),
                    status: 400, param: param, bias)
            }
            for (extra, param) in [(#""echo": true"#, "echo"), (#""best_of": 3"#, "best_of")] {
                try await expectError(
                    "v1/completions", #"{"model": "\#(loaded.name)", "prompt": "x", \#(extra)}"#, status: 400,
                    param: param, param)
            }
            try await expectError(
                "v1/chat/completions", #"{"model": "x", "messages": [{"role": "wizard", "content": "hi"}]}"#,
                status: 400, param: "messages[0].role", "unknown role")
            try await expectError(
                "v1/chat/completions", #"{"model": "x", "messages": [{"role": "user"}]}"#, status: 400,
                param: "messages[0].content", "no content")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: #", "max_tokens": 1.5"#),
                status: 400, "a fraction for an integer")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat(loaded.name, String(repeating: "word ", count: 1100)),
                status: 400, "prompt over the context")
            let big = ServerAPITests.chat(loaded.name, String(repeating: "x", count: 10000))
            try await expectError("v1/chat/completions", big, status: 413, "body over the limit")
            try await expectError("v1/nowhere", nil, status: 404, "unknown route")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: #", "presence_penalty": 2.5"#),
                status: 400, param: "presence_penalty", "a penalty outside OpenAI's [-2, 2]")
            try await expectError(
                "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: #", "frequency_penalty": -3"#),
                status: 400, param: "frequency_penalty", "a penalty outside OpenAI's [-2, 2]")
            // Another site's page may post text/plain or a form to a local server without asking.
            for type in ["text/plain", "application/x-www-form-urlencoded"] {
                try await expectError(
                    "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi"), status: 415,
                    headers: key.merging(["Content-Type": type]) { $1 }, type)
            }
            let charset = try await live.send(
                "POST", "v1/chat/completions",
                json: ServerAPITests.chat(loaded.name, "hi", extra: #", "max_tokens": 1"#),
                headers: key.merging(["Content-Type": "Application/JSON; charset=utf-8"]) { $1 })
            #expect(charset.status == 200, "JSON with a charset parameter")
            // The scheme of Authorization is case-insensitive (RFC 9110).
            #expect(try await live.send("GET", "v1/models", headers: ["Authorization": "bearer sekret"]).status == 200)
            try await expectError(
                "v1/models", nil, status: 401, headers: ["Authorization": "Bearer sekret2"], "a longer key")
            try await expectError("v1/models", nil, status: 401, headers: ["Authorization": "Bearer"], "no key")
            // A known path asked with another method is 405 with Allow; GET /v1/models/{id}.
            let wrongMethod = try await live.send("GET", "v1/chat/completions", headers: key)
            #expect(wrongMethod.status == 405 && wrongMethod.headers["Allow"] == "POST")
            let deleteModels = try await live.send("DELETE", "v1/models", headers: key)
            #expect(deleteModels.status == 405 && deleteModels.headers["Allow"] == "GET")
            let one = try LiveServer.object(try await live.send("GET", "v1/models/\(loaded.name)", headers: key).body)
            #expect(one["id"] as? String == loaded.name && one["object"] as? String == "model")
            try await expectError("v1/models/nobody", nil, status: 404, param: "model", "unknown model id")
            // Fields named precisely: an integer that is not, a string or a list, bad text.
            for (extra, param) in [
                (#", "max_tokens": 2.5"#, "max_tokens"), (#", "seed": 1e30"#, "seed"), (#", "top_k": 1.5"#, "top_k"),
                (#", "n": 1.5"#, "n"), (#", "max_tokens": 1, "max_tokens": 2"#, "max_tokens"),
                (#", "temperature": 0.5, "top_p": 0.5, "max_tokens": 3.5"#, "max_tokens"),
                (#", "max_completion_tokens": 0"#, "max_completion_tokens"), (#", "stop": 5"#, "stop"),
                (#", "temperature": 2.5"#, "temperature"),
                (#", "stream": true, "stream_options": {"include_usage": "yes"}"#, "stream_options.include_usage"),
            ] {
                try await expectError(
                    "v1/chat/completions", ServerAPITests.chat(loaded.name, "hi", extra: extra), status: 400,
                    param: param, extra)
            }
            let listOrString = try await live.send(
                "POST", "v1/chat/completions", json: #"{"model": "x", "messages": [{"role": "user", "content": 5}]}"#,
                headers: key)
            #expect(String(decoding: listOrString.body, as: UTF8.self).contains("should be a string or a list"))
            try await expectError(
                "v1/chat/completions",
                #"{"model": "x", "messages": [{"role": "user", "content": [{"type": "text"}]}]}"#, status: 400,
                param: "messages[0].content[0].text", "a text part without text")
            try await expectError(
                "v1/chat/completions", #"{"model": "x", "messages": [{"role": "user", "content": "\ud800x"}]}"#,
                status: 400, "a lone surrogate")
            let latin1 = try await live.send(
                "POST", "v1/chat/completions",
                body: Data(#"{"model": "x", "messages": [{"role": "user", "content": "ab"#.utf8) + [0xFF, 0xFE]
                    + Data(#""}]}"#.utf8), headers: key.merging(["Content-Type": "application/json"]) { $1 })
            #expect(
                String(decoding: latin1.body, as: UTF8.self).contains("not valid UTF-8"), "bytes that are not UTF-8")
            try await expectError(
                "v1/completions",
                #"{"model": "\#(loaded.name)", "prompt": "\#(String(repeating: "word ", count: 1100))"}"#,
                status: 400, param: "prompt", "a completion prompt over the context")
            let developer = try await live.send(
                "POST", "v1/chat/completions",
                json:
                    #"{"model": "\#(loaded.name)", "max_tokens": 1, "messages": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}]}"#,
                headers: key)
            #expect(developer.status == 200, "OpenAI's developer role is the system role")

            // One slot and no queue: a second request while one decodes is told to retry.
            // The long request asks for 500 tokens with the end tokens banned: seconds of decoding.
            let long = Task {
                try await live.send(
                    "POST", "v1/chat/completions",
                    json: ServerAPITests.chat(
                        loaded.name, "Tell me a long story.",
                        extra: #", "max_tokens": 500, \#(Fixtures.smolLM2NoEndBias)"#),
                    headers: key)
            }
            var busy: (status: Int, headers: [String: String], body: Data)?
            for _ in 0..<2000 where busy == nil {
                try await Task.sleep(for: .milliseconds(5))
                let attempt = try await live.send(
                    "POST", "v1/chat/completions",
                    json: ServerAPITests.chat(loaded.name, "hi", extra: #", "max_tokens": 1"#),
                    headers: key)
                if attempt.status == 429 { busy = attempt }
            }
            #expect(busy != nil, "a request beyond --max-concurrent and --max-queue gets 429")
            #expect(busy?.headers["Retry-After"] == "1")
            let first = try await long.value
            #expect(first.status == 200, "\(String(decoding: first.body, as: UTF8.self))")

            // Garbage of every kind never brings the server down.
            var random = SystemRandomNumberGenerator()
            for path in ["v1/chat/completions", "v1/completions", "v1/adapters"] {
                for _ in 0..<20 {
                    let bytes = (0..<Int.random(in: 0..<300, using: &random)).map { _ in
                        UInt8.random(in: 0...255, using: &random)
                    }
                    let response = try await live.send("POST", path, body: Data(bytes), headers: key)
                    #expect((400..<500).contains(response.status), "\(path): \(response.status)")
                }
            }
            #expect(try await live.send("GET", "health").status == 200)
        }
    }

    @Test(arguments: [true, false]) func aClientThatHangsUpCancelsItsSequence(streaming: Bool) async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        try await LiveServer.with(loaded) { live in
            // curl asks for a 500-token reply and hangs up after a second.
            let body = ServerAPITests.chat(
                loaded.name, "Tell me a long story.",
                extra: #", "max_tokens": 500, \#(Fixtures.smolLM2NoEndBias), "stream": \#(streaming)"#)
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            curl.arguments = [
                "curl", "-sN", "--max-time", "1",
                live.base.appendingPathComponent("v1/chat/completions").absoluteString,
                "-H", "Content-Type: application/json", "-d", body,
            ]
            curl.standardOutput = FileHandle.nullDevice
            try curl.run()
            curl.waitUntilExit()
            let batch = live.server.batch
            let deadline = Date().addingTimeInterval(60)
            while batch.load.running > 0, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(batch.load.running == 0)
            #expect(batch.load.steps < 480, "decoding stopped when the client left (steps: \(batch.load.steps))")
        }
    }

    @Test func aRequestPastItsTimeoutSaysSo() async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        var configuration = ServerConfiguration()
        configuration.requestTimeout = 0.5
        try await LiveServer.with(loaded, configuration: configuration) { live in
            let reply = try LiveServer.object(
                try await live.send(
                    "POST", "v1/chat/completions",
                    json: ServerAPITests.chat(
                        loaded.name, "Tell me a long story.",
                        extra: #", "max_tokens": 500, \#(Fixtures.smolLM2NoEndBias)"#)
                ).body)
            let choice = (reply["choices"] as? [[String: Any]])?.first
            let tokens = (reply["usage"] as? [String: Int])?["completion_tokens"] ?? 500
            #expect(choice?["finish_reason"] as? String == "timeout", "not 'length': max_tokens was not reached")
            #expect(tokens < 500)
        }
    }

    @Test func adaptersLoadAtRunTimeOnlyFromInsideTheAdapterDirectory() async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("swiftlora-adapters-\(getpid())")
        let outside = fm.temporaryDirectory.appendingPathComponent("swiftlora-outside-\(getpid())")
        try? fm.removeItem(at: root)
        try? fm.removeItem(at: outside)
        defer {
            try? fm.removeItem(at: root)
            try? fm.removeItem(at: outside)
        }
        try fm.createDirectory(at: root.appendingPathComponent("team"), withIntermediateDirectories: true)
        try fm.copyItem(at: Fixtures.url("smollm2/peft-adapter-qv"), to: root.appendingPathComponent("team/qv"))
        try fm.copyItem(at: Fixtures.url("smollm2/peft-adapter-qv"), to: outside)
        try fm.createSymbolicLink(at: root.appendingPathComponent("escape"), withDestinationURL: outside)
        var configuration = ServerConfiguration()
        configuration.adapterDirectory = root
        try await LiveServer.with(loaded, configuration: configuration) { live in
            func load(_ name: String, _ path: String) async throws -> Int {
                try await live.send("POST", "v1/adapters", json: #"{"name": "\#(name)", "path": "\#(path)"}"#).status
            }
            #expect(try await load("a", "../swiftlora-outside-\(getpid())") == 400)
            #expect(try await load("a", outside.path) == 400)
            #expect(try await load("a", "escape") == 400)
            #expect(try await load("a", "team/missing") == 400)
            // Errors tell paths relative to the adapter directory, and "." is not an adapter folder.
            let missing = try await live.send(
                "POST", "v1/adapters", json: #"{"name": "a", "path": "team/missing"}"#)
            let missingText =
                (try LiveServer.object(missing.body)["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect(missingText.contains("team/missing/adapter_config.json: no such file"), "\(missingText)")
            #expect(!missingText.contains(root.path) && missingText.contains("team/missing"), "\(missingText)")
            let itself = try await live.send("POST", "v1/adapters", json: #"{"name": "a", "path": "."}"#)
            #expect(String(decoding: itself.body, as: UTF8.self).contains("the adapter directory itself"))
            #expect(try await load("bad name", "team/qv") == 400)
            #expect(try await load("a", "team/qv") == 201)
            #expect(try await load("a", "team/qv") == 400, "the name is taken")
            let models = try LiveServer.object(try await live.send("GET", "v1/models").body)
            #expect((models["data"] as? [[String: Any]])?.contains { $0["id"] as? String == "a" } == true)
            let used = try await live.send(
                "POST", "v1/chat/completions", json: ServerAPITests.chat("a", "hi", extra: #", "max_tokens": 3"#))
            #expect(used.status == 200)
            #expect(try await live.send("DELETE", "v1/adapters/a").status == 200)
            #expect(try await live.send("DELETE", "v1/adapters/a").status == 404)
            let gone = try await live.send(
                "POST", "v1/chat/completions", json: ServerAPITests.chat("a", "hi", extra: #", "max_tokens": 3"#))
            #expect(gone.status == 404)
        }
    }

    @Test func runsListAndMetricsForTheDashboard() async throws {
        guard let url = try Fixtures.smolLM2GGUF() else { return }
        let loaded = try ModelLoader.load(path: url.path)
        let fm = FileManager.default
        let runs = fm.temporaryDirectory.appendingPathComponent("swiftlora-runs-\(getpid())")
        try? fm.removeItem(at: runs)
        defer { try? fm.removeItem(at: runs) }
        try fm.createDirectory(at: runs.appendingPathComponent("first"), withIntermediateDirectories: true)
        try fm.createDirectory(at: runs.appendingPathComponent("not-a-run"), withIntermediateDirectories: true)
        try Data(
            """
            {"step": 1, "epoch": 0.1, "loss": 2.5, "learning_rate": 0.0001}
            {"step": 2, "epoch": 0.2, "loss": 2.1, "eval_loss": 2.3, "learning_rate": 0.0002}
            {"step": 3, "ep
            """.utf8
        ).write(to: runs.appendingPathComponent("first/metrics.jsonl"))
        var configuration = ServerConfiguration()
        configuration.runsDirectory = runs
        try await LiveServer.with(loaded, configuration: configuration) { live in
            let list = try LiveServer.object(try await live.send("GET", "v1/runs").body)
            #expect((list["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ["first"])
            let metrics = try LiveServer.object(try await live.send("GET", "v1/runs/first/metrics").body)
            let records = metrics["records"] as? [[String: Any]] ?? []
            #expect(records.count == 2, "a half-written last line is skipped")
            #expect(records.last?["eval_loss"] as? Double == 2.3)
            #expect(try await live.send("GET", "v1/runs/not-a-run/metrics").status == 404)
            #expect(try await live.send("GET", "v1/runs/..%2F..%2Fetc/metrics").status == 404)
            // A run whose folder name needs escaping in a URL, as the page sends it.
            try fm.copyItem(at: runs.appendingPathComponent("first"), to: runs.appendingPathComponent("my run #2"))
            let spaced = try await live.send("GET", "v1/runs/my%20run%20%232/metrics")
            #expect(spaced.status == 200, "\(String(decoding: spaced.body, as: UTF8.self))")
        }
        // A run folder given directly: the run goes by the folder's name.
        configuration.runsDirectory = runs.appendingPathComponent("first")
        try await LiveServer.with(loaded, configuration: configuration) { live in
            let list = try LiveServer.object(try await live.send("GET", "v1/runs").body)
            #expect((list["data"] as? [[String: Any]])?.map { $0["id"] as? String } == ["first"])
            #expect(try await live.send("GET", "v1/runs/first/metrics").status == 200)
        }
    }
}
