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
    var prompt: String?

    @Option(name: .long, help: "A UTF-8 file whose whole contents are the prompt ('-' reads standard input).")
    var promptFile: String?

    @Flag(name: .long, help: "Wrap the prompt as one user message in the model's chat template.")
    var chat = false

    @Option(name: .long, help: "A system message (with --chat).")
    var system: String?

    @Flag(name: .long, help: "Print one JSON object {prompt_ids, ids, text} instead of streaming text.")
    var json = false

    func validate() throws {
        guard (prompt == nil) != (promptFile == nil) else {
            throw ValidationError("give exactly one of --prompt or --prompt-file")
        }
        if system != nil && !chat { throw ValidationError("--system needs --chat") }
    }

    /// The prompt: `--prompt`, or the contents of `--prompt-file` (standard input for '-').
    func promptText() throws -> String {
        if let prompt { return prompt }
        let file = promptFile ?? "-"
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw CLIError("--prompt-file \(file): cannot read file")
            }
            data = contents
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw CLIError("--prompt-file \(file == "-" ? "- (standard input)" : file): not valid UTF-8")
        }
        return text
    }

    func run() throws {
        let prompt = try promptText()
        let loaded = try modelOptions.load()
        try adapters.attach(to: loaded)
        let promptIDs: [Int]
        if chat {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            promptIDs = try loaded.chatPromptIDs(messages)
        } else {
            promptIDs = loaded.promptIDs(prompt)
        }
        let generator = Generator(model: loaded.model, tokenizer: loaded.tokenizer)
        var wroteText = false
        let result = try generator.generate(promptIDs: promptIDs, parameters: sampling.parameters) { delta in
            if !json && !delta.isEmpty {
                FileHandle.standardOutput.write(Data(delta.utf8))
                wroteText = true
            }
            return true
        }
        // Written unbuffered like the text, so the line ends before the summary on stderr.
        if json {
            let object = GenerateOutput(promptIDs: result.promptIDs, ids: result.ids, text: result.text)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(object) + Data("\n".utf8))
        } else if wroteText {
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
        log(Self.summary(result))
    }

    /// `prompt 9 tokens in 0.05s, generated 40 tokens (83.9 tokens/s), finish: length`; the rate
    /// counts the tokens after the first (which the prompt's pass yields), so it needs two.
    static func summary(_ result: GenerationResult) -> String {
        let count = result.ids.count
        let rate =
            count > 1
            ? String(format: " (%.1f tokens/s)", Double(count - 1) / max(result.generationSeconds, 1e-9)) : ""
        return String(
            format: "prompt %d tokens in %.2fs, generated %d token%@%@, finish: %@", result.promptIDs.count,
            result.promptSeconds, count, count == 1 ? "" : "s", rate, result.finishReason.rawValue)
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
