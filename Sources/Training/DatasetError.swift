/// A problem with a training data file, located as `FILE:LINE: message`.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case invalid(file: String, line: Int, message: String)

    public var description: String {
        switch self {
        case .unreadable(let file, let why): "\(file): \(why)"
        case .invalid(let file, let line, let message): "\(file):\(line): \(message)"
        }
    }
}
