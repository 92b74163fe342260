import Foundation
import LoRA
import Models
import TestSupport

@testable import Training

/// The tiny model with rows encoded by its chat template: where most trainer tests start.
struct TinyRun {
    let loaded: LoadedModel
    let examples: [EncodedExample]

    init(_ rows: [TrainingExample]) throws {
        loaded = try ModelLoader.load(path: Fixtures.url("tiny-llama").path)
        let encoder = ExampleEncoder(tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate)
        let numbered = rows.enumerated().map { DatasetRow(example: $1, line: $0 + 1) }
        examples = try encoder.encode(numbered, file: "rows").0
    }

    /// `count` rows "Say i." → "Number i.".
    static func sayNumbers(_ count: Int) -> [TrainingExample] {
        (0..<count).map { .alpaca(instruction: "Say \($0).", input: "", output: "Number \($0).") }
    }

    /// A new adapter on the model; `configure` sets what differs from `LoRAConfig()`.
    func adapter(seed: UInt64, _ configure: (inout LoRAConfig) -> Void = { _ in }) throws -> LoRAAdapter {
        var config = LoRAConfig()
        configure(&config)
        return try LoRAAdapter.create(config: config, for: loaded.model, seed: seed)
    }

    /// A trainer of `adapter` over every row.
    func trainer(_ adapter: LoRAAdapter, _ parameters: LoRATrainer.Parameters) throws -> LoRATrainer {
        try LoRATrainer(model: loaded.model, adapter: adapter, examples: examples, parameters: parameters)
    }

    /// A folder under the temporary directory for this process; the caller removes it.
    static func folder(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-\(name)-\(getpid())")
    }
}
