import ArgumentParser

@main
struct Lora: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lora",
        abstract: "Fine-tune, run and serve language models with LoRA adapters on the CPU."
    )
}
