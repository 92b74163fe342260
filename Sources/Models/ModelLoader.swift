import Foundation
import Kernels
import ModelFiles
import Tokenizers

/// A model ready to run: weights, tokenizer and chat template, from one path.
public struct LoadedModel: @unchecked Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    /// The model's own chat template, parsed; `nil` when the model has none.
    public let chatTemplate: ChatTemplate?
    public let chatTemplateSource: String?
    /// A short name: the file or folder name without extension.
    public let name: String
    /// What was read, e.g. "GGUF v3" or "safetensors (1 file)".
    public let source: String
    /// The GGUF file the model came from, if it came from one.
    public var ggufFile: GGUFFile? = nil
    /// The Hugging Face folder the model came from, if it came from one.
    public var folder: URL? = nil

    /// The ids of a plain prompt, with the special tokens the tokenizer adds (e.g. a BOS).
    public func promptIDs(_ text: String) -> [Int] {
        tokenizer.encode(text, addSpecialTokens: true)
    }

    /// Renders `messages` with the chat template and the generation prompt, then tokenizes the
    /// text as transformers' `apply_chat_template` does (special tokens come from the template).
    public func chatPromptIDs(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Int] {
        guard let chatTemplate else {
            throw ModelError.invalidInput("\(name) has no chat template; use a plain prompt")
        }
        let text = try chatTemplate.render(
            messages: messages, addGenerationPrompt: addGenerationPrompt, bosToken: tokenizer.bosToken,
            eosToken: tokenizer.eosToken)
        return tokenizer.encode(text, addSpecialTokens: false)
    }
}

/// Loads models from a GGUF file or a Hugging Face folder.
public enum ModelLoader {
    /// Loads everything needed to run the model at `path`.
    public static func load(path: String) throws -> LoadedModel {
        // Standardized, so that "DIR/." or "DIR/" is named after DIR.
        let url = URL(fileURLWithPath: path).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError.notFound(path)
        }
        if isDirectory.boolValue { return try loadFolder(url) }
        return try loadGGUF(url)
    }

    /// Loads only the tokenizer at `path` (fast: no weights are touched).
    public static func loadTokenizer(path: String) throws -> Tokenizer {
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ModelError.notFound(path)
        }
        if isDirectory.boolValue { return try Tokenizer.load(folder: url) }
        return try Tokenizer(ggufVocabulary: GGUFVocabulary(try GGUFFile(url: url)))
    }

    static func loadGGUF(_ url: URL) throws -> LoadedModel {
        let file = try GGUFFile(url: url)
        let architecture = try file.architecture()
        guard LlamaConfiguration.supportedModelTypes.contains(architecture) else {
            throw ModelError.unsupportedArchitecture(architecture)
        }
        let configData = try file.huggingFaceConfig()
        var configuration = try LlamaConfiguration.decode(configData, source: url.lastPathComponent)
        let vocabulary = try GGUFVocabulary(file)
        configuration.generationEOSTokenIDs = vocabulary.endOfGenerationIDs
        let store = try GGUFStore(file: file)
        let model = try build(configuration, store, source: url.path, sizesFrom: "the file's metadata")
        let tokenizer = try Tokenizer(ggufVocabulary: vocabulary)
        let source = vocabulary.chatTemplate
        return LoadedModel(
            model: model, tokenizer: tokenizer, chatTemplate: try source.map { try ChatTemplate($0) },
            chatTemplateSource: source, name: url.deletingPathExtension().lastPathComponent,
            source: "GGUF v\(file.version), \(file.tensorInfos.count) tensors", ggufFile: file)
    }

    static func loadFolder(_ url: URL) throws -> LoadedModel {
        let configURL = url.appendingPathComponent("config.json")
        guard let configData = FileManager.default.contents(atPath: configURL.path) else {
            throw ModelError.notFound(configURL.path)
        }
        var configuration = try LlamaConfiguration.decode(configData, source: configURL.path)
        configuration.generationEOSTokenIDs = try generationEOSTokenIDs(in: url)
        let store = try SafetensorsStore(folder: url)
        let model = try build(configuration, store, source: url.path, sizesFrom: "config.json")
        let tokenizer = try Tokenizer.load(folder: url)
        let source = tokenizer.chatTemplate
        return LoadedModel(
            model: model, tokenizer: tokenizer, chatTemplate: try source.map { try ChatTemplate($0) },
            chatTemplateSource: source, name: url.lastPathComponent,
            source: "Hugging Face folder (safetensors)", folder: url)
    }

    /// `eos_token_id` of the folder's `generation_config.json` (one id or a list), which
    /// transformers' `generate` stops on; none when the file is absent.
    static func generationEOSTokenIDs(in folder: URL) throws -> [Int] {
        struct GenerationConfig: Decodable {
            var ids: [Int]?
            enum CodingKeys: String, CodingKey { case eosTokenID = "eos_token_id" }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                if let one = try? c.decodeIfPresent(Int.self, forKey: .eosTokenID) {
                    ids = [one]
                } else {
                    ids = try c.decodeIfPresent([Int].self, forKey: .eosTokenID)
                }
            }
        }
        let url = folder.appendingPathComponent("generation_config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        do {
            return try JSONDecoder().decode(GenerationConfig.self, from: data).ids ?? []
        } catch {
            throw ModelError.invalidConfiguration(
                url.path, "not valid JSON, or 'eos_token_id' is not an id or a list of ids")
        }
    }

    /// The model, or an error naming the file when a tensor's shape is not the configured one.
    static func build(_ configuration: LlamaConfiguration, _ store: TensorStore, source: String, sizesFrom: String)
        throws -> LlamaModel
    {
        do {
            return try LlamaModel(configuration: configuration, tensors: store)
        } catch ModelError.shapeMismatch(let name, let expected, let found) {
            throw ModelError.invalidConfiguration(
                source, "tensor '\(name)' has shape \(found), but the sizes in \(sizesFrom) need \(expected)")
        }
    }
}
