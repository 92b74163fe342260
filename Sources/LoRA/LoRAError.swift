/// Errors about adapters; each names the file, key or module at fault.
public enum LoRAError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String, String)
    case unsupportedSetting(String, key: String, value: String)
    case missingWeight(String, key: String)
    case shapeMismatch(String, key: String, expected: [Int], found: [Int])
    case noMatchingModules(String)
    /// The config's rank for a module (`r` or `rank_pattern`) is not its tensors' rank.
    case rankMismatch(String, key: String, configured: Int, found: Int)

    public var description: String {
        switch self {
        case .invalidConfig(let file, let why): "\(file): \(why)"
        case .unsupportedSetting(let file, let key, let value): "\(file): '\(key)': \(value) is not supported"
        case .missingWeight(let file, let key): "\(file): missing tensor '\(key)'"
        case .shapeMismatch(let file, let key, let expected, let found):
            "\(file): tensor '\(key)' has shape \(found), the model needs \(expected)"
        case .noMatchingModules(let file): "\(file): target_modules match no module of the model"
        case .rankMismatch(let file, let key, let configured, let found):
            "\(file): adapter_config.json gives rank \(configured) ('r' or 'rank_pattern') but tensor '\(key)' has rank \(found)"
        }
    }
}
