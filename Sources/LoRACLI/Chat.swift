import ArgumentParser
import Foundation
import Generation
import Models
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
        try adapters.attach(to: loaded)
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
            guard let line = readLine() else { break }
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
                let result = try generator.generate(promptIDs: ids, parameters: parameters) { delta in
                    FileHandle.standardOutput.write(Data(delta.utf8))
                    return true
                }
                // Unbuffered like the reply, so piped output keeps each reply on its own line.
                FileHandle.standardOutput.write(Data("\n".utf8))
                messages.append(ChatMessage(role: "assistant", content: result.text))
            } catch {
                // One turn failing (a message past the context) drops that message, not the session.
                messages.removeLast()
                log("error: \(error); the message was dropped (/reset clears the conversation)")
            }
        }
    }
}
