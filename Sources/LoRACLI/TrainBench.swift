import ArgumentParser
import Foundation
import Kernels
import LoRA
import Models
import Training

/// Training throughput, set up like ../shared/bench/peft_train_bench.py: fixed random tokens,
/// every position labelled, LoRA on the given targets, AdamW, timed full steps after warm-up.
struct TrainBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "LoRA training steps per second (forward, backward, AdamW).")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Sequences per step.") var batch = 4
    @Option(help: "Tokens per sequence.") var seq = 256
    @Option(help: "LoRA rank.") var rank = 8
    @Option(help: "LoRA alpha.") var alpha: Double = 16
    @Option(help: "Target modules, comma-separated, or all-linear.") var targets = "q_proj,k_proj,v_proj,o_proj"
    @Option(help: "Timed steps (the median is reported).") var steps = 4
    @Option(help: "Untimed steps first.") var warmup = 1
    @Flag(help: "Recompute layers in backward.") var gradCheckpointing = false
    @Flag(help: "Pack the batch's sequences into one.") var packing = false
    @Flag(help: "bfloat16 GEMMs with the frozen base weights.") var bf16 = false

    func validate() throws {
        for (flag, value, least) in [
            ("--batch", batch, 1), ("--seq", seq, 2), ("--rank", rank, 1), ("--steps", steps, 1),
            ("--warmup", warmup, 0),
        ]
        where value < least {
            throw ValidationError("\(flag) must be at least \(least), not \(value)")
        }
        guard alpha > 0, alpha.isFinite else {
            throw ValidationError("--alpha must be a positive number, not \(alpha)")
        }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        var config = LoRAConfig()
        config.r = rank
        config.loraAlpha = alpha
        config.loraDropout = 0
        config.targetModules =
            targets == "all-linear" ? .allLinear : .names(targets.split(separator: ",").map(String.init))
        let adapter = try LoRAAdapter.create(config: config, for: loaded.model, seed: 0)
        var random = SplitMix64(seed: 1)
        let vocab = loaded.model.configuration.vocabSize
        let examples = (0..<batch).map { _ in
            let ids = (0..<seq).map { _ in Int(random.next() % UInt64(vocab)) }
            return EncodedExample(ids: ids, labels: ids)
        }
        var p = LoRATrainer.Parameters()
        p.batchSize = batch
        p.maxSteps = warmup + steps
        p.learningRate = 1e-4
        p.schedule = .constant
        p.maxGradNorm = 0
        p.gradientCheckpointing = gradCheckpointing
        p.packing = packing
        p.precision = bf16 ? .bfloat16 : .float32
        p.packLength = batch * seq
        let trainer = try LoRATrainer(model: loaded.model, adapter: adapter, examples: examples, parameters: p)
        var times: [Double] = []
        var losses: [Float] = []
        var last = 0.0
        try trainer.run { progress in
            if progress.step > warmup {
                times.append(progress.elapsed - last)
                losses.append(progress.loss)
            }
            last = progress.elapsed
            return .continue
        }
        let median = times.sorted()[times.count / 2]
        let line: [String: Any] = [
            "impl": "swiftlora", "base": "\(loaded.model.layers[0].qProj.format)", "batch": batch, "seq": seq,
            "rank": rank, "targets": targets,
            "grad_checkpointing": gradCheckpointing, "packing": packing, "bf16": bf16,
            "bf16_kernel": bf16 ? "\(Gemm.bf16Kernel)" : "none", "threads": ThreadPool.shared.threadCount,
            "s_per_step_median": (median * 1000).rounded() / 1000,
            "tokens_per_s": (Double(batch * seq) / median * 10).rounded() / 10,
            "peak_rss_mib": (peakRSSMiB() * 10).rounded() / 10,
            "losses": losses.map { (Double($0) * 10000).rounded() / 10000 },
        ]
        let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
