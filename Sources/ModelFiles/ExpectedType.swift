/// Words for the type a decoder expected, for errors such as `'r' should be an integer`.
public enum ExpectedType {
    /// The format being read: JSON says "array", "object" and "boolean"; YAML "list", "mapping"
    /// and "true or false".
    public enum Vocabulary: Sendable {
        case json, yaml
    }

    /// `type` as a user would name it: "an integer", "a number", "a string", …
    public static func words(for type: Any.Type, in vocabulary: Vocabulary) -> String {
        let name = "\(type)"
        if name.hasPrefix("UInt") { return "a non-negative integer" }
        if name.hasPrefix("Int") { return "an integer" }
        if name == "Float" || name == "Double" { return "a number" }
        if name == "String" { return "a string" }
        switch vocabulary {
        case .json:
            if name == "Bool" { return "a boolean" }
            return name.hasPrefix("Array") ? "an array" : "an object"
        case .yaml:
            if name == "Bool" { return "true or false" }
            return name.hasPrefix("Array") ? "a list" : "a mapping"
        }
    }
}
