import Foundation

/// `batches.jsonl` and `eval-examples.jsonl`: the exact inputs of a run (every step's rows as token
/// ids and labels, in order, and the held-out rows), so another trainer can be given the same
/// data, order and masking, e.g. PyTorch + PEFT in `scripts/peft_real_run.py`.
struct BatchRecord {
    let handle: FileHandle

    /// Opens `batches.jsonl` keeping the steps up to `step` (a resumed run continues the file) and
    /// writes `eval-examples.jsonl`.
    init(folder: URL, keepingThrough step: Int, evalExamples: [EncodedExample]) throws {
        handle = try StepLines.open(folder.appendingPathComponent("batches.jsonl"), keepingThrough: step).handle
        let held = evalExamples.map { Self.row($0) + "\n" }.joined()
        try Data(held.utf8).write(to: folder.appendingPathComponent("eval-examples.jsonl"), options: .atomic)
    }

    /// Appends the rows of optimizer step `step` (counted from 1).
    func append(step: Int, rows: [EncodedExample]) throws {
        let body = rows.map(Self.row).joined(separator: ", ")
        try handle.write(contentsOf: Data((#"{"step": \#(step), "rows": [\#(body)]}"# + "\n").utf8))
    }

    /// One row as JSON (Swift prints an `[Int]` as a JSON array).
    private static func row(_ e: EncodedExample) -> String {
        #"{"ids": \#(e.ids), "labels": \#(e.labels)}"#
    }
}

/// A JSON-lines file with one object per optimizer step (a `"step"` key).
enum StepLines {
    /// Opens `url` for appending, keeping only its lines of steps up to `step` (all are dropped when
    /// `step` is 0, so a fresh run starts an empty file). Also returns the kept line of `step`
    /// itself, if there is one.
    static func open(_ url: URL, keepingThrough step: Int) throws -> (handle: FileHandle, atStep: [String: Any]?) {
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var kept = ""
        var atStep: [String: Any]?
        if step > 0, let old = try? String(contentsOf: url, encoding: .utf8) {
            for line in old.split(separator: "\n") {
                guard let data = line.data(using: .utf8),
                    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                    let n = object["step"] as? Int, n <= step
                else { continue }
                kept += line + "\n"
                if n == step { atStep = object }
            }
        }
        try Data(kept.utf8).write(to: url, options: .atomic)
        let handle = try FileHandle(forWritingTo: url)
        try handle.seekToEnd()
        return (handle, atStep)
    }
}
