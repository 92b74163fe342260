// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way (see DESIGN.md):
// Kernels → ModelFiles → Tokenizers → Models → Generation → lora (CLI)
let package = Package(
    name: "SwiftLoRA",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Kernels", targets: ["Kernels"]),
        .library(name: "ModelFiles", targets: ["ModelFiles"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "LoRA", targets: ["LoRA"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "Generation", targets: ["Generation"]),
        .executable(name: "lora", targets: ["LoRACLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        // Micro-kernels in C: per-function target attributes and run-time CPU dispatch give
        // AVX-512 (and AVX-512 BF16) speed in a plain `swift build`, with a portable fallback.
        .target(name: "CKernels"),
        .target(name: "Kernels", dependencies: ["CKernels"]),
        .target(name: "ModelFiles", dependencies: ["Kernels"]),
        .target(name: "Tokenizers", dependencies: ["ModelFiles"]),
        .target(name: "Models", dependencies: ["Kernels", "ModelFiles", "Tokenizers"]),
        .target(name: "LoRA", dependencies: ["Kernels", "ModelFiles", "Models"]),
        .target(name: "Training", dependencies: ["Tokenizers", "Models", "LoRA"]),
        .target(name: "Generation", dependencies: ["Models", "Tokenizers"]),
        .executableTarget(
            name: "LoRACLI",
            dependencies: [
                "Kernels", "ModelFiles", "Tokenizers", "Models", "LoRA", "Training", "Generation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // Locates ../shared/fixtures and the fetched real model for the test targets.
        .target(name: "TestSupport", path: "Sources/TestSupport"),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels", "TestSupport"]),
        .testTarget(name: "ModelFilesTests", dependencies: ["ModelFiles", "TestSupport"]),
        .testTarget(
            name: "TokenizersTests", dependencies: ["Tokenizers", "ModelFiles", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(
            name: "ModelsTests", dependencies: ["Models", "ModelFiles", "Tokenizers", "Generation", "TestSupport"]),
        .testTarget(
            name: "LoRATests", dependencies: ["LoRA", "Models", "Generation", "ModelFiles", "Kernels", "TestSupport"]),
        .testTarget(
            name: "TrainingTests",
            dependencies: ["Training", "Tokenizers", "Models", "LoRA", "ModelFiles", "Kernels", "TestSupport"]
        ),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Models", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Models", "ModelFiles", "TestSupport"]),
    ]
)
