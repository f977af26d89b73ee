// Loading a tokenizer.json held in memory (embedded in a .sentio file).
import Foundation
import SentioCore

extension BPETokenizer {
    /// Loads tokenizer.json bytes; `name` is used in error messages.
    public convenience init(tokenizerJSONData data: Data, name: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sentio-tok-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let u = dir.appendingPathComponent("tokenizer.json")
        try data.write(to: u)
        do { try self.init(tokenizerJSON: u) } catch let e as SentioError {
            throw SentioError(e.kind, file: name, "embedded tokenizer.json: \(e.message)")
        }
    }
}
