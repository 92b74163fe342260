/// A problem with a training data file, located as `FILE:LINE: message`.
public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case unreadable(String, String)
    case invalid(file: String, line: Int, message: String)
    /// A field map renames a field no row format has.
    case unknownField(String)

    public var description: String {
        switch self {
        case .unreadable(let file, let why): "\(file): \(why)"
        case .invalid(let file, let line, let message): "\(file):\(line): \(message)"
        case .unknownField(let name):
            "field map: '\(name)' is not a field (\(Self.alternatives(DatasetFormat.auto.fields)))"
        }
    }

    /// "a, b or c".
    static func alternatives(_ names: [String]) -> String {
        guard let last = names.last else { return "" }
        return names.count == 1 ? last : names.dropLast().joined(separator: ", ") + " or " + last
    }
}
