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
        let arguments = joiningNegativeNumbers(Array(CommandLine.arguments.dropFirst()))
        do {
            var command: any ParsableCommand
            do {
                command = try parseAsRoot(arguments)
            } catch {
                // A misspelt option is the error to report, not what its absence left missing.
                guard let unknown = UnknownOptions.first(in: arguments, root: Self.self) else { throw error }
                let hint = unknown.suggestion.map { " (did you mean '\($0)'?)" } ?? ""
                FileHandle.standardError.write(Data("Error: Unknown option '\(unknown.name)'\(hint)\n".utf8))
                Foundation.exit(ExitCode.validationFailure.rawValue)
            }
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
            else {
                // A file-system failure (a read-only folder, a full disk) as one line naming the file.
                if let line = Self.fileSystemError(error) {
                    FileHandle.standardError.write(Data("error: \(line)\n".utf8))
                    Foundation.exit(1)
                }
                exit(withError: error)
            }
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            Foundation.exit(1)
        }
    }

    /// Foundation's file errors as `PATH: reason (system reason)`; nil for other errors.
    static func fileSystemError(_ error: any Error) -> String? {
        guard error is CocoaError || (error as NSError).domain == NSPOSIXErrorDomain else { return nil }
        let ns = error as NSError
        var line = ns.localizedDescription
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
            let reason = strerror(Int32(underlying.code))
        {
            line += " (\(String(cString: reason)))"
        }
        let path = ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
        return path.map { "\($0): \(line)" } ?? line
    }

    /// `--option -0.5` as `--option=-0.5`: ArgumentParser reads a word starting with `-` as an
    /// option, so a negative number after a space was "Missing value" instead of the number
    /// (which the command then accepts or refuses by name).
    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var out: [String] = []
        for argument in arguments {
            let lower = argument.lowercased()
            let negativeNumber =
                lower.hasPrefix("-") && Double(lower) != nil && lower.dropFirst().first.map { $0 != "-" } == true
            if negativeNumber, let previous = out.last, previous.hasPrefix("--"), previous.count > 2,
                !previous.contains("=")
            {
                out[out.count - 1] = previous + "=" + argument
            } else {
                out.append(argument)
            }
        }
        return out
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
