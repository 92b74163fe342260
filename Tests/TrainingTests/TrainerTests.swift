import Foundation
import LoRA
import Models
import Testing
import TestSupport
import Tokenizers

@testable import Training

@Suite struct TrainerTests {
    @Test func schedulesFollowTransformers() throws {
        // get_linear_schedule_with_warmup(warmup=2, total=10) at steps 0…
        let linear = (0..<10).map { LearningRateSchedule.linear.factor(step: $0, total: 10, warmup: 2) }
        #expect(linear.prefix(3) == [0, 0.5, 1])
        #expect(abs(linear[6] - 0.5) < 1e-6)
        let cosine = LearningRateSchedule.cosine.factor(step: 6, total: 10, warmup: 2)
        #expect(abs(cosine - 0.5) < 1e-6)
        // get_constant_schedule_with_warmup(warmup=2); get_constant_schedule has no warm-up.
        let held = (0..<4).map { LearningRateSchedule.constantWithWarmup.factor(step: $0, total: 10, warmup: 2) }
        #expect(held == [0, 0.5, 1, 1])
        #expect(LearningRateSchedule.constant.factor(step: 0, total: 10, warmup: 0) == 1)
        // transformers ignores a warm-up with "constant": refused here, not dropped.
        var p = LoRATrainer.Parameters()
        p.schedule = .constant
        p.warmupRatio = 0.1
        #expect {
            try p.validate()
        } throws: { error in
            "\(error)".contains("lr_scheduler_type") && "\(error)".contains("constant_with_warmup")
        }
        p.schedule = .constantWithWarmup
        try p.validate()
    }

    /// An epoch learns each row once: its last step is short rather than borrowing rows of the
    /// next epoch (10 rows in steps of 4 are 4, 4 and 2 rows, as a DataLoader without drop_last).
    @Test func anEpochLearnsEachRowOnce() throws {
        let tiny = try TinyRun((0..<10).map { .text("row \($0) of ten") })
        let examples = tiny.examples
        let folder = TinyRun.folder("epochs")
        defer { try? FileManager.default.removeItem(at: folder) }
        var p = LoRATrainer.Parameters()
        p.epochs = 2
        p.batchSize = 2
        p.gradientAccumulationSteps = 2
        p.outputDirectory = folder
        p.recordBatches = true
        var epochs: [Double] = []
        try tiny.trainer(try tiny.adapter(seed: 1), p).run {
            epochs.append($0.epoch)
            return .continue
        }
        let expected = [0.4, 0.8, 1.0, 1.4, 1.8, 2.0]
        #expect(epochs.count == 6 && zip(epochs, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(epochs)")
        let steps = try String(contentsOf: folder.appendingPathComponent("batches.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { line in
                let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                return (object?["rows"] as? [[String: [Int]]] ?? []).map { $0["ids"] ?? [] }
            }
        #expect(steps.map(\.count) == [4, 4, 2, 4, 4, 2])
        let all = Set(examples.map(\.ids))
        #expect(all.count == 10)
        for epoch in [steps[0..<3], steps[3..<6]] {
            let learned = epoch.flatMap { $0 }
            #expect(learned.count == 10 && Set(learned) == all, "each row once per epoch")
        }
    }

    @Test func trainingLowersTheLossAndWritesTheRun() throws {
        let tiny = try TinyRun(TinyRun.sayNumbers(4))
        let (loaded, examples) = (tiny.loaded, tiny.examples)
        let adapter = try tiny.adapter(seed: 1) {
            $0.targetModules = .allLinear
            $0.r = 4
        }
        let folder = TinyRun.folder("train")
        defer { try? FileManager.default.removeItem(at: folder) }
        var p = LoRATrainer.Parameters()
        p.maxSteps = 30
        p.batchSize = 4
        p.learningRate = 1e-2
        p.schedule = .constant
        p.saveSteps = 10
        p.outputDirectory = folder
        let trainer = try tiny.trainer(adapter, p)
        let losses = try trainer.lossesToTheEnd()
        #expect(losses.count == 30)
        #expect(losses.last! < losses.first! - 0.5, "loss \(losses.first!) → \(losses.last!)")
        let lines = try String(contentsOf: folder.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n")
        #expect(lines.count == 30 && lines[0].contains("\"grad_norm\""))
        for name in ["adapter", "checkpoint-10", "checkpoint-20", "checkpoint-30"] {
            #expect(
                FileManager.default.fileExists(
                    atPath: folder.appendingPathComponent("\(name)/adapter_model.safetensors").path))
        }
        // The saved adapter reproduces the trained model.
        let fresh = try ModelLoader.load(path: Fixtures.url("tiny-llama").path).model
        try LoRAAdapter.load(folder: folder.appendingPathComponent("adapter")).attach(to: fresh)
        let e = examples[0]
        #expect(
            abs(
                try fresh.lossAndGradients(ids: e.ids, labels: e.labels)
                    - (try loaded.model.lossAndGradients(ids: e.ids, labels: e.labels))) < 1e-5)
        // A stop request ends the run early.
        var steps = 0
        try LoRATrainer(model: loaded.model, adapter: adapter, examples: examples, parameters: LoRATrainer.Parameters())
            .run { _ in
                steps += 1
                return .stop
            }
        #expect(steps == 1)
    }

    /// A run holds its folder: a second trainer on it is refused and writes nothing; once the
    /// first lets go the second runs, and leaves no lock file behind.
    @Test func aRunHoldsItsFolder() throws {
        let tiny = try TinyRun(TinyRun.sayNumbers(2))
        let folder = TinyRun.folder("lock")
        defer { try? FileManager.default.removeItem(at: folder) }
        var p = LoRATrainer.Parameters()
        p.maxSteps = 1
        p.outputDirectory = folder
        let trainer = try tiny.trainer(try tiny.adapter(seed: 1), p)
        let other = try RunFolderLock(folder)
        #expect(throws: LoRATrainer.TrainerError.self) { try LoRATrainer.checkFolderNotInUse(folder) }
        #expect {
            try trainer.run()
        } throws: { error in
            guard case LoRATrainer.TrainerError.folderInUse(let path) = error else { return false }
            return path == folder.path
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == [RunFolderLock.fileName])
        other.release()
        try LoRATrainer.checkFolderNotInUse(folder)
        // A checkpoint saved from the run's own progress callback is covered by the run's lock.
        var saved: Result<URL?, Error>?
        try trainer.run { _ in
            saved = Result { try trainer.saveCheckpointNow() }
            return .continue
        }
        #expect(try saved?.get()?.lastPathComponent == "checkpoint-1")
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(left == ["adapter", "checkpoint-1", "loss.svg", "metrics.jsonl"], "\(left)")
    }

    /// A step that leaves a weight NaN or infinite stops the run before it is saved: no checkpoint
    /// of it, no adapter, and the checkpoints before it untouched.
    @Test func nonFiniteWeightsAreNeverSaved() throws {
        let tiny = try TinyRun(TinyRun.sayNumbers(4))
        let folder = TinyRun.folder("nonfinite")
        defer { try? FileManager.default.removeItem(at: folder) }
        var p = LoRATrainer.Parameters()
        p.maxSteps = 6
        p.batchSize = 2
        p.learningRate = 3e38
        p.schedule = .constantWithWarmup
        p.warmupSteps = 4  // step 1 learns at rate 0 (checkpoint-1 is good); a later step overflows
        p.saveSteps = 1
        p.outputDirectory = folder
        let trainer = try tiny.trainer(try tiny.adapter(seed: 1) { $0.r = 2 }, p)
        var failed = 0
        #expect {
            try trainer.run()
        } throws: { error in
            guard case LoRATrainer.TrainerError.nonFiniteWeights(let step) = error else { return false }
            failed = step
            return true
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(failed >= 2 && !names.contains("adapter") && !names.contains("checkpoint-\(failed)"), "\(names)")
        for name in names where name.hasPrefix("checkpoint-") {
            let saved = try LoRAAdapter.load(folder: folder.appendingPathComponent(name))
            for (_, pair) in saved.modules {
                #expect(LoRATrainer.allFinite(pair.a) && LoRATrainer.allFinite(pair.b), "\(name)")
            }
        }
        #expect(names.contains("checkpoint-1"))
    }

    /// Settings no run can use, and rows with nothing to predict, are refused when the trainer is made.
    @Test func theTrainerRefusesWhatNoRunCanUse() throws {
        let loaded = try ModelLoader.load(path: Fixtures.url("tiny-llama").path)
        let adapter = try LoRAAdapter.create(config: LoRAConfig(), for: loaded.model, seed: 1)
        let good = EncodedExample(ids: [1, 2, 3], labels: [-100, 2, 3])
        var p = LoRATrainer.Parameters()
        p.batchSize = 0
        #expect(throws: LoRATrainer.TrainerError.self) {
            try LoRATrainer(model: loaded.model, adapter: adapter, examples: [good], parameters: p)
        }
        // Only the first label: nothing predicts it.
        let nothing = EncodedExample(ids: [1, 2], labels: [1, -100])
        #expect {
            try LoRATrainer(
                model: loaded.model, adapter: adapter, examples: [good, nothing], parameters: LoRATrainer.Parameters())
        } throws: { error in
            "\(error)" == "'examples[1]' has no token to predict"
        }
    }

    /// `lora_dropout` is applied while training: a run with dropout differs from one without,
    /// the same seed repeats it bit for bit, and each adapter's mask stream advances.
    @Test func dropoutIsAppliedAndSeeded() throws {
        func run(dropout: Double, seed: UInt64) throws -> (losses: [Float], states: [UInt64], initial: [UInt64]) {
            let tiny = try TinyRun(TinyRun.sayNumbers(4))
            let adapter = try tiny.adapter(seed: 1) {
                $0.r = 4
                $0.loraDropout = dropout
            }
            var p = LoRATrainer.Parameters()
            p.maxSteps = 3
            p.batchSize = 2
            p.learningRate = 1e-2
            p.seed = seed
            let trainer = try tiny.trainer(adapter, p)
            let initial = trainer.state.dropoutRandom
            return (try trainer.lossesToTheEnd(), trainer.state.dropoutRandom, initial)
        }
        let plain = try run(dropout: 0, seed: 7)
        let dropped = try run(dropout: 0.5, seed: 7)
        let again = try run(dropout: 0.5, seed: 7)
        let otherSeed = try run(dropout: 0.5, seed: 8)
        // B starts at zero, so the first loss is the base model's; B's first gradient already sees dropped inputs.
        #expect(plain.losses[0] == dropped.losses[0] && plain.losses[1] != dropped.losses[1])
        #expect(dropped.losses == again.losses && dropped.states == again.states)
        #expect(dropped.losses != otherSeed.losses)
        #expect(Set(dropped.initial).count == dropped.initial.count, "one mask stream per adapter")
        #expect(zip(dropped.initial, dropped.states).allSatisfy { $0 != $1 }, "every stream advanced")
        #expect(plain.initial == plain.states, "no dropout draws no masks")
    }
}

