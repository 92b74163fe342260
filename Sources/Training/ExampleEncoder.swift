import Tokenizers

/// Token ids and labels of one example; a label of `-100` is not learned (PyTorch's ignore index).
public struct EncodedExample: Sendable, Equatable {
    public var ids: [Int]
    public var labels: [Int]
    /// Positions whose label is not ignored, the first included (see ``targetCount``).
    public var labelledCount: Int { labels.reduce(0) { $0 + ($1 == EncodedExample.ignored ? 0 : 1) } }
    /// Tokens the loss predicts: labelled positions after the first (a causal LM predicts token
    /// t + 1 from tokens ...t, so nothing predicts the first). What the encoder counts as learned.
    public var targetCount: Int { labels.dropFirst().reduce(0) { $0 + ($1 == EncodedExample.ignored ? 0 : 1) } }
    public static let ignored = -100

    public init(ids: [Int], labels: [Int]) {
        self.ids = ids
        self.labels = labels
    }
}

/// Turns training rows into ids and loss masks.
///
/// Conversations (and Alpaca rows, as one user turn `instruction` + "\n\n" + `input` and one
/// assistant turn `output`) are rendered with the model's chat template; the loss falls on the
/// assistant turns, template tokens closing them included. `--template alpaca` uses the classic
/// Alpaca prompt instead, and refuses chat rows (their turns have no Alpaca form, and rendering
/// them with the chat template would ignore the choice). Prompt/completion and text rows are used
/// as they are under either style: neither template applies to them, so the choice changes nothing.
/// Rows longer than `maxSequenceLength` are truncated; rows left with no predicted token (see
/// ``EncodedExample/targetCount``) are skipped; each row is counted once, as kept (perhaps
/// truncated) or skipped.
public struct ExampleEncoder: Sendable {
    public enum PromptStyle: String, Sendable {
        case chatTemplate = "chat"
        case alpaca
    }

    public struct Options: Sendable {
        public var style: PromptStyle = .chatTemplate
        public var trainOnPrompt = false
        public var maxSequenceLength = 512
        public init(style: PromptStyle = .chatTemplate, trainOnPrompt: Bool = false, maxSequenceLength: Int = 512) {
            self.style = style
            self.trainOnPrompt = trainOnPrompt
            self.maxSequenceLength = maxSequenceLength
        }
    }

    /// What encoding a dataset did.
    public struct Summary: Sendable, Equatable {
        public var examples = 0
        /// Kept examples that were cut to `maxSequenceLength`.
        public var truncated = 0
        /// Rows with no token to learn (not among ``examples``).
        public var skipped = 0
        /// The skipped rows that had tokens to learn until truncation cut them off.
        public var skippedAfterTruncation = 0
        public var tokens = 0
        /// Tokens the loss predicts (the sum of ``EncodedExample/targetCount``).
        public var labelledTokens = 0
    }

    public let tokenizer: Tokenizer
    public let chatTemplate: ChatTemplate?
    public let options: Options

    public init(tokenizer: Tokenizer, chatTemplate: ChatTemplate?, options: Options = Options()) {
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.options = options
    }

    /// The classic Alpaca prompts (Taori et al. 2023).
    static func alpacaPrompt(instruction: String, input: String) -> String {
        if input.isEmpty {
            return
                "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n\(instruction)\n\n### Response:\n"
        }
        return
            "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n\(instruction)\n\n### Input:\n\(input)\n\n### Response:\n"
    }

    /// Encodes every row; returns the kept examples and what happened to the others.
    public func encode(_ rows: [DatasetRow], file: String) throws -> ([EncodedExample], Summary) {
        var summary = Summary()
        var out: [EncodedExample] = []
        for row in rows {
            var e = try encode(row.example, file: file, line: row.line)
            let cut = e.ids.count > options.maxSequenceLength
            let learnedBeforeCut = cut && e.targetCount > 0
            if cut {
                e.ids.removeLast(e.ids.count - options.maxSequenceLength)
                e.labels.removeLast(e.labels.count - options.maxSequenceLength)
            }
            if e.targetCount == 0 {
                summary.skipped += 1
                if learnedBeforeCut { summary.skippedAfterTruncation += 1 }
                continue
            }
            if cut { summary.truncated += 1 }
            summary.examples += 1
            summary.tokens += e.ids.count
            summary.labelledTokens += e.targetCount
            out.append(e)
        }
        return (out, summary)
    }

