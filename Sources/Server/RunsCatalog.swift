import Foundation

/// Training runs for the dashboard: folders under the runs directory (or the directory itself)
/// that hold a `metrics.jsonl` written by `lora train`.
struct RunsCatalog: Sendable {
    let root: URL

    /// The id of a run that is the runs folder itself.
    var rootID: String { root.standardizedFileURL.lastPathComponent }

    /// `(id, modified)` of each run, newest first.
    func runs() -> [(id: String, updated: Double)] {
        let fm = FileManager.default
        var found: [(String, Double)] = []
        func add(_ id: String, _ folder: URL) {
            let metrics = folder.appendingPathComponent("metrics.jsonl")
            guard let attributes = try? fm.attributesOfItem(atPath: metrics.path),
                let date = attributes[.modificationDate] as? Date
            else { return }
            found.append((id, date.timeIntervalSince1970))
        }
        let children = ((try? fm.contentsOfDirectory(atPath: root.path)) ?? []).filter { !$0.hasPrefix(".") }
        // The folder itself may be a run: it goes by its own name (unless a child has that name).
        if !children.contains(rootID) { add(rootID, root) }
        for name in children { add(name, root.appendingPathComponent(name)) }
        return found.sorted { $0.1 > $1.1 }
    }

    /// The records of one run's `metrics.jsonl`; nil when there is no such run. A line being
    /// written (not yet valid JSON) is skipped.
    func records(of id: String) -> [Any]? {
        guard !id.contains("/"), !id.hasPrefix("."), !id.isEmpty else { return nil }
        var folder = root.appendingPathComponent(id)
        if id == rootID, !FileManager.default.fileExists(atPath: folder.path) { folder = root }
        let file = folder.appendingPathComponent("metrics.jsonl")
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").compactMap { line in
            try? JSONSerialization.jsonObject(with: Data(line.utf8))
        }
    }
}
