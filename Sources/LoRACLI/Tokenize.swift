import ArgumentParser
import Foundation
import Models

/// `lora tokenize`: prints the ids of a text as a JSON array (no special tokens added).
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text as a JSON array (no special tokens added).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "The text to tokenize.")
    var text: String?

    @Option(name: .long, help: "A file whose whole contents (UTF-8) are tokenized.")
    var file: String?

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give exactly one of --text or --file") }
    }

    func run() throws {
        let input: String
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw CLIError("\(file): cannot read file")
            }
            guard String(data: data, encoding: .utf8) != nil else { throw CLIError("\(file): not valid UTF-8") }
            // Decoded as is: a byte order mark is text, as transformers' encode sees it.
            input = String(decoding: data, as: UTF8.self)
        } else {
            input = text ?? ""
        }
        let tokenizer = try ModelLoader.loadTokenizer(path: modelOptions.model)
        let ids = tokenizer.encode(input, addSpecialTokens: false)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
    }
}

/// A one-line error for the user.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
