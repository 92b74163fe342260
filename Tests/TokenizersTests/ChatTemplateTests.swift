import Foundation
import Testing
import TestSupport

@testable import Tokenizers

/// Renders against transformers / Jinja2 output.
@Suite struct ChatTemplateTests {
    struct Render: Decodable {
        var messages: [ChatMessage]
        var add_generation_prompt: Bool
        var text: String
    }

    struct SmolFixture: Decodable {
        var template: String
        var renders: [Render]
    }

    @Test func smolLM2RendersEqualTransformers() throws {
        let fixture = try JSONDecoder().decode(
            SmolFixture.self, from: Fixtures.data("smollm2/chat-template-smollm2.json"))
        let template = try ChatTemplate(fixture.template)
        for r in fixture.renders {
            #expect(try template.render(messages: r.messages, addGenerationPrompt: r.add_generation_prompt) == r.text)
        }
        // The tiny models' chat_template.jinja is the same template.
        for name in ["tiny-llama", "tiny-qwen2"] {
            let source = String(decoding: try Fixtures.data("\(name)/chat_template.jinja"), as: UTF8.self)
            let r = fixture.renders[2]
            #expect(try ChatTemplate(source).render(messages: r.messages, addGenerationPrompt: true) == r.text)
        }
    }

    struct Cases: Decodable {
        var templates: [String: String]
        var conversations: [String: [ChatMessage]]
        var cases: [Case]
    }

    struct Case: Decodable {
        var template: String
        var conversation: String
        var add_generation_prompt: Bool
        var tools: Bool
        var text: String?
        var error: String?
    }

    static let toolsValue: JinjaValue = .array([
        .object([
            ("type", .string("function")),
            (
                "function",
                .object([
                    ("name", .string("get_weather")), ("description", .string("Weather for a city")),
                    (
                        "parameters",
                        .object([
                            ("type", .string("object")),
                            ("properties", .object([("city", .object([("type", .string("string"))]))])),
                            ("required", .array([.string("city")])),
                        ])
                    ),
                ])
            ),
        ])
    ])

    @Test func wellKnownTemplatesEqualJinja2() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "Fixtures/chat-template-cases.json")
        let all = try JSONDecoder().decode(Cases.self, from: Data(contentsOf: url))
        #expect(all.cases.count == 42)
        for c in all.cases {
            let template = try ChatTemplate(all.templates[c.template]!)
            let label = "\(c.template)/\(c.conversation)/\(c.add_generation_prompt)/tools=\(c.tools)"
            do {
                let text = try template.render(
                    messages: all.conversations[c.conversation]!, addGenerationPrompt: c.add_generation_prompt,
                    bosToken: "<s>", eosToken: "</s>", extra: c.tools ? ["tools": Self.toolsValue] : [:])
                #expect(text == c.text, "\(label)")
                #expect(c.error == nil, "\(label): expected an error")
            } catch ChatTemplateError.raised(let message) {
                #expect(message == c.error, "\(label)")
            }
        }
    }

    @Test func unsupportedAndBrokenTemplatesAreNamed() {
        #expect(throws: ChatTemplateError.unsupported("filter 'wordwrap'", line: 2)) {
            try ChatTemplate("line one\n{{ messages | wordwrap }}").render(messages: [], addGenerationPrompt: false)
        }
        #expect(throws: ChatTemplateError.unsupported("statement 'include'", line: 1)) {
            try ChatTemplate("{% include 'x' %}")
        }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate("{% for m in messages %}{{ m }}") }
        #expect(throws: ChatTemplateError.self) { try ChatTemplate("{{ 'unclosed") }
        #expect(throws: ChatTemplateError.raised("no")) {
            try ChatTemplate("{{ raise_exception('no') }}").render(messages: [], addGenerationPrompt: false)
        }
    }
}
