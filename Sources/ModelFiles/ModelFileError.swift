/// What is wrong with a model file. Every case names the file and, where it applies, the tensor or key.
public enum ModelFileError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(String, String)
    case truncated(String, String)
    case badMagic(String)
    case unsupportedVersion(String, Int)
    case corrupt(String, String)
    case unsupportedDType(String, tensor: String, dtype: String)
    case unsupportedTensorType(String, tensor: String, type: String)
    case missingKey(String, key: String)
    case wrongType(String, key: String, expected: String, found: String)
    case missingTensor(String, tensor: String)
    case notAMatrix(String, tensor: String, shape: [Int])
    case writeFailed(String, String)
    /// An integer tensor holds a value that does not fit the requested integer type.
    case valueOutOfRange(String, tensor: String, value: Int64)

    public var description: String {
        switch self {
        case .cannotOpen(let file, let why): "\(file): cannot open: \(why)"
        case .truncated(let file, let what): "\(file): truncated file (\(what))"
        case .badMagic(let file): "\(file): not a GGUF file (bad magic)"
        case .unsupportedVersion(let file, let v): "\(file): unsupported GGUF version \(v) (supported: 2, 3)"
        case .corrupt(let file, let what): "\(file): corrupt: \(what)"
        case .unsupportedDType(let file, let tensor, let dtype):
            "\(file): tensor '\(tensor)' has unsupported dtype \(dtype)"
        case .unsupportedTensorType(let file, let tensor, let type):
            "\(file): tensor '\(tensor)' has unsupported type \(type)"
        case .missingKey(let file, let key): "\(file): missing metadata key '\(key)'"
        case .wrongType(let file, let key, let expected, let found):
            "\(file): metadata key '\(key)' is \(found), expected \(expected)"
        case .missingTensor(let file, let tensor): "\(file): missing tensor '\(tensor)'"
        case .notAMatrix(let file, let tensor, let shape):
            "\(file): tensor '\(tensor)' with shape \(shape) is not a matrix"
        case .writeFailed(let file, let why): "\(file): cannot write: \(why)"
        case .valueOutOfRange(let file, let tensor, let value):
            "\(file): tensor '\(tensor)' holds \(value), which does not fit in 32 bits"
        }
    }
}
