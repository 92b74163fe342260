import Foundation
import Testing
import TestSupport

/// An adapter trained by `lora train` loads in PEFT (the real library) and gives the same greedy
/// ids as `lora generate`. Runs when the Python reference stack is installed
/// (`../shared/bench/setup-python-peers.sh`; `SWIFTLORA_PEERS_PYTHON` names its python).
@Suite struct PEFTInteropTests {
    static var python: String? {
        let candidates = [
            ProcessInfo.processInfo.environment["SWIFTLORA_PEERS_PYTHON"],
            NSHomeDirectory() + "/.cache/swiftlora-peers/venv/bin/python",
        ]
        return candidates.compactMap { $0 }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(.enabled(if: python != nil, "needs the Python reference stack (torch, transformers, peft)"))
    func peftLoadsOurAdapterAndAgreesOnGreedyIDs() throws {
        guard let gguf = try Fixtures.smolLM2GGUF(), let python = Self.python else { return }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-peft-\(getpid())")
        try? FileManager.default.removeItem(at: out)
        defer { try? FileManager.default.removeItem(at: out) }
        let train = try Lora.run([
            "train", "--model", gguf.path, "--data", Fixtures.url("../data/instruct/identity.json").path,
            "--out", out.path, "--targets", "all-linear", "--max-steps", "3", "--learning-rate", "1e-3",
            "--batch-size", "2",
        ])
        #expect(train.status == 0, "\(train.stderr)")
        let adapter = out.appendingPathComponent("adapter").path
        let ours = try Lora.run([
            "generate", "--model", gguf.path, "--adapter", adapter, "--chat", "--prompt", "Who are you?",
            "--temperature", "0", "--max-tokens", "24", "--json",
        ])
        #expect(ours.status == 0, "\(ours.stderr)")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            Fixtures.url("../bench/peft_check_adapter.py").path, "--gguf", gguf.path, "--adapter", adapter,
            "--prompt", "Who are you?", "--max-tokens", "24",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        struct Result: Decodable {
            var ids: [Int]
            var prompt_ids: [Int]
        }
        let peft = try JSONDecoder().decode(Result.self, from: data)
        let swift = try JSONDecoder().decode(Result.self, from: Data(ours.stdout.utf8))
        #expect(peft.prompt_ids == swift.prompt_ids)
        #expect(peft.ids == swift.ids, "PEFT: \(peft.ids)\nours: \(swift.ids)")
    }
}
