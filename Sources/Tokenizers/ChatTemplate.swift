import Foundation

/// One message of a conversation.
public struct ChatMessage: Sendable, Codable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A model's own chat template (a Jinja2 subset), rendered the way transformers'
/// `apply_chat_template` does.
///
/// ```swift
/// let template = try ChatTemplate(tokenizer.chatTemplate!)
/// let text = try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
/// ```
public struct ChatTemplate: Sendable {
    let nodes: [JinjaNode]

    /// Parses a template; unsupported syntax fails here, naming it and the line.
    public init(_ source: String) throws {
        nodes = try JinjaParser.parse(source)
    }

    /// Renders a conversation. `extra` adds variables (e.g. `tools`, `date_string`).
    public func render(
        messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String? = nil, eosToken: String? = nil,
        extra: [String: JinjaValue] = [:]
    ) throws -> String {
        var globals: [String: JinjaValue] = [
            "messages": .array(
                messages.map { .object([("role", .string($0.role)), ("content", .string($0.content))]) }),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "bos_token": .string(bosToken ?? ""),
            "eos_token": .string(eosToken ?? ""),
        ]
        for (k, v) in extra { globals[k] = v }
        var interpreter = JinjaInterpreter(scopes: [globals])
        var output = ""
        try interpreter.run(nodes, into: &output)
        return output
    }
}
