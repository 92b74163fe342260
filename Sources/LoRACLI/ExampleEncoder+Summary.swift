import Training

extension ExampleEncoder.Summary {
    /// The log line of an encoded data file: rows kept (and truncated), tokens, rows skipped.
    func line(file: String, maxSeqLen: Int, learned: Bool) -> String {
        "\(file): \(examples) examples (\(truncated) truncated to \(maxSeqLen)), \(tokens) tokens "
            + "(\(labelledTokens) \(learned ? "learned" : "scored")); "
            + "\(skipped) skipped (nothing to \(learned ? "learn" : "score")\(cutOff))"
    }

    /// The skip reason's tail for rows whose learned tokens all lay beyond the length limit.
    var cutOff: String {
        skippedAfterTruncation == 0 ? "" : "; \(skippedAfterTruncation) of them only past --max-seq-len"
    }
}
