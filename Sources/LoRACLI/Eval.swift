import ArgumentParser
import Foundation
import Training

/// `lora eval`: loss and perplexity of a model (and adapters) on a data file.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mean loss over the learned tokens of a data file, and perplexity.")

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var adapters: AdapterOptions

    @Option(help: "A JSON array or JSONL file (same formats as train).") var data: String
    @Option(help: "Row format: auto, alpaca, chat, prompt-completion, text.") var format: String = "auto"
    @Option(help: "Rename fields, e.g. input=input_text,output=target_text.") var fieldMap: String?
    @Flag(help: "Score the prompt tokens too (as train --train-on-prompt learns them).") var trainOnPrompt = false
    @Option(help: "Prompt style: chat or alpaca.") var template: String = "chat"
    @Option(help: "Longer sequences are truncated.") var maxSeqLen: Int = 512
    @Flag(help: "Print one JSON object {loss, perplexity, tokens}.") var json = false

    func run() throws {
        guard let style = ExampleEncoder.PromptStyle(rawValue: template) else {
            throw CLIError("--template '\(template)' is not known (chat, alpaca)")
        }
        guard maxSeqLen >= 2 else {
            throw CLIError("--max-seq-len must be at least 2 (a token to score after one), not \(maxSeqLen)")
        }
        guard let datasetFormat = DatasetFormat(rawValue: format) else {
            throw CLIError(
                "--format '\(format)' is not known (\(DatasetFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let map = try parseFieldMap(fieldMap)
        let loaded = try modelOptions.load()
        try adapters.attach(to: loaded)
        let rows = try DatasetReader.read(URL(fileURLWithPath: data), name: data, format: datasetFormat, fieldMap: map)
        let encoder = ExampleEncoder(
            tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate,
            options: .init(style: style, trainOnPrompt: trainOnPrompt, maxSequenceLength: maxSeqLen))
        let (examples, summary) = try encoder.encode(rows, file: data)
        log(summary.line(file: data, maxSeqLen: maxSeqLen, learned: false))
        let result: Evaluation
        do {
            result = try Evaluation.run(loaded.model, on: examples)
        } catch let error as Evaluation.NothingToScore {
            throw CLIError("\(data): \(error)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print(
                String(format: "loss %.4f  perplexity %.2f  tokens %d", result.loss, result.perplexity, result.tokens))
        }
    }
}
