import ArgumentParser
import Foundation
import Generation
import Kernels
import LoRA
import Models

/// `--model` and `--threads`, shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(
        name: .long, help: "A GGUF file or a Hugging Face model folder (config.json, *.safetensors, tokenizer.json).")
    var model: String

    @Option(name: .long, help: "Worker threads for the kernels (default: all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1, not \(threads)") }
    }

    /// Loads the model, or throws an error naming what is wrong with it.
    func load() throws -> LoadedModel {
        if let threads {
            ThreadPool.shared.threadCount = threads
            let cores = ProcessInfo.processInfo.activeProcessorCount
            if threads > cores {
                log("warning: --threads \(threads) is more than the \(cores) cores here, which slows the kernels")
            }
        }
        return try ModelLoader.load(path: model)
    }
}

/// Sampling flags shared by `generate` and `chat`.
struct SamplingOptions: ParsableArguments {
    @Option(name: .long, help: "Most new tokens to generate.")
    var maxTokens: Int = 256

    @Option(name: .long, help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.7

    @Option(name: .long, help: "Nucleus sampling: keep tokens up to this cumulative probability.")
    var topP: Float = 1

    @Option(name: .long, help: "Keep only the K most likely tokens (0 = off).")
    var topK: Int = 0

    @Option(name: .long, help: "Drop tokens below this fraction of the top token's probability.")
    var minP: Float = 0

    @Option(name: .long, help: "Penalty for tokens already in the context (transformers' definition; 1 = off).")
    var repetitionPenalty: Float = 1

    @Option(name: .long, help: "Random seed; the same seed gives the same text.")
    var seed: UInt64 = 0

    @Option(name: .long, help: "A string that ends generation (repeatable).")
    var stop: [String] = []

    var parameters: GenerationParameters {
        GenerationParameters(
            maxTokens: maxTokens, temperature: temperature, topK: topK, topP: topP, minP: minP,
            repetitionPenalty: repetitionPenalty, seed: seed, stop: stop)
    }

    func validate() throws {
        do {
            try parameters.validate()
        } catch GenerationError.invalidParameter(let field, let message) {
            // The flag, not the API field: --top-p, not top_p.
            throw ValidationError("invalid --\(field.replacingOccurrences(of: "_", with: "-")): \(message)")
        } catch {
            throw ValidationError(error.description)
        }
    }
}

/// Writes to standard error: logs and progress never mix with the text on standard output.
func log(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// `--adapter DIR[:WEIGHT]`, repeatable: PEFT adapters added to the model, combined linearly.
struct AdapterOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "A PEFT adapter folder, optionally with a weight (DIR:0.5). Repeat to combine adapters linearly.")
    var adapter: [String] = []

    /// `DIR` or `DIR:WEIGHT`, the weight a finite number. A folder whose name holds a colon is
    /// taken whole when it exists.
    static func parse(_ spec: String) throws -> (path: String, weight: Float) {
        guard let colon = spec.lastIndex(of: ":"), !FileManager.default.fileExists(atPath: spec) else {
            return (spec, 1)
        }
        let path = String(spec[..<colon])
        let text = spec[spec.index(after: colon)...]
        guard let weight = Float(text) else {
            throw CLIError("--adapter \(spec): '\(text)' is not a weight (DIR or DIR:WEIGHT, e.g. DIR:0.5)")
        }
        guard weight.isFinite else { throw CLIError("--adapter \(spec): the weight must be a finite number") }
        return (path, weight)
    }

    /// Attaches every adapter to the loaded model.
    func attach(to loaded: LoadedModel) throws {
        for spec in adapter {
            let (path, weight) = try Self.parse(spec)
            let adapter = try LoRAAdapter.load(folder: URL(fileURLWithPath: path))
            for key in adapter.config.ignoredKeys {
                log("warning: \(path)/adapter_config.json: ignoring unknown key '\(key)'")
            }
            try adapter.attach(to: loaded.model, weight: weight, source: path)
            let saved = adapter.savedModules.isEmpty ? "" : " + \(adapter.savedModules.count) saved in full"
            log("adapter \(path) (r=\(adapter.config.r), \(adapter.modules.count) modules\(saved), weight \(weight))")
        }
    }
}

/// `--field-map input=input_text,output=target_text` as a dictionary.
func parseFieldMap(_ text: String?) throws -> [String: String] {
    var map: [String: String] = [:]
    for pair in (text ?? "").split(separator: ",") {
        let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw CLIError("--field-map: '\(pair)' is not NAME=FIELD") }
        map[parts[0]] = parts[1]
    }
    return map
}
