import Foundation
import Testing
import TestSupport
import Tokenizers

@testable import Training

/// Data files as users' tools write them: Windows line endings, stray bytes, typos in roles and
/// field maps, JSON that only a lenient parser accepts, and rows with nothing to predict.
@Suite struct DatasetInputTests {
    func write(_ bytes: [UInt8], _ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-\(getpid())-\(name)")
        try Data(bytes).write(to: url)
        return url
    }

    func write(_ text: String, _ name: String) throws -> URL { try write(Array(text.utf8), name) }

    func texts(_ rows: [DatasetRow]) -> [String] {
        rows.map { row in
            guard case .text(let text) = row.example else { return "not text" }
            return text
        }
    }

    @Test func aFolderOrAMissingFileIsNamedAsSuch() {
        let folder = FileManager.default.temporaryDirectory.path
        #expect(throws: DatasetError.unreadable(folder, "a folder, not a data file")) {
            try DatasetReader.read(URL(fileURLWithPath: folder))
        }
        let missing = folder + "/swiftlora-\(getpid())-missing.jsonl"
        #expect(throws: DatasetError.unreadable(missing, "no such file")) {
            try DatasetReader.read(URL(fileURLWithPath: missing))
        }
    }

    @Test func errorsNameTheFileAsGiven() throws {
        let url = try write(#"{"instruction": "a", "output": "b"}"# + "\n", "named.jsonl")
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(throws: DatasetError.invalid(file: "data/named.jsonl", line: 1, message: "missing field 'input'")) {
            try DatasetReader.read(url, name: "data/named.jsonl")
        }
        #expect(throws: DatasetError.invalid(file: url.path, line: 1, message: "missing field 'input'")) {
            try DatasetReader.read(url)
        }
    }

    @Test func windowsLineEndings() throws {
        let jsonl = try write("{\"text\": \"a\"}\r\n\r\n{\"text\": \"b\\r\\n\"}\r\n{\"text\": \"c\"}\r", "crlf.jsonl")
        let rows = try DatasetReader.read(jsonl)
        #expect(texts(rows) == ["a", "b\r\n", "c"])
        #expect(rows.map(\.line) == [1, 3, 4])
        // Notepad's byte order mark, before a JSON array with CRLF lines.
        let array = try write("\u{FEFF}[\r\n  {\"text\": \"a\"},\r\n  {\"text\": \"b\"}\r\n]\r\n", "crlf.json")
        let arrayRows = try DatasetReader.read(array)
        #expect(texts(arrayRows) == ["a", "b"])
        #expect(arrayRows.map(\.line) == [2, 3])
        let bomLines = try write("\u{FEFF}{\"text\": \"a\"}\n{\"text\": \"b\"}\n", "bom.jsonl")
        #expect(texts(try DatasetReader.read(bomLines)) == ["a", "b"])
        // Classic Mac OS: a lone carriage return ends each line.
        let mac = try write("{\"text\": \"a\"}\r{\"text\": \"b\"}\r\r{\"text\": \"c\"}\r", "cr.jsonl")
        let macRows = try DatasetReader.read(mac)
        #expect(texts(macRows) == ["a", "b", "c"])
        #expect(macRows.map(\.line) == [1, 2, 4])
        let badMac = try write("{\"text\": \"a\"}\r{\"text\": b}\r", "cr-bad.jsonl")
        #expect(
            throws: DatasetError.invalid(file: badMac.path, line: 2, message: "not valid JSON (a cut or broken line?)")
        ) {
            try DatasetReader.read(badMac)
        }
    }

    @Test func bytesThatAreNotUTF8NameTheirLine() throws {
        let jsonl = try write(
            Array("{\"text\": \"a\"}\n{\"text\": \"é\"}\n{\"text\": \"".utf8) + [0xFF] + Array("\"}\n".utf8),
            "latin.jsonl")
        #expect(throws: DatasetError.invalid(file: jsonl.path, line: 3, message: "not UTF-8")) {
            try DatasetReader.read(jsonl)
        }
        // A multi-byte character cut by the end of its line is invalid on that line.
        let cut = try write(Array("[\r\n{\"text\": \"".utf8) + [0xC3] + Array("\r\n\"}]".utf8), "cut.json")
        #expect(throws: DatasetError.invalid(file: cut.path, line: 2, message: "not UTF-8")) {
            try DatasetReader.read(cut)
        }
    }

    @Test func chatRolesAreChecked() throws {
        let good = try write(
            """
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, \
            {"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"}]}
            """, "roles.jsonl")
        #expect(try DatasetReader.read(good).count == 1)
        let bad = try write(
            """
            {"messages": [{"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]}
            {"messages": [{"role": "wizard", "content": "w"}]}
            """, "wizard.jsonl")
        #expect(
            throws: DatasetError.invalid(
                file: bad.path, line: 2, message: "messages[0]: unknown role 'wizard' (system, user, assistant or tool)"
            )
        ) {
            try DatasetReader.read(bad)
        }
    }

    @Test func fieldMapNamesMustBeFields() throws {
        let file = try write("{\"instruction\": \"i\", \"input\": \"\", \"answer\": \"o\"}\n", "map.jsonl")
        #expect(throws: DatasetError.unknownField("foo")) { try DatasetReader.read(file, fieldMap: ["foo": "bar"]) }
        #expect(
            DatasetError.unknownField("foo").description
                == "field map: 'foo' is not a field (instruction, input, output, messages, prompt, completion or text)")
        #expect(try DatasetReader.read(file, fieldMap: ["output": "answer"]).count == 1)
        // A field of another format than the file's.
        #expect(
            throws: DatasetError.invalid(
                file: file.path, line: 1,
                message: "field map: 'prompt' is not a field of alpaca rows (instruction, input or output)")
        ) {
            try DatasetReader.read(file, fieldMap: ["output": "answer", "prompt": "question"])
        }
        // A renamed field that no row has is a missing field.
        #expect(throws: DatasetError.invalid(file: file.path, line: 1, message: "missing field 'target'")) {
            try DatasetReader.read(file, fieldMap: ["output": "target"])
        }
    }

    @Test func trailingCommasAreRefused() throws {
        let array = try write("[\n  {\"text\": \"a\"},\n  {\"text\": \"b\"},\n]\n", "comma.json")
        #expect(
            throws: DatasetError.invalid(file: array.path, line: 3, message: "a trailing comma before ']' is not JSON")
        ) {
            try DatasetReader.read(array)
        }
        let nested = try write("[{\"text\": \"a\",\n \"x\": [1, \"],\"]}]", "nested.json")
        #expect(try DatasetReader.read(nested).count == 1)
        let object = try write("{\"text\": \"a\"}\n{\"text\": \"b\", }\n", "comma.jsonl")
        #expect(
            throws: DatasetError.invalid(file: object.path, line: 2, message: "a trailing comma before '}' is not JSON")
        ) {
            try DatasetReader.read(object)
        }
    }

    @Test func rowsWithNothingToPredictAreSkipped() throws {
        let tokenizer = try Tokenizer.load(folder: Fixtures.url("tiny-llama"))
        let encoder = ExampleEncoder(tokenizer: tokenizer, chatTemplate: nil)
        // "" is one token (EOS) that nothing predicts.
        let rows = [
            DatasetRow(example: .text(""), line: 1), DatasetRow(example: .text(""), line: 2),
            DatasetRow(example: .promptCompletion(prompt: "", completion: ""), line: 3),
        ]
        let (none, empty) = try encoder.encode(rows, file: "empty")
        #expect(none.isEmpty && empty.skipped == 3 && empty.examples == 0 && empty.labelledTokens == 0)

        let text = "The quick brown fox"
        let count = tokenizer.encode(text, addSpecialTokens: true).count + 1
        let (kept, summary) = try encoder.encode([DatasetRow(example: .text(text), line: 1)], file: "text")
        #expect(kept.count == 1 && summary.tokens == count && summary.labelledTokens == count - 1)

        let short = ExampleEncoder(tokenizer: tokenizer, chatTemplate: nil, options: .init(maxSequenceLength: 1))
        let (cut, cutSummary) = try short.encode([DatasetRow(example: .text(text), line: 1)], file: "text")
        #expect(
            cut.isEmpty && cutSummary.truncated == 0 && cutSummary.skipped == 1
                && cutSummary.skippedAfterTruncation == 1)
    }

    @Test func alpacaTemplateRefusesOtherRows() throws {
        let tokenizer = try Tokenizer.load(folder: Fixtures.url("tiny-llama"))
        let template = try ChatTemplate(try #require(tokenizer.chatTemplate))
        let classic = ExampleEncoder(tokenizer: tokenizer, chatTemplate: template, options: .init(style: .alpaca))
        let rows = [
            DatasetRow(example: .text("plain text"), line: 1),
            DatasetRow(example: .promptCompletion(prompt: "2+2=", completion: "4"), line: 2),
            DatasetRow(
                example: .chat([ChatMessage(role: "user", content: "u"), ChatMessage(role: "assistant", content: "a")]),
                line: 7),
        ]
        // The flag would change nothing for rows that are not alpaca rows: each is refused by name.
        for (row, kind) in zip(rows, ["'text'", "prompt/completion", "'messages'"]) {
            #expect(
                throws: DatasetError.invalid(
                    file: "rows.jsonl", line: row.line,
                    message: "--template alpaca applies to instruction/input/output rows, not \(kind) rows")
            ) {
                try classic.encode([row], file: "rows.jsonl")
            }
        }
        let alpaca = DatasetRow(example: .alpaca(instruction: "i", input: "", output: "o"), line: 9)
        #expect(try classic.encode([alpaca], file: "rows.jsonl").0.count == 1)
    }
}
