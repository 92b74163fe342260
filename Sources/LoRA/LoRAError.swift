/// Errors about adapters; each names the file, key or module at fault.
public enum LoRAError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String, String)
    case unsupportedSetting(String, key: String, value: String)
    case missingWeight(String, key: String)
    case shapeMismatch(String, key: String, expected: [Int], found: [Int])
    case noMatchingModules(String)

    public var description: String {
        switch self {
        case .invalidConfig(let file, let why): "\(file): \(why)"
        case .unsupportedSetting(let file, let key, let value): "\(file): '\(key)': \(value) is not supported"
        case .missingWeight(let file, let key): "\(file): missing tensor '\(key)'"
        case .shapeMismatch(let file, let key, let expected, let found):
            "\(file): tensor '\(key)' has shape \(found), the model needs \(expected)"
        case .noMatchingModules(let file): "\(file): target_modules match no module of the model"
        }
    }
}
