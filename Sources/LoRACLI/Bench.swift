import ArgumentParser
import Foundation
import Generation
import Kernels
import Models

/// `lora bench`: benchmarks that print one JSON object per line (results go to BENCHMARKS.md).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks printing JSON lines (not tests).",
        subcommands: [GemmBench.self, GenerateBench.self, TrainBench.self])
}

/// GEMM GFLOP/s on the shapes a 135M Llama trains with (those of ../shared/bench/gemm_numpy.py).
struct GemmBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gemm", abstract: "GEMM GFLOP/s per shape.")

    @Option(help: "Worker threads.")
    var threads: Int = 2

    @Option(
        help: "Weight format of the B operand for the linear form (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)."
    )
    var format: String = "F32"

    @Option(help: "Timed repetitions per shape (the median is reported).")
    var repeats: Int = 5

    @Option(help: "Rows of A (M) for every shape instead of the listed ones (training runs one sequence at a time).")
    var rows: Int?

    static let shapes = [
        (1024, 576, 1536), (1024, 1536, 576), (1024, 576, 576), (1024, 576, 192), (1024, 576, 49152),
        (2048, 2048, 2048),
    ]

    var weightFormat: WeightFormat? {
        WeightFormat.allCases.first(where: { $0.rawValue.lowercased() == format.lowercased() })
    }

    func validate() throws {
        guard weightFormat != nil else { throw ValidationError("unknown format '\(format)'") }
        if let rows, rows < 1 { throw ValidationError("--rows must be at least 1, not \(rows)") }
        for (flag, value) in [("--threads", threads), ("--repeats", repeats)] where value < 1 {
            throw ValidationError("\(flag) must be at least 1, not \(value)")
        }
    }

    func run() throws {
        guard let weightFormat else { throw ValidationError("unknown format '\(format)'") }
        ThreadPool.shared.threadCount = threads
        for (listed, listedK, n) in Self.shapes {
            let m = rows ?? listed
            // A block format quantizes along K: K-quants' 256-value blocks need K rounded up (576 → 768).
            let block = weightFormat.blockElements
            let k = (listedK + block - 1) / block * block
            let gflops = GemmBenchmark.run(m: m, n: n, k: k, format: weightFormat, repeats: repeats)
            print(
                #"{"impl": "swiftlora", "form": "\#(weightFormat == .f32 ? "sgemm" : "linear")", "format": "\#(weightFormat.rawValue)", "threads": \#(threads), "m": \#(m), "k": \#(k), "n": \#(n), "gflops": \#(String(format: "%.1f", gflops))}"#
            )
        }
    }
}

/// Prefill and decode tokens/s on a real model, with peak RSS.
struct GenerateBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Prefill (512-token prompt) and decode (128 tokens) speed.")

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Prompt tokens for the prefill measurement.")
    var promptTokens: Int = 512

    @Option(help: "Tokens to decode.")
    var decodeTokens: Int = 128

    @Option(help: "Repetitions (the median is reported).")
    var repeats: Int = 3

    func validate() throws {
        for (flag, value) in [
            ("--prompt-tokens", promptTokens), ("--decode-tokens", decodeTokens), ("--repeats", repeats),
        ]
        where value < 1 {
            throw ValidationError("\(flag) must be at least 1, not \(value)")
        }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        let model = loaded.model
        let context = model.configuration.maxPositionEmbeddings
        guard promptTokens + decodeTokens < context else {
            throw CLIError(
                "--prompt-tokens \(promptTokens) + --decode-tokens \(decodeTokens) is over the model's context of \(context) tokens"
            )
        }
        // A deterministic prompt of ordinary tokens (ids cycle over a plain range).
        let prompt = (0..<promptTokens).map { 1000 + ($0 * 37) % 20000 }
        var prefill: [Double] = []
        var decode: [Double] = []
        for _ in 0..<repeats {
            let cache = try KVCache(
                configuration: model.configuration, slots: 1, capacity: promptTokens + decodeTokens + 1)
            var start = Date()
            var logits = try model.forward([.init(slot: 0, tokens: prompt)], cache: cache, outputs: .last)
            prefill.append(Double(promptTokens) / Date().timeIntervalSince(start))
            var next = Sampler.argmax(UnsafeBufferPointer(start: logits.pointer, count: logits.count))
            start = Date()
            for _ in 0..<decodeTokens {
                logits = try model.forward([.init(slot: 0, tokens: [next])], cache: cache, outputs: .last)
                next = Sampler.argmax(UnsafeBufferPointer(start: logits.pointer, count: logits.count))
            }
            decode.append(Double(decodeTokens) / Date().timeIntervalSince(start))
        }
        func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
        print(
            String(
                format:
                    #"{"impl": "swiftlora", "model": "%@", "threads": %d, "prefill_tokens": %d, "prefill_tok_s": %.1f, "decode_tokens": %d, "decode_tok_s": %.1f, "peak_rss_mib": %.1f}"#,
                loaded.name, ThreadPool.shared.threadCount, promptTokens, median(prefill), decodeTokens, median(decode),
                peakRSSMiB()))
    }
}

/// Peak resident set size of this process (Linux `VmHWM`), in MiB; 0 where unavailable.
func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
        return kb / 1024
    }
    return 0
}
