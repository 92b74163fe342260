import ArgumentParser
import Foundation
import Generation
import Models
import Synchronization
import Tokenizers

/// `lora chat`: an interactive multi-turn conversation in the terminal.
struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model in the terminal (streaming; /reset clears, /quit or Ctrl-D ends).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var adapters: AdapterOptions

    @Option(name: .long, help: "A system message for the conversation.")
    var system: String?

    func run() throws {
        let loaded = try modelOptions.load()
        guard loaded.chatTemplate != nil else {
            throw CLIError(
                "\(modelOptions.model): the model has no chat template, which lora chat needs; "
                    + "lora generate --prompt continues plain text")
        }
        try adapters.attach(to: loaded)
        // Ctrl-C during a reply stops the reply; at the prompt it ends the session.
        let replying = ReplyState()
        let interrupt = SignalWatch([SIGINT]) { _ in
            guard replying.active.load(ordering: .sequentiallyConsistent) else {
                FileHandle.standardOutput.write(Data("\n".utf8))
                Foundation.exit(130)
            }
            replying.stopRequested.store(true, ordering: .sequentiallyConsistent)
        }
        defer { interrupt.cancel() }
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
        var messages: [ChatMessage] = []
        func reset() {
            messages = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        }
        reset()
        log("chatting with \(loaded.name); /reset clears the conversation, /quit or Ctrl-D ends")
        var turn = 0
        while true {
            FileHandle.standardOutput.write(Data("> ".utf8))
            guard let line = readLine() else {
                FileHandle.standardOutput.write(Data("\n".utf8))  // Ctrl-D leaves the prompt's line open
                break
            }
            let input = line.trimmingCharacters(in: .whitespaces)
            if input.isEmpty { continue }
            if input == "/quit" || input == "/exit" { break }
            if input == "/reset" {
                reset()
                log("(conversation cleared)")
                continue
            }
            if input.hasPrefix("/"), input.dropFirst().allSatisfy(\.isLetter) {
                log("unknown command \(input) (/reset, /quit)")
                continue
            }
            messages.append(ChatMessage(role: "user", content: input))
            var parameters = sampling.parameters
            parameters.seed = sampling.seed &+ UInt64(turn)
            turn += 1
            do {
                let ids = try loaded.chatPromptIDs(messages)
                replying.stopRequested.store(false, ordering: .sequentiallyConsistent)
                replying.active.store(true, ordering: .sequentiallyConsistent)
                defer { replying.active.store(false, ordering: .sequentiallyConsistent) }
                let result = try generator.generate(promptIDs: ids, parameters: parameters) { delta in
                    FileHandle.standardOutput.write(Data(delta.utf8))
                    return !replying.stopRequested.load(ordering: .sequentiallyConsistent)
                }
                // Unbuffered like the reply, so piped output keeps each reply on its own line.
                FileHandle.standardOutput.write(Data("\n".utf8))
                if replying.stopRequested.load(ordering: .sequentiallyConsistent) {
                    log("(reply stopped; it stays in the conversation)")
                }
                messages.append(ChatMessage(role: "assistant", content: result.text))
            } catch {
                // One turn failing (a message past the context) drops that message, not the session.
                messages.removeLast()
                log("error: \(error); the message was dropped (/reset clears the conversation)")
            }
        }
    }
}

/// Whether a reply is being generated, and whether Ctrl-C asked it to stop.
final class ReplyState: Sendable {
    let active = Atomic(false)
    let stopRequested = Atomic(false)
}