    /// Encodes one example (not truncated).
    public func encode(_ example: TrainingExample, file: String = "data", line: Int = 0) throws -> EncodedExample {
        let eos = tokenizer.eosTokenIDs.min().map { [$0] } ?? []
        // The Alpaca prompt wraps instruction/input/output rows; other rows have their own text.
        if options.style == .alpaca && example.formatName != "alpaca" {
            throw DatasetError.invalid(
                file: file, line: line,
                message: "--template alpaca applies to instruction/input/output rows, not \(example.formatName) rows")
        }
        switch example {
        case .text(let text):
            let ids = tokenizer.encode(text, addSpecialTokens: true) + eos
            return EncodedExample(ids: ids, labels: ids)
        case .promptCompletion(let prompt, let completion):
            return pair(tokenizer.encode(prompt, addSpecialTokens: true), tokenizer.encode(completion) + eos)
        case .alpaca(let instruction, let input, let output):
            if options.style == .alpaca {
                return pair(
                    tokenizer.encode(Self.alpacaPrompt(instruction: instruction, input: input), addSpecialTokens: true),
                    tokenizer.encode(output) + eos)
            }
            let user = input.isEmpty ? instruction : instruction + "\n\n" + input
            return try chat(
                [ChatMessage(role: "user", content: user), ChatMessage(role: "assistant", content: output)], file: file,
                line: line)
        case .chat(let messages):
            return try chat(messages, file: file, line: line)
        }
    }

    func pair(_ prompt: [Int], _ completion: [Int]) -> EncodedExample {
        let ids = prompt + completion
        let labels =
            options.trainOnPrompt ? ids : Array(repeating: EncodedExample.ignored, count: prompt.count) + completion
        return EncodedExample(ids: ids, labels: labels)
    }

    func chat(_ messages: [ChatMessage], file: String, line: Int) throws -> EncodedExample {
        guard let template = chatTemplate else {
            throw DatasetError.invalid(
                file: file, line: line, message: "the model has no chat template; use --template alpaca")
        }
        func text(_ m: [ChatMessage], _ generation: Bool) throws -> String {
            do {
                return try template.render(
                    messages: m, addGenerationPrompt: generation, bosToken: tokenizer.bosToken,
                    eosToken: tokenizer.eosToken)
            } catch {
                throw DatasetError.invalid(file: file, line: line, message: "\(error)")
            }
        }
        func isPrefix(_ a: [Int], of b: [Int]) -> Bool { a.count <= b.count && Array(b[..<a.count]) == a }
        let ids = tokenizer.encode(try text(messages, false))
        var labels = [Int](repeating: EncodedExample.ignored, count: ids.count)
        if options.trainOnPrompt { labels = ids }
        for (i, m) in messages.enumerated() where m.role == "assistant" && !options.trainOnPrompt {
            let end = tokenizer.encode(try text(Array(messages[...i]), false))
            // The turns before, with the generation prompt: what `lora generate --chat` would feed.
            let prompt = Result { tokenizer.encode(try text(Array(messages[..<i]), true)) }
            // What the template puts before this turn's content.
            func beforeContent() throws -> [Int]? {
                var marked = Array(messages[...i])
                marked[i].content = Self.contentMarker
                let rendered = try text(marked, false)
                return rendered.range(of: Self.contentMarker).map {
                    tokenizer.encode(String(rendered[..<$0.lowerBound]))
                }
            }
            let start: [Int]
            if case .success(let ids) = prompt, isPrefix(ids, of: end) {
                start = ids
            } else if let before = try beforeContent(), isPrefix(before, of: end) {
                // Templates can render the turns before differently on their own, or not at all:
                // SmolLM2's adds its default system prompt only before a first message, so an empty
                // conversation has none, and Qwen2.5's cannot render an empty one.
                start = before
            } else {
                start = try prompt.get()  // the count stands, as it always has, or the rendering error is told
            }
            // The template must render a conversation as a prefix of its continuation.
            guard isPrefix(end, of: ids), start.count <= end.count else {
                throw DatasetError.invalid(
                    file: file, line: line,
                    message: "the chat template does not render turn \(i + 1) as a prefix of the conversation")
            }
            for p in start.count..<end.count { labels[p] = ids[p] }
        }
        return EncodedExample(ids: ids, labels: labels)
    }

    /// Stands in for an assistant turn's content to find where the template puts it.
    static let contentMarker = "\u{E000}swiftlora-assistant-content\u{E001}"
}
