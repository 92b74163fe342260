import Foundation
import Testing
import TestSupport

/// `lora serve` as a user runs it: the binary on a free port, and the README's curl examples.
@Suite struct ServeCommandTests {
    /// A running `lora serve`; stopped when released.
    final class Server {
        let process = Process()
        let base: String
        let errors = Pipe()

        init(_ arguments: [String]) throws {
            process.executableURL = Lora.executable
            process.arguments = ["serve", "--port", "0"] + arguments
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // The log line that says where it listens: "serving NAME on http://127.0.0.1:PORT (...)".
            var seen = ""
            let deadline = Date().addingTimeInterval(60)
            while !seen.contains("serving "), Date() < deadline, process.isRunning {
                seen += String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
            }
            guard let range = seen.range(of: #"http://127\.0\.0\.1:\d+"#, options: .regularExpression) else {
                process.terminate()
                throw FixtureError.missing("lora serve did not start: \(seen)")
            }
            base = String(seen[range])
        }

        deinit {
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// The README's `curl` examples (the Serving section's sh block), one command each.
    static func readmeCurlCommands() throws -> [String] {
        let readme = try String(
            contentsOf: Fixtures.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        guard let section = readme.components(separatedBy: "## Serving").dropFirst().first,
            let block = section.components(separatedBy: "```sh\n").dropFirst().first?.components(separatedBy: "```")
                .first
        else { return [] }
        return block.replacingOccurrences(of: "\\\n", with: " ").split(separator: "\n").map(String.init)
            .filter { $0.hasPrefix("curl ") }
    }

    static func shell(_ command: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func readmeCurlExamplesWork() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let commands = try Self.readmeCurlCommands()
        #expect(commands.count == 4)
        let server = try Server([
            "--model", gguf.path, "--adapter", "sec=" + Fixtures.url("smollm2/peft-adapter-qv").path,
        ])
        for command in commands {
            let live = command.replacingOccurrences(of: "http://127.0.0.1:8080", with: server.base)
            let (status, output) = try Self.shell(live)
            #expect(status == 0, "\(command)\n\(output)")
            if command.contains("\"stream\": true") {
                #expect(output.hasSuffix("data: [DONE]\n\n"), "\(output)")
            } else {
                let object = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
                #expect(object?["object"] != nil, "\(output)")
            }
        }
        // The request log: one line per request with method, path, adapter, status, tokens, ms.
        server.process.terminate()
        server.process.waitUntilExit()
        let log = String(decoding: server.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(log.contains("POST /v1/chat/completions adapter=sec status=200 tokens="), "\(log)")
    }

    @Test func aSignalEndsGenerationsInFlightAndTheServerExits() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let server = try Server(["--model", gguf.path])
        // A long streamed reply (500 tokens: tens of seconds), then SIGTERM once it streams. The
        // model's end tokens are banned, so a sampled early end cannot finish the reply before the signal.
        let body =
            #"{"model": "x", "messages": [{"role": "user", "content": "Tell me a long story."}], "max_tokens": 500, \#(Fixtures.smolLM2NoEndBias), "stream": true}"#
        let model = try Self.shell("curl -sf \(server.base)/v1/models").output
        let name =
            ((try JSONSerialization.jsonObject(with: Data(model.utf8)) as? [String: Any])?["data"]
            as? [[String: Any]])?.first?["id"] as? String ?? ""
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = [
            "curl", "-sN", "\(server.base)/v1/chat/completions", "-H", "Content-Type: application/json", "-d",
            body.replacingOccurrences(of: #""model": "x""#, with: #""model": "\#(name)""#),
        ]
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        // Signal once a few tokens have streamed.
        var received = Data()
        while String(decoding: received, as: UTF8.self).components(separatedBy: "data: ").count <= 4 {
            let more = out.fileHandleForReading.availableData
            if more.isEmpty { break }
            received += more
        }
        let signalled = Date()
        server.process.terminate()
        server.process.waitUntilExit()
        let stopping = Date().timeIntervalSince(signalled)
        curl.waitUntilExit()
        let streamed = String(decoding: received + out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stopping < 15, "the server exited \(stopping) s after SIGTERM")
        #expect(streamed.contains(#""finish_reason":"cancelled""#), "\(streamed.suffix(300))")
    }

    @Test func aClientThatHangsUpIsLoggedAs499() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let server = try Server(["--model", gguf.path])
        // Long replies (end tokens banned) that curl gives up on after a second, streaming and not.
        for stream in [false, true] {
            let body =
                #"{"model": "", "prompt": "Once upon a time", "max_tokens": 500, \#(Fixtures.smolLM2NoEndBias), "stream": \#(stream)}"#
            _ = try Self.shell(
                "curl -s --max-time 1 \(server.base)/v1/completions -H 'Content-Type: application/json' -d '\(body)'")
        }
        Thread.sleep(forTimeInterval: 0.5)
        server.process.terminate()
        server.process.waitUntilExit()
        let log = String(decoding: server.errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let lines = log.split(separator: "\n").filter { $0.contains("POST /v1/completions") }
        #expect(lines.count == 2 && lines.allSatisfy { $0.contains("status=499 tokens=-") }, "\(log)")
    }

    @Test func badSettingsStopTheServerWithOneLine() throws {
        guard let gguf = try Fixtures.smolLM2GGUF() else { return }
        let missing = try Lora.run(["serve", "--model", gguf.path, "--adapter", "x=/nonexistent/adapter"])
        #expect(missing.status != 0 && missing.stderr.contains("error: --adapter x=/nonexistent/adapter"))
        let noName = try Lora.run(["serve", "--model", gguf.path, "--adapter", "/some/dir"])
        #expect(noName.status != 0 && noName.stderr.contains("NAME=DIR"))
        let runs = try Lora.run(["serve", "--model", gguf.path, "--runs", "/nonexistent/runs"])
        #expect(runs.status != 0 && runs.stderr.contains("--runs /nonexistent/runs"))
        let twice = try Lora.run(["serve", "--model", gguf.path, "--adapter", "a=/x", "--adapter", "a=/y"])
        #expect(twice.status != 0 && twice.stderr.contains("the name 'a' is given twice"), "\(twice.stderr)")
        let weighted = try Lora.run(["serve", "--model", gguf.path, "--adapter", "a=/x:0.5"])
        #expect(weighted.status != 0 && weighted.stderr.contains("without a weight"), "\(weighted.stderr)")
        let longContext = try Lora.run(["serve", "--model", gguf.path, "--ctx", "100000"])
        #expect(
            longContext.status != 0 && longContext.stderr.contains("--ctx 100000 is over the model's context of 8192"),
            "\(longContext.stderr)")
        let badHost = try Lora.run(["serve", "--model", gguf.path, "--port", "0", "--host", "no-such-host.invalid"])
        #expect(
            badHost.status != 0 && badHost.stderr.hasPrefix("error: --host no-such-host.invalid:"), "\(badHost.stderr)")
        // A port another server holds is named, not reported as bind()'s errno.
        let holder = try Server(["--model", gguf.path])
        let port = String(holder.base.split(separator: ":").last ?? "")
        let taken = try Lora.run(["serve", "--model", gguf.path, "--port", port])
        #expect(taken.status != 0 && taken.stderr.contains("--port \(port): the port is in use"), "\(taken.stderr)")
    }
}
