import Foundation

/// Locates the reference data tests compare against.
///
/// Golden outputs made with PyTorch/transformers/PEFT live in `../shared/fixtures/` beside the
/// repository (override with `SWIFTLORA_FIXTURES`); the real test model is fetched by
/// `scripts/fetch-models.sh` into `models/` (override with `SWIFTLORA_MODEL`).
public enum Fixtures {
    /// The repository root, found from this source file's path.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // TestSupport
        .deletingLastPathComponent()  // Sources
        .deletingLastPathComponent()

    /// The folder of shared reference outputs.
    public static var directory: URL {
        if let path = ProcessInfo.processInfo.environment["SWIFTLORA_FIXTURES"] {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }

    /// A file or folder under the fixtures directory, e.g. `url("tiny-llama/config.json")`.
    public static func url(_ relativePath: String) -> URL {
        directory.appendingPathComponent(relativePath)
    }

    /// The contents of a fixture file; throws naming the path when it is missing.
    public static func data(_ relativePath: String) throws -> Data {
        let url = url(relativePath)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw FixtureError.missing(url.path)
        }
        return try Data(contentsOf: url)
    }

    /// The SmolLM2-135M-Instruct Q4_1 GGUF used by real-model tests, or `nil` when it has not
    /// been fetched. With `SWIFTLORA_REQUIRE_MODELS=1` (set by CI) a missing model throws,
    /// so real-model tests fail instead of skipping.
    public static func smolLM2GGUF() throws -> URL? {
        let env = ProcessInfo.processInfo.environment
        let url =
            env["SWIFTLORA_MODEL"].map { URL(fileURLWithPath: $0) }
            ?? repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf")
        if FileManager.default.fileExists(atPath: url.path) { return url }
        if env["SWIFTLORA_REQUIRE_MODELS"] == "1" { throw FixtureError.missing(url.path) }
        return nil
    }

    /// A request field banning SmolLM2's end tokens (<|endoftext|>, <|im_start|>, <|im_end|>: ids
    /// 0, 1, 2), so that a sampled reply runs to its max_tokens.
    public static let smolLM2NoEndBias = #""logit_bias": {"0": -100, "1": -100, "2": -100}"#

    /// Whether real-model tests should run (the model is present, or required).
    public static var hasSmolLM2: Bool { (try? smolLM2GGUF()) != nil || requireModels }

    /// Whether CI demands the real models.
    public static var requireModels: Bool {
        ProcessInfo.processInfo.environment["SWIFTLORA_REQUIRE_MODELS"] == "1"
    }
}

/// A missing fixture or model file.
public enum FixtureError: Error, CustomStringConvertible {
    case missing(String)

    public var description: String {
        switch self {
        case .missing(let path):
            "missing test data: \(path) (run scripts/fetch-models.sh, and keep ../shared beside the repository)"
        }
    }
}
