import Foundation
import LoRA
import Models

/// The adapters a server has loaded, by name. Unloading only removes the name: requests already
/// running hold their own reference to the weights and finish with them.
final class AdapterRegistry: @unchecked Sendable {
    struct Entry {
        var set: AdapterSet
        var path: String
        var created: Int
    }

    let model: LlamaModel
    /// Where `POST /v1/adapters` may load from (resolved, no symlinks); nil refuses run-time loads.
    let root: URL?
    private let lock = NSLock()
    private var entries: [String: Entry] = [:]

    init(model: LlamaModel, root: URL?) {
        self.model = model
        self.root = root.map { $0.resolvingSymlinksInPath().standardizedFileURL }
    }

    var names: [String] { lock.withLock { entries.keys.sorted() } }

    func entry(_ name: String) -> Entry? { lock.withLock { entries[name] } }

    /// Loads a PEFT adapter folder under `name` (trusted paths: the command line).
    func load(name: String, folder: URL) throws {
        try Self.checkName(name)
        let adapter = try LoRAAdapter.load(folder: folder)
        let set = try LoRAAdapter.adapterSet([(adapter, 1)], for: model, source: folder.path)
        lock.withLock {
            entries[name] = Entry(set: set, path: folder.path, created: Int(Date().timeIntervalSince1970))
        }
    }

    /// Loads from a path inside ``root`` (`POST /v1/adapters`): relative, no `..`, and still
    /// inside once symlinks are resolved.
    func loadInsideRoot(name: String, path: String) throws(APIError) {
        guard let root else {
            throw APIError.badRequest("this server was started without --adapter-dir", param: "path")
        }
        guard entry(name) == nil else {
            throw APIError.badRequest("an adapter named '\(name)' is already loaded", param: "name")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.hasPrefix("/"), !path.isEmpty, !parts.contains(".."), !path.contains("\0") else {
            throw APIError.badRequest("'path' must be a relative path inside the adapter directory", param: "path")
        }
        let resolved = root.appendingPathComponent(path).resolvingSymlinksInPath().standardizedFileURL
        guard resolved.path != root.path else {
            throw APIError.badRequest("'path' is the adapter directory itself; name a folder in it", param: "path")
        }
        guard resolved.path.hasPrefix(root.path + "/") else {
            throw APIError.badRequest("'path' leads outside the adapter directory", param: "path")
        }
        do {
            try load(name: name, folder: resolved)
        } catch let error as APIError {
            throw error
        } catch {
            // Paths in the message are told relative to the adapter directory, which clients do not see.
            let reason = "\(error)".replacingOccurrences(of: root.path + "/", with: "")
            throw APIError.badRequest("cannot load adapter '\(path)': \(reason)", param: "path")
        }
    }

    /// Forgets `name`; returns whether it was loaded.
    func unload(_ name: String) -> Bool {
        lock.withLock { entries.removeValue(forKey: name) != nil }
    }

    static func checkName(_ name: String) throws(APIError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        guard !name.isEmpty, name.count <= 128, name.allSatisfy(allowed.contains) else {
            throw APIError.badRequest("adapter names use letters, digits, '.', '_' and '-' only", param: "name")
        }
    }
}
