import Foundation
import Kernels
import LoRA
import Models
import Testing
import TestSupport
import Tokenizers

@testable import Training

/// `--packing`: rows packed into one sequence train exactly as they do one at a time.
@Suite struct PackingTests {
    static func setUp() throws -> (LoadedModel, [EncodedExample]) {
        let tiny = try TinyRun(
            (0..<6).map {
                .alpaca(
                    instruction: "Say \($0) in words, please.", input: $0 % 2 == 0 ? "" : "Politely.",
                    output: String(repeating: "Number \($0). ", count: $0 + 1))
            })
        return (tiny.loaded, tiny.examples)
    }

    static func gradients(_ model: LlamaModel) -> [[Float]] {
        model.adapters.sorted { $0.key.modulePath < $1.key.modulePath }.flatMap { _, list in
            list.compactMap { $0 as? LoRALinear }.flatMap { [$0.gradA.toArray(), $0.gradB.toArray()] }
        }
    }

    @Test func packedSequenceGivesTheLossAndGradientsOfSeparateRows() throws {
        let (loaded, examples) = try Self.setUp()
        var config = LoRAConfig()
        config.targetModules = .allLinear
        config.r = 4
        // Non-zero B, so every gradient path carries signal.
        let adapter = try LoRAAdapter.create(config: config, for: loaded.model, seed: 3)
        var modules = adapter.modules
        for (path, pair) in modules {
            var random = SplitMix64(seed: UInt64(path.count))
            let b = pair.b
            for i in 0..<b.count { b.pointer[i] = random.unit() * 0.02 - 0.01 }
            modules[path] = (pair.a, b)
        }
        try LoRAAdapter(config: config, modules: modules).attach(to: loaded.model)
        let model = loaded.model
        let rows = Array(examples.prefix(3))

        // One at a time: each row's mean loss, its gradient weighted by its share of the targets.
        let targets = rows.map { $0.labels.dropFirst().filter { $0 != EncodedExample.ignored }.count }
        let total = Float(targets.reduce(0, +))
        var separateLoss: Float = 0
        for (e, n) in zip(rows, targets) {
            let w = Float(n) / total
            separateLoss += w * (try model.lossAndGradients(ids: e.ids, labels: e.labels, gradientScale: w))
        }
        let separate = Self.gradients(model)
        for list in model.adapters.values { for case let l as LoRALinear in list { l.zeroGradients() } }

        // Packed: one sequence, positions and attention restarting at each row.
        var ids: [Int] = []
        var labels: [Int] = []
        for e in rows {
            ids += e.ids
            labels += [EncodedExample.ignored] + e.labels.dropFirst()
        }
        let packedLoss = try model.lossAndGradients(ids: ids, labels: labels, segments: rows.map(\.ids.count))
        let packed = Self.gradients(model)
        #expect(abs(packedLoss - separateLoss) < 1e-5, "\(packedLoss) vs \(separateLoss)")
        var worst: Float = 0
        for (a, b) in zip(packed, separate) {
            let diff = zip(a, b).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
            let norm = b.map { $0 * $0 }.reduce(0, +).squareRoot()
            worst = max(worst, diff / max(norm, 1e-12))
        }
        #expect(worst < 1e-4, "largest relative gradient difference \(worst)")
        #expect(!separate.allSatisfy { $0.allSatisfy { $0 == 0 } })

        // Without segments, the rows would see each other: the loss differs.
        let unsegmented = try model.lossAndGradients(ids: ids, labels: labels)
        #expect(abs(unsegmented - separateLoss) > 1e-3)
        #expect(throws: ModelError.self) { try model.lossAndGradients(ids: ids, labels: labels, segments: [3, 4]) }
    }

    @Test func packingGroupsInOrderUpToTheLength() {
        let rows = [3, 4, 2, 9, 1].map {
            EncodedExample(ids: Array(repeating: 1, count: $0), labels: Array(repeating: 1, count: $0))
        }
        #expect(LoRATrainer.pack(rows, length: 8).map { $0.map(\.ids.count) } == [[3, 4], [2], [9], [1]])
    }

    @Test func packedRunFollowsTheUnpackedRun() throws {
        func run(packing: Bool) throws -> [Float] {
            let (loaded, examples) = try Self.setUp()
            var config = LoRAConfig()
            config.targetModules = .allLinear
            config.r = 4
            let adapter = try LoRAAdapter.create(config: config, for: loaded.model, seed: 1)
            var p = LoRATrainer.Parameters()
            p.maxSteps = 6
            p.batchSize = 3
            p.learningRate = 1e-2
            p.packing = packing
            p.packLength = 4096
            return try LoRATrainer(model: loaded.model, adapter: adapter, examples: examples, parameters: p)
                .lossesToTheEnd()
        }
        let plain = try run(packing: false)
        let packed = try run(packing: true)
        #expect(plain.count == 6)
        for (a, b) in zip(plain, packed) { #expect(abs(a - b) < 1e-4, "\(plain) vs \(packed)") }
    }
}
