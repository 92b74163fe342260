import ArgumentParser
import Foundation
import Generation
import Kernels
import LoRA
import ModelFiles
import Server
import Models
import Tokenizers
import Training

@main
struct Lora: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lora",
        abstract: "Fine-tune, run and serve language models with LoRA adapters on the CPU.",
        subcommands: [
            Train.self, Eval.self, Generate.self, Chat.self, Merge.self, Tokenize.self, Inspect.self, Bench.self,
            Serve.self,
        ]
    )

    /// Runs the command, printing one clear line and exiting non-zero on any error.
    static func mainWithCleanErrors() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            // Errors from our modules are one readable line; argument errors keep ArgumentParser's usage text.
            guard
                error is ModelError || error is ModelFileError || error is TokenizerError || error is ChatTemplateError
                    || error is GenerationError || error is LoRAError || error is DatasetError || error is CLIError
                    || error is LoRATrainer.TrainerError || error is ServerStartError
            else { exit(withError: error) }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }

    static func main() async {
        // Training keeps its freed activations for the next step; set before any other thread
        // allocates. Serving and the rest hand memory back as usual.
        if let command = CommandLine.arguments.dropFirst().first, ["train", "bench"].contains(command) {
            Allocator.keepFreedMemory()
        }
        await mainWithCleanErrors()
    }
}
