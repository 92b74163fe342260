import ArgumentParser
import Foundation

@main
struct Lora: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lora",
        abstract: "Fine-tune, run and serve language models with LoRA adapters on the CPU.",
        subcommands: [Generate.self, Chat.self, Tokenize.self, Inspect.self, Bench.self]
    )

    /// Runs the command, printing one clear line and exiting non-zero on any error.
    static func mainWithCleanErrors() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as CustomStringConvertible where !(error is ExitCode) && !(error is CleanExit)
            && !(error is ValidationError)
        {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            Foundation.exit(1)
        } catch {
            exit(withError: error)
        }
    }

    static func main() { mainWithCleanErrors() }
}
