// swift-tools-version:6.0
import PackageDescription

// Dependencies point one way (see DESIGN.md):
// Kernels → ModelFiles → Tokenizers → Models → LoRA → Training / Generation → Server → lora (CLI)
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
        .library(name: "Server", targets: ["Server"]),
        .executable(name: "lora", targets: ["LoRACLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
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
        // The OpenAI-compatible HTTP server and its web page (embedded, no files to install).
        .target(
            name: "Server",
            dependencies: [
                "ModelFiles", "Models", "Tokenizers", "LoRA", "Generation",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [.embedInCode("web/index.html")]
        ),
        .executableTarget(
            name: "LoRACLI",
            dependencies: [
                "Kernels", "ModelFiles", "Tokenizers", "Models", "LoRA", "Training", "Generation", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
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
            dependencies: ["Training", "Tokenizers", "Models", "LoRA", "ModelFiles", "Kernels", "TestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "GenerationTests", dependencies: ["Generation", "Models", "TestSupport"]),
        .testTarget(name: "CLITests", dependencies: ["Models", "ModelFiles", "TestSupport"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Models", "Generation", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
