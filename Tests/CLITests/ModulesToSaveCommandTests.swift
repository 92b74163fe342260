import Foundation
import Models
import ModelFiles
import Testing
import TestSupport

/// `lora train --modules-to-save` (and `modules_to_save:` in the YAML file), a refusal naming the
/// module, a killed run resumed byte-identical, and `lora merge` and `generate` with the result.
@Suite struct ModulesToSaveCommandTests {
    @Test func trainResumeMergeAndGenerateWithModulesToSave() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-cli-mts-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let data = folder.appendingPathComponent("data.jsonl")
        let rows = (0..<6).map { #"{"prompt": "Item \#($0):", "completion": " value \#($0 * 7)"}"# }
        try Data((rows.joined(separator: "\n") + "\n").utf8).write(to: data)
        let model = Fixtures.url("tiny-llama").path
        func arguments(_ out: String) -> [String] {
            [
                "train", "--model", model, "--data", data.path, "--out", folder.appendingPathComponent(out).path,
                "--max-steps", "120", "--batch-size", "2", "--save-steps", "20", "--dropout", "0.1",
                "--learning-rate", "1e-3", "--targets", "q_proj,v_proj", "--modules-to-save", "lm_head,down_proj",
                "--logging-steps", "1000",
            ]
        }
        let straight = try Lora.run(arguments("straight"))
        #expect(straight.status == 0, "\(straight.stderr)")
        // LoRA on q/v (2 × (64·8 + 8·64 + 64·8 + 8·32)) + lm_head (49152·64) + 2 down_proj (64·160).
        #expect(straight.stderr.contains("trainable params: 3,169,792 || all params: 6,401,856"), "\(straight.stderr)")

        let process = try Lora.killed(
            arguments("killed"), after: folder.appendingPathComponent("killed/checkpoint-20/trainer_state.json"))
        #expect(process.terminationReason == .uncaughtSignal, "the run was killed before it finished")
        let resumed = try Lora.run(arguments("killed") + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let a = try Data(contentsOf: folder.appendingPathComponent("straight/adapter/adapter_model.safetensors"))
        let b = try Data(contentsOf: folder.appendingPathComponent("killed/adapter/adapter_model.safetensors"))
        #expect(a == b, "killed and resumed: the same adapter bytes")

        // The YAML key flows into the config; a norm is refused naming the module.
        let yaml = folder.appendingPathComponent("train.yaml")
        try Data("max_steps: 1\nmodules_to_save: [input_layernorm]\n".utf8).write(to: yaml)
        let refused = try Lora.run([
            "train", "--model", model, "--data", data.path, "--out", folder.appendingPathComponent("norm").path,
            "--config", yaml.path,
        ])
        #expect(refused.status != 0 && refused.stderr.contains("model.layers.0.input_layernorm"), "\(refused.stderr)")

        // Merged: the trained head is written (untied); greedy ids equal the adapter's.
        let adapter = folder.appendingPathComponent("straight/adapter").path
        let merged = folder.appendingPathComponent("merged").path
        let merge = try Lora.run(["merge", "--model", model, "--adapter", adapter, "--out", merged])
        #expect(merge.status == 0, "\(merge.stderr)")
        let file = try SafetensorsFile(url: URL(fileURLWithPath: merged).appendingPathComponent("model.safetensors"))
        #expect(file.contains("lm_head.weight"))
        let prompt = ["--prompt", "Item 3:", "--temperature", "0", "--max-tokens", "8", "--json"]
        let withAdapter = try Lora.run(["generate", "--model", model, "--adapter", adapter] + prompt)
        let fromMerged = try Lora.run(["generate", "--model", merged] + prompt)
        #expect(withAdapter.status == 0 && fromMerged.status == 0, "\(withAdapter.stderr)\(fromMerged.stderr)")
        #expect(withAdapter.stdout == fromMerged.stdout)
    }
}
