import ArgumentParser
import Foundation
import Kernels
import LoRA
import Models

/// `lora merge`: adapters folded into the base weights, written as a new model.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge adapters into the base model and write it (a Hugging Face folder, or OUT.gguf).")

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "A PEFT adapter folder, optionally with a weight (DIR:0.5). Repeatable.")
    var adapter: [String]

    @Option(name: .long, help: "Output: a folder (from a Hugging Face model) or a .gguf file (from a GGUF model).")
    var out: String

    @Option(name: .long, help: "Format of the written matrices: f32, f16, bf16, or q8_0 (GGUF only).")
    var outtype: String = "f32"

    @Flag(name: .long, help: "Replace an existing --out (never the model being merged).")
    var overwrite = false

    func validate() throws {
        guard !adapter.isEmpty else { throw ValidationError("give at least one --adapter") }
    }

    func run() throws {
        let written: [WeightFormat] = [.f32, .f16, .bf16, .q8_0]
        guard let format = written.first(where: { $0.rawValue.lowercased() == outtype.lowercased() }) else {
            throw CLIError("unknown --outtype '\(outtype)' (f32, f16, bf16, q8_0)")
        }
        if format == .q8_0 && !out.hasSuffix(".gguf") {
            throw CLIError(
                "--outtype q8_0 is for GGUF output (--out NAME.gguf); a Hugging Face folder takes f32, f16 or bf16")
        }
        // The output's folder is created with its parents (and removed again if the merge fails);
        // a file in the way is refused before any work.
        let toGGUF = out.hasSuffix(".gguf")
        let url = URL(fileURLWithPath: out).standardizedFileURL
        let folder = toGGUF ? url.deletingLastPathComponent() : url
        let created = try Self.firstMissing(folder)
        try checkOutput()
        let loaded = try modelOptions.load()
        // Check the output can be written before doing any work.
        if toGGUF && loaded.ggufFile == nil {
            throw CLIError("--out \(out): GGUF output needs a GGUF model (its tokenizer metadata is copied)")
        }
        if !toGGUF && loaded.folder == nil {
            throw CLIError("--out \(out): a Hugging Face folder needs a Hugging Face model; use --out NAME.gguf")
        }
        var model = loaded.model
        for spec in adapter {
            let (path, weight) = try AdapterOptions.parse(spec)
            model = try LoRAAdapter.load(folder: URL(fileURLWithPath: path)).merged(
                into: model, weight: weight, source: path)
            log("merged \(path) (weight \(weight))")
        }
        // Ctrl-C or an error while writing leaves no temporary file, nor a folder made for --out.
        let cleanup = Self.cleanup(folder: folder, created: created)
        let interrupt = SignalWatch([SIGINT, SIGTERM]) { [out] number in
            cleanup()
            log("interrupted: \(out) not written")
            Foundation.exit(128 + number)
        }
        defer { interrupt.cancel() }
        let report: ModelExport.Report
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            report = try write(model, loaded: loaded, format: format, toGGUF: toGGUF, url: url)
        } catch {
            cleanup()
            throw error
        }
        log(
            "wrote \(out): \(report.matrices) matrices as \(format.rawValue), \(report.vectors) vectors (norms, biases) "
                + "as F32; largest change from conversion \(report.maxAbsoluteError)"
        )
    }

    func write(_ model: LlamaModel, loaded: LoadedModel, format: WeightFormat, toGGUF: Bool, url: URL) throws
        -> ModelExport.Report
    {
        if let source = loaded.ggufFile, toGGUF {
            return try ModelExport.writeGGUF(model, format: format, metadataFrom: source, to: url)
        } else if let folder = loaded.folder {
            return try ModelExport.writeHuggingFaceFolder(model, format: format, sourceFolder: folder, to: url)
        }
        throw CLIError("--out \(out): nothing to write from this model")
    }

    /// Removes this process's temporary files in `folder`, or the topmost folder this merge
    /// created (`created`, an ancestor of `folder` or `folder` itself) with all it holds.
    static func cleanup(folder: URL, created: URL?) -> @Sendable () -> Void {
        let marker = ".tmp-\(getpid())-"
        return {
            let fm = FileManager.default
            if let created {
                try? fm.removeItem(at: created)
                return
            }
            for name in (try? fm.contentsOfDirectory(atPath: folder.path)) ?? [] where name.contains(marker) {
                try? fm.removeItem(at: folder.appendingPathComponent(name))
            }
        }
    }

    /// The topmost folder on the way to `folder` that does not exist yet (nil when `folder`
    /// exists); refuses a path that runs through a file.
    static func firstMissing(_ folder: URL) throws -> URL? {
        var missing: URL?
        var url = folder
        var isFolder: ObjCBool = false
        while !FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) {
            missing = url
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return missing }
            url = parent
        }
        guard isFolder.boolValue else { throw CLIError("--out: \(url.path) is a file, not a folder") }
        return missing
    }

    /// Refuses an `--out` that is the model itself, or that exists without `--overwrite`, or a
    /// folder holding other weight files that a loader would read beside the merged ones.
    func checkOutput() throws {
        let fm = FileManager.default
        let target = URL(fileURLWithPath: out).resolvingSymlinksInPath().standardizedFileURL
        let model = URL(fileURLWithPath: modelOptions.model).resolvingSymlinksInPath().standardizedFileURL
        guard target.path != model.path else {
            throw CLIError("--out \(out) is the model being merged; write the merged model elsewhere")
        }
        var isFolder: ObjCBool = false
        guard fm.fileExists(atPath: target.path, isDirectory: &isFolder) else { return }
        let contents = isFolder.boolValue ? (try? fm.contentsOfDirectory(atPath: target.path)) ?? [] : [out]
        guard !contents.isEmpty else { return }
        guard overwrite else {
            throw CLIError("--out \(out) already exists; give --overwrite to replace it")
        }
        if !out.hasSuffix(".gguf") && !isFolder.boolValue {
            throw CLIError("--out \(out) is a file; a Hugging Face model is written as a folder")
        }
        if isFolder.boolValue {
            let stale = contents.filter {
                ($0.hasSuffix(".safetensors") && $0 != "model.safetensors") || $0.hasSuffix(".safetensors.index.json")
            }.sorted()
            guard stale.isEmpty else {
                throw CLIError(
                    "--out \(out) holds other weight files (\(stale.joined(separator: ", "))) that would be read with the merged model; remove them or pick another folder"
                )
            }
        }
    }
}
