import Tokenizers

/// One training row, whatever its file format.
public enum TrainingExample: Sendable, Equatable {
    /// A conversation; the loss falls on the assistant turns.
    case chat([ChatMessage])
    /// A prompt and the completion to learn (the loss falls on the completion).
    case promptCompletion(prompt: String, completion: String)
    /// Plain text, all of it learned.
    case text(String)
    /// An Alpaca row kept as such, for the classic Alpaca prompt (`--template alpaca`).
    case alpaca(instruction: String, input: String, output: String)
}

extension TrainingExample {
    /// The row format's name as errors spell it.
    var formatName: String {
        switch self {
        case .chat: "'messages'"
        case .promptCompletion: "prompt/completion"
        case .text: "'text'"
        case .alpaca: "alpaca"
        }
    }
}

/// The row formats a data file can have.
public enum DatasetFormat: String, Sendable, CaseIterable {
    /// Detected per file from the first row's fields.
    case auto
    /// `instruction`, `input`, `output` (all required; `input` may be empty).
    case alpaca
    /// `messages`: [{role, content}].
    case chat
    /// `prompt`, `completion`.
    case promptCompletion = "prompt-completion"
    /// `text`.
    case text
}

/// A row with where it came from.
public struct DatasetRow: Sendable, Equatable {
    public var example: TrainingExample
    public var line: Int
}

extension DatasetFormat {
    /// The fields of a row of this format, by the names a field map renames (`auto`: of every format).
    var fields: [String] {
        switch self {
        case .auto: [Self.alpaca, .chat, .promptCompletion, .text].flatMap(\.fields)
        case .alpaca: ["instruction", "input", "output"]
        case .chat: ["messages"]
        case .promptCompletion: ["prompt", "completion"]
        case .text: ["text"]
        }
    }

    /// "an alpaca", "a chat", … for messages.
    var withArticle: String { (rawValue.first.map { "aeiou".contains($0) } == true ? "an " : "a ") + rawValue }
}