/// A run interrupted after a checkpoint and resumed ends with the same adapter bytes.
@Suite struct ResumeTests {
    func run(_ folder: URL, steps: Int, stopAfter: Int? = nil, resume: Bool = false) throws {
        let tiny = try TinyRun(
            (0..<5).map { .alpaca(instruction: "Count to \($0).", input: "", output: "\($0) done.") })
        let adapter = try tiny.adapter(seed: 3) {
            $0.targetModules = .allLinear
            $0.r = 4
            $0.loraDropout = 0.1
        }
        var p = LoRATrainer.Parameters()
        p.maxSteps = steps
        p.batchSize = 2
        p.learningRate = 5e-3
        p.warmupSteps = 2
        p.saveSteps = 3
        p.saveTotalLimit = 2
        p.outputDirectory = folder
        p.recordBatches = true
        let trainer = try tiny.trainer(adapter, p)
        if resume, let checkpoint = LoRATrainer.latestCheckpoint(in: folder) { try trainer.resume(from: checkpoint) }
        try trainer.run { progress in progress.step == stopAfter ? .stop : .continue }
    }

    @Test func resumedRunIsByteIdentical() throws {
        let base = TinyRun.folder("resume")
        defer { try? FileManager.default.removeItem(at: base) }
        let straight = base.appendingPathComponent("straight")
        let interrupted = base.appendingPathComponent("interrupted")
        try run(straight, steps: 8)
        try run(interrupted, steps: 8, stopAfter: 6)
        // A half-written checkpoint (no state file) is ignored.
        try FileManager.default.createDirectory(
            at: interrupted.appendingPathComponent("checkpoint-7"), withIntermediateDirectories: true)
        #expect(LoRATrainer.latestCheckpoint(in: interrupted)?.lastPathComponent == "checkpoint-6")
        // The resumed steps' elapsed time goes on from the checkpoint's step (set here to 1000 s).
        let metricsURL = interrupted.appendingPathComponent("metrics.jsonl")
        var metricsLines = try String(contentsOf: metricsURL, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(metricsLines.count == 6)
        metricsLines[5] = metricsLines[5].replacingOccurrences(
            of: #""elapsed": [0-9.]+"#, with: #""elapsed": 1000.00"#, options: .regularExpression)
        try Data((metricsLines.joined(separator: "\n") + "\n").utf8).write(to: metricsURL)
        try run(interrupted, steps: 8, resume: true)
        let elapsed = try String(contentsOf: metricsURL, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.map { $0?["elapsed"] as? Double ?? -1 }
        #expect(
            elapsed.count == 8 && elapsed[5] == 1000 && elapsed[6] >= 1000 && elapsed[7] >= elapsed[6], "\(elapsed)")
        let a = try Data(contentsOf: straight.appendingPathComponent("adapter/adapter_model.safetensors"))
        let b = try Data(contentsOf: interrupted.appendingPathComponent("adapter/adapter_model.safetensors"))
        #expect(a == b)
        // The recorded inputs: one line per step, the same for the resumed run (steps after the
        // checkpoint are dropped and written again), each row one of the examples.
        let recorded = try String(contentsOf: straight.appendingPathComponent("batches.jsonl"), encoding: .utf8)
        let resumed = try String(contentsOf: interrupted.appendingPathComponent("batches.jsonl"), encoding: .utf8)
        #expect(recorded == resumed)
        let lines = recorded.split(separator: "\n")
        #expect(lines.count == 8)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        let rows = first?["rows"] as? [[String: [Int]]] ?? []
        #expect(first?["step"] as? Int == 1 && rows.count == 2)
        #expect(rows.allSatisfy { $0["ids"]?.count == $0["labels"]?.count && $0["ids"]!.count > 0 })
        // --save-total-limit 2 keeps the two newest checkpoints.
        let kept = try FileManager.default.contentsOfDirectory(atPath: straight.path).filter {
            $0.hasPrefix("checkpoint-")
        }
        #expect(Set(kept) == ["checkpoint-3", "checkpoint-6"])
    }
}

@Suite struct EvalDuringTrainingTests {
    @Test func evalLossIsLoggedAndChartDrawn() throws {
        let tiny = try TinyRun((0..<3).map { .text("sample \($0) text") })
        let (loaded, examples) = (tiny.loaded, tiny.examples)
        let adapter = try tiny.adapter(seed: 5)
        let folder = TinyRun.folder("evaltrain")
        defer { try? FileManager.default.removeItem(at: folder) }
        var p = LoRATrainer.Parameters()
        p.maxSteps = 4
        p.evalExamples = Array(examples.prefix(1))
        p.evalSteps = 2
        p.outputDirectory = folder
        var evals: [Double] = []
        try tiny.trainer(adapter, p).run {
            if let e = $0.evalLoss { evals.append(e) }
            return .continue
        }
        #expect(evals.count == 2)
        let expected = try Evaluation.run(loaded.model, on: Array(examples.prefix(1))).loss
        #expect(abs(evals.last! - expected) < 1e-6)
        let metrics = try String(contentsOf: folder.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(metrics.components(separatedBy: "eval_loss").count == 3)
        let svg = try String(contentsOf: folder.appendingPathComponent("loss.svg"), encoding: .utf8)
        #expect(svg.hasPrefix("<svg") && svg.contains("polyline") && svg.contains("#ff7f0e"))
    }
}

extension LoRATrainer {
    /// Runs to the end and returns each step's loss.
    func lossesToTheEnd() throws -> [Float] {
        var losses: [Float] = []
        try run { progress in
            losses.append(progress.loss)
            return .continue
        }
        return losses
    }
}
