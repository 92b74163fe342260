import ArgumentParser
import Foundation
import Generation
import Models
import Tokenizers

/// `lora generate`: one prompt in, a streamed continuation out.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a continuation of a prompt (streamed to stdout; logs on stderr).")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var adapters: AdapterOptions

    @Option(name: .long, help: "The prompt text.")
    var prompt: String

    @Flag(name: .long, help: "Wrap the prompt as one user message in the model's chat template.")
    var chat = false

    @Option(name: .long, help: "A system message (with --chat).")
    var system: String?

    @Flag(name: .long, help: "Print one JSON object {prompt_ids, ids, text} instead of streaming text.")
    var json = false

    func run() throws {
        let loaded = try modelOptions.load()
        try adapters.attach(to: loaded)
        let promptIDs: [Int]
        if chat {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            promptIDs = try loaded.chatPromptIDs(messages)
        } else {
            if system != nil { throw ValidationError("--system needs --chat") }
            promptIDs = loaded.promptIDs(prompt)
        }
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
        let result = try generator.generate(promptIDs: promptIDs, parameters: sampling.parameters) { delta in
            if !json {
                FileHandle.standardOutput.write(Data(delta.utf8))
            }
            return true
        }
        if json {
            let object = GenerateOutput(promptIDs: result.promptIDs, ids: result.ids, text: result.text)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(object), as: UTF8.self))
        } else {
            print()
        }
        let decodeRate = Double(max(result.ids.count - 1, 0)) / max(result.generationSeconds, 1e-9)
        log(
            String(
                format: "prompt %d tokens in %.2fs, generated %d tokens (%.1f tokens/s), finish: %@",
                result.promptIDs.count, result.promptSeconds, result.ids.count, decodeRate,
                result.finishReason.rawValue))
    }
}

/// `--json` output, keys as the CLI contract names them.
struct GenerateOutput: Encodable {
    var promptIDs: [Int]
    var ids: [Int]
    var text: String

    enum CodingKeys: String, CodingKey {
        case promptIDs = "prompt_ids"
        case ids
        case text
    }
}
