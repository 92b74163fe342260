import Foundation

/// OpenAI request options this server does not implement. Each is refused by name when set to
/// anything but its default, instead of being answered as if it had been honoured.
enum UnsupportedOptions {
    /// The options of each endpoint, with the values that mean "not asked for".
    static let chat: [(key: String, unset: @Sendable (Any) -> Bool)] = [
        ("logprobs", { ($0 as? Bool) == false }),
        ("top_logprobs", { ($0 as? Int) == 0 }),
        ("tools", { ($0 as? [Any])?.isEmpty == true }),
        ("functions", { ($0 as? [Any])?.isEmpty == true }),
        ("tool_choice", { ($0 as? String) == "none" }),
        ("response_format", { (($0 as? [String: Any])?["type"] as? String) == "text" }),
    ]
    static let completions: [(key: String, unset: @Sendable (Any) -> Bool)] = [
        ("logprobs", { ($0 as? Int) == 0 }),
        ("echo", { ($0 as? Bool) == false }),
        ("suffix", { ($0 as? String)?.isEmpty == true }),
        ("best_of", { ($0 as? Int) == 1 }),
    ]

    /// Throws a 400 naming the first option of `body` that is set and not implemented.
    static func check(_ body: Data, chat: Bool) throws(APIError) {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return }
        for (key, unset) in chat ? Self.chat : completions {
            guard let value = object[key], !(value is NSNull), !unset(value) else { continue }
            throw .badRequest("'\(key)' is not supported by this server", param: key)
        }
    }

    /// The roles a chat request's messages may have.
    static let roles = ["system", "developer", "user", "assistant", "tool"]
}
