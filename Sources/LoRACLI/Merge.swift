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

    func validate() throws {
        guard !adapter.isEmpty else { throw ValidationError("give at least one --adapter") }
    }

    func run() throws {
        let written: [WeightFormat] = [.f32, .f16, .bf16, .q8_0]
        guard let format = written.first(where: { $0.rawValue.lowercased() == outtype.lowercased() }) else {
            throw ValidationError("unknown --outtype '\(outtype)' (f32, f16, bf16, q8_0)")
        }
        // The output's folder must exist for a GGUF file (a Hugging Face folder is created with its parents).
        if out.hasSuffix(".gguf") {
            let parent = URL(fileURLWithPath: out).deletingLastPathComponent()
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: parent.path, isDirectory: &isFolder), isFolder.boolValue else {
                throw CLIError("--out \(out): the folder \(parent.path) does not exist")
            }
        }
        let loaded = try modelOptions.load()
        // Check the output can be written before doing any work.
        let toGGUF = out.hasSuffix(".gguf")
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
        let url = URL(fileURLWithPath: out)
        let report: ModelExport.Report
        if let source = loaded.ggufFile, toGGUF {
            report = try ModelExport.writeGGUF(model, format: format, metadataFrom: source, to: url)
        } else if let folder = loaded.folder {
            report = try ModelExport.writeHuggingFaceFolder(model, format: format, sourceFolder: folder, to: url)
        } else {
            return
        }
        log(
            "wrote \(out): \(report.tensors) tensors as \(format.rawValue); largest change from conversion \(report.maxAbsoluteError)"
        )
    }
}
