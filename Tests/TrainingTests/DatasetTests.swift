import Foundation
import Models
import Testing
import TestSupport
import Tokenizers

@testable import Training

@Suite struct DatasetTests {
    static let shared = Fixtures.directory.deletingLastPathComponent().appendingPathComponent("data/instruct")

    func write(_ text: String, _ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-\(getpid())-\(name)")
        try Data(text.utf8).write(to: url)
        return url
    }

    @Test func readsTheSharedInstructionFiles() throws {
        let en = try DatasetReader.read(Self.shared.appendingPathComponent("alpaca_en_demo.json"))
        #expect(en.count == 999)
        guard case .alpaca(let instruction, _, _) = en[0].example else {
            Issue.record("not alpaca")
            return
        }
        #expect(instruction == "Describe a process of making crepes.")
        #expect(en[0].line == 2 && en[1].line > en[0].line)
        let zh = try DatasetReader.read(
            Self.shared.appendingPathComponent("cybersecurity_qa_zh.json"),
            fieldMap: ["input": "input_text", "output": "target_text"])
        #expect(zh.count == 91)
        // Without the field map the Chinese file's rows lack 'output'.
        #expect(
            throws: DatasetError.invalid(
                file: Self.shared.appendingPathComponent("cybersecurity_qa_zh.json").path, line: 2,
                message: "missing field 'input'")
        ) {
            try DatasetReader.read(Self.shared.appendingPathComponent("cybersecurity_qa_zh.json"), format: .alpaca)
        }
    }

    @Test func errorsNameTheFileAndLine() throws {
        let array = try write(
            """
            [
              {"instruction": "a", "input": "", "output": "b"},
              {"instruction": "c",
               "input": ""}
            ]
            """, "bad.json")
        #expect(throws: DatasetError.invalid(file: array.path, line: 3, message: "missing field 'output'")) {
            try DatasetReader.read(array)
        }
        let jsonl = try write(
            """
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}

            {"messages": [{"role": "user"}]}
            """, "bad.jsonl")
        #expect(
            throws: DatasetError.invalid(
                file: jsonl.path, line: 3, message: "messages[0] needs string 'role' and 'content'")
        ) {
            try DatasetReader.read(jsonl)
        }
        let broken = try write("{\"text\": \"ok\"}\n{not json\n", "broken.jsonl")
        #expect(
            throws: DatasetError.invalid(
                file: broken.path, line: 2, message: "not valid JSON (a cut or broken line?)")
        ) {
            try DatasetReader.read(broken)
        }
        let list = try write("{\"text\": \"ok\"}\n[1, 2]\n", "list.jsonl")
        #expect(throws: DatasetError.invalid(file: list.path, line: 2, message: "not a JSON object")) {
            try DatasetReader.read(list)
        }
        // A row of another format says so (a chat file too); a format named says it was named.
        let promptRow = #"{"prompt": "p", "completion": "c"}"#
        for (rows, name, found, first) in [
            (promptRow + "\n" + #"{"text": "t"}"#, "pc.jsonl", "a text", "prompt-completion"),
            (
                #"{"messages": [{"role": "user", "content": "u"}]}"# + "\n" + promptRow, "chat.jsonl",
                "a prompt-completion", "chat"
            ),
        ] {
            let file = try write(rows + "\n", name)
            let message = "\(found) row among \(first) rows (the first row decides the format; a file holds one format)"
            #expect(throws: DatasetError.invalid(file: file.path, line: 2, message: message)) {
                try DatasetReader.read(file)
            }
        }
        let alpaca = try write(#"{"instruction": "i", "input": "", "output": "o"}"# + "\n", "alpaca.jsonl")
        #expect(
            throws: DatasetError.invalid(
                file: alpaca.path, line: 1, message: "an alpaca row, but the format asked for is text")
        ) { try DatasetReader.read(alpaca, format: .text) }
        // A field given twice (readers differ on which wins) is refused, in JSONL and in an array.
        let twice = try write(#"{"prompt": "p", "completion": "c", "completion": "d"}"# + "\n", "twice.jsonl")
        #expect(throws: DatasetError.invalid(file: twice.path, line: 1, message: "'completion' is given twice")) {
            try DatasetReader.read(twice)
        }
        let twiceArray = try write(
            "[\n" + #"{"text": "a"},"# + "\n" + #"{"text": "b","# + "\n" + #" "text": "c"}"# + "\n]", "twice.json")
        #expect(throws: DatasetError.invalid(file: twiceArray.path, line: 4, message: "'text' is given twice")) {
            try DatasetReader.read(twiceArray)
        }
        // An exported dataset's null input is an empty input.
        let nullInput = try write(#"{"instruction": "i", "input": null, "output": "o"}"# + "\n", "null.jsonl")
        #expect(try DatasetReader.read(nullInput).first?.example == .alpaca(instruction: "i", input: "", output: "o"))
    }

    @Test func chatMaskingLearnsOnlyAssistantTurns() throws {
        let tokenizer = try Tokenizer.load(folder: Fixtures.url("tiny-llama"))
        let template = try ChatTemplate(try #require(tokenizer.chatTemplate))
        let encoder = ExampleEncoder(tokenizer: tokenizer, chatTemplate: template)
        let e = try encoder.encode(.alpaca(instruction: "Name a color.", input: "", output: "Blue."))
        let learned = e.ids.indices.filter { e.labels[$0] != EncodedExample.ignored }.map { e.ids[$0] }
        #expect(tokenizer.decode(learned) == "Blue.<|im_end|>\n")
        // The prompt is exactly what `lora generate --chat` feeds the model.
        let prompt = try template.render(
            messages: [ChatMessage(role: "user", content: "Name a color.")], addGenerationPrompt: true)
        #expect(Array(e.ids.prefix(tokenizer.encode(prompt).count)) == tokenizer.encode(prompt))
        #expect(e.labels.prefix(tokenizer.encode(prompt).count).allSatisfy { $0 == EncodedExample.ignored })

        let multi = try encoder.encode(
            .chat([
                ChatMessage(role: "user", content: "1+1?"), ChatMessage(role: "assistant", content: "2"),
                ChatMessage(role: "user", content: "2+2?"), ChatMessage(role: "assistant", content: "4"),
            ]))
        let spans = multi.ids.indices.filter { multi.labels[$0] != EncodedExample.ignored }.map { multi.ids[$0] }
        #expect(tokenizer.decode(spans) == "2<|im_end|>\n4<|im_end|>\n")

        // A conversation the assistant opens: the template's default system prompt (which it adds
        // before a first message, not to an empty conversation) is prompt, not learned.
        let greeting = try encoder.encode(
            .chat([
                ChatMessage(role: "assistant", content: "Hello, how can I help?"),
                ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Sure."),
            ]))
        let greeted = greeting.ids.indices.filter { greeting.labels[$0] != -100 }.map { greeting.ids[$0] }
        #expect(tokenizer.decode(greeted) == "Hello, how can I help?<|im_end|>\nSure.<|im_end|>\n")
        #expect(tokenizer.decode(greeting.ids).hasPrefix("<|im_start|>system\nYou are a helpful AI assistant"))
        // A template that cannot render an empty conversation (Qwen2.5's reads messages[0]) still
        // masks a conversation the assistant opens.
        let strict = try ChatTemplate(
            "{{ '<|im_start|>system\\n' + (messages[0]['role'] == 'system' and messages[0]['content'] or 'Hi.') + '<|im_end|>\\n' }}"
                + "{% for m in messages %}{% if m.role != 'system' %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endif %}{% endfor %}"
                + "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
        let opened = try ExampleEncoder(tokenizer: tokenizer, chatTemplate: strict).encode(
            .chat([ChatMessage(role: "assistant", content: "Hello."), ChatMessage(role: "user", content: "Hi")]))
        let openedLearned = opened.ids.indices.filter { opened.labels[$0] != -100 }.map { opened.ids[$0] }
        #expect(tokenizer.decode(openedLearned) == "Hello.<|im_end|>\n")

        let all = ExampleEncoder(tokenizer: tokenizer, chatTemplate: template, options: .init(trainOnPrompt: true))
        #expect(try all.encode(.chat([ChatMessage(role: "assistant", content: "x")])).labels.allSatisfy { $0 != -100 })
    }

    @Test func alpacaTemplateTextAndTruncation() throws {
        let tokenizer = try Tokenizer.load(folder: Fixtures.url("tiny-llama"))
        let classic = ExampleEncoder(
            tokenizer: tokenizer, chatTemplate: nil, options: .init(style: .alpaca, maxSequenceLength: 40))
        let e = try classic.encode(.alpaca(instruction: "Say hi.", input: "politely", output: "Hello!"))
        let learned = e.ids.indices.filter { e.labels[$0] != -100 }.map { e.ids[$0] }
        #expect(tokenizer.decode(learned) == "Hello!<|im_end|>")
        #expect(
            tokenizer.decode(e.ids).hasPrefix("Below is an instruction that describes a task, paired with an input"))
        // A prompt longer than the limit is truncated and, its whole answer lost, skipped.
        let long = DatasetRow(
            example: .alpaca(instruction: String(repeating: "long ", count: 60), input: "", output: "x"), line: 2)
        let (keptLong, longSummary) = try classic.encode([long], file: "rows")
        #expect(
            keptLong.isEmpty && longSummary.truncated == 0 && longSummary.skipped == 1
                && longSummary.skippedAfterTruncation == 1)
        let rows = [
            DatasetRow(example: .text(String(repeating: "word ", count: 100)), line: 1),
            DatasetRow(example: .promptCompletion(prompt: "2+2=", completion: "4"), line: 3),
        ]
        let plain = ExampleEncoder(tokenizer: tokenizer, chatTemplate: nil, options: .init(maxSequenceLength: 40))
        let (kept, summary) = try plain.encode(rows, file: "rows")
        #expect(summary.truncated == 1 && summary.skipped == 0 && summary.skippedAfterTruncation == 0)  // the text row
        #expect(kept.count == 2 && kept.allSatisfy { $0.ids.count <= 40 })
        let noTemplate = ExampleEncoder(tokenizer: tokenizer, chatTemplate: nil)
        #expect(throws: DatasetError.self) { try noTemplate.encode(.chat([ChatMessage(role: "user", content: "x")])) }
    }
}
