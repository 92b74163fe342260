import ArgumentParser
import Foundation
import Kernels
import Models

/// `lora inspect`: what a model file holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model's architecture, sizes, tensor formats, tokenizer and chat template.")

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "Also print the chat template's source.") var template = false

    func run() throws {
        let loaded = try modelOptions.load()
        let c = loaded.model.configuration
        var formats: [WeightFormat: Int] = [:]
        var parameters = 0
        var bytes = 0
        for m in loaded.model.weightMatrices {
            formats[m.format, default: 0] += 1
            parameters += m.rows * m.columns
            bytes += m.rows * m.rowBytes
        }
        let source = loaded.chatTemplateSource
        print(
            """
            model:         \(loaded.name)
            source:        \(loaded.source)
            architecture:  \(c.modelType)
            layers:        \(c.numHiddenLayers)
            hidden size:   \(c.hiddenSize)
            intermediate:  \(c.intermediateSize)
            heads:         \(c.numAttentionHeads) query, \(c.numKeyValueHeads) key/value, head dim \(c.headDim)
            vocabulary:    \(c.vocabSize)
            context:       \(c.maxPositionEmbeddings)
            rope theta:    \(c.ropeTheta)\(c.ropeScaling.map { ", scaling \($0.ropeType) ×\($0.factor)" } ?? "")
            tied head:     \(c.tieWordEmbeddings)
            q/k/v bias:    \(c.attentionBias)
            parameters:    \(parameters) in matrices (\(String(format: "%.1f", Double(bytes) / 1_048_576)) MiB stored)
            formats:       \(formats.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) ×\($0.value)" }.joined(separator: ", "))
            tokenizer:     \(loaded.tokenizer.vocabularySize) tokens, bos \(loaded.tokenizer.bosTokenID.map(String.init) ?? "none"), eos \(loaded.tokenizer.eosTokenIDs.sorted())
            chat template: \(source.map { "\($0.count) characters" + (template ? "" : " (--template prints it)") } ?? "none")
            """)
        if template, let source { print(source) }
    }
}
