import Foundation
import Kernels
import LoRA
import Models
import Testing
import TestSupport
import Tokenizers
import Training

/// The README's training loop without the trainer: forward, loss, backward, clip, AdamW, save.
@Suite struct HandWrittenLoopTests {
    @Test func readmeLoopTrainsAndSaves() throws {
        let loaded = try ModelLoader.load(path: Fixtures.url("tiny-llama").path)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swiftlora-loop-\(getpid())")
        defer { try? FileManager.default.removeItem(at: folder) }

        // --- as in the README ---
        var config = LoRAConfig()
        config.r = 8
        config.targetModules = .names(["q_proj", "v_proj"])
        let adapter = try LoRAAdapter.create(config: config, for: loaded.model, seed: 42)
        try adapter.attach(to: loaded.model)
        let linears = loaded.model.adapters.values.flatMap { $0 }.compactMap { $0 as? LoRALinear }
        let parameters = linears.flatMap { [($0.a, $0.gradA), ($0.b, $0.gradB)] }
        var optimizer = AdamW(learningRate: 1e-2, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)

        let encoder = ExampleEncoder(tokenizer: loaded.tokenizer, chatTemplate: loaded.chatTemplate)
        let example = try encoder.encode(
            .chat([ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Hello there!")]))
        var losses: [Float] = []
        for _ in 0..<20 {
            linears.forEach { $0.zeroGradients() }
            // Forward, loss, and backward into the adapters' gradients.
            let loss = try loaded.model.lossAndGradients(ids: example.ids, labels: example.labels)
            let norm = parameters.reduce(Float(0)) { sum, p in
                sum + (0..<p.1.count).reduce(Float(0)) { $0 + p.1.pointer[$1] * p.1.pointer[$1] }
            }.squareRoot()
            if norm > 1 { for (_, g) in parameters { for i in 0..<g.count { g.pointer[i] /= norm } } }  // clip to 1
            optimizer.update(parameters)
            losses.append(loss)
        }
        try adapter.save(folder: folder)  // the attached tensors were trained in place
        // --- end ---

        #expect(losses.last! < losses.first! - 0.3, "\(losses.first!) → \(losses.last!)")
        let fresh = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        try LoRAAdapter.load(folder: folder).attach(to: fresh)
        let again = try fresh.lossAndGradients(ids: example.ids, labels: example.labels)
        let trained = try loaded.model.lossAndGradients(ids: example.ids, labels: example.labels)
        #expect(abs(again - trained) < 1e-5, "the saved adapter is the trained one")
    }
}
