/// A tokenizer definition we cannot use; each case names the file and the field or type at fault.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
    case invalidJSON(String, String)
    case missingField(String, String)
    case unsupported(String, String)
    case missingFile(String)

    public var description: String {
        switch self {
        case .invalidJSON(let source, let why): "\(source): \(why)"
        case .missingField(let source, let field): "\(source): missing field '\(field)'"
        case .unsupported(let source, let what): "\(source): unsupported \(what)"
        case .missingFile(let path): "\(path): no such file"
        }
    }
}
