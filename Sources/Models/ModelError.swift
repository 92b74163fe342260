/// Errors raised while loading or running a model. Each names the file, tensor or setting at fault.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case notFound(String)
    case invalidConfiguration(String, String)
    case unsupportedArchitecture(String)
    case missingTensor(String, source: String)
    case shapeMismatch(String, expected: [Int], found: [Int])
    case contextOverflow(requested: Int, limit: Int)
    case invalidInput(String)
    /// Memory (or address space) for a buffer could not be had.
    case outOfMemory(String)

    public var description: String {
        switch self {
        case .notFound(let path):
            "\(path): no such file or folder (expected a .gguf file or a Hugging Face model folder)"
        case .invalidConfiguration(let source, let message): "\(source): \(message)"
        case .unsupportedArchitecture(let name):
            "unsupported architecture '\(name)' (supported: llama, mistral, qwen2, smollm)"
        case .missingTensor(let name, let source): "\(source): missing tensor '\(name)'"
        case .shapeMismatch(let name, let expected, let found):
            "tensor '\(name)' has shape \(found), expected \(expected)"
        case .contextOverflow(let requested, let limit):
            "sequence of \(requested) tokens exceeds the context of \(limit)"
        case .invalidInput(let message): message
        case .outOfMemory(let message): message
        }
    }
}
