import ModelFiles

extension GGUFVocabulary {
    /// Reads the tokenizer stored in a GGUF file's metadata (`tokenizer.ggml.*` and
    /// `tokenizer.chat_template`), the keys llama.cpp's converter writes.
    public init(_ file: GGUFFile) throws {
        let tokens = try file.strings("tokenizer.ggml.tokens")
        let types = try file.optionalInts("tokenizer.ggml.token_type") ?? Array(repeating: 1, count: tokens.count)
        self.init(
            model: try file.string("tokenizer.ggml.model"),
            pre: try file.optionalString("tokenizer.ggml.pre"),
            tokens: tokens,
            tokenTypes: types,
            merges: try file.optionalStrings("tokenizer.ggml.merges") ?? [],
            bosTokenID: try file.optionalInt("tokenizer.ggml.bos_token_id"),
            eosTokenID: try file.optionalInt("tokenizer.ggml.eos_token_id"),
            padTokenID: try file.optionalInt("tokenizer.ggml.padding_token_id"),
            unknownTokenID: try file.optionalInt("tokenizer.ggml.unknown_token_id"),
            addBOSToken: try file.optionalBool("tokenizer.ggml.add_bos_token"),
            chatTemplate: try file.optionalString("tokenizer.chat_template")
        )
    }
}
