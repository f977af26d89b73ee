// ValidatedConfig: a model component's config.json decoded and checked before any buffer is sized from it,
// with errors that name the file and the key.
import Foundation
import SentioCore

public protocol ValidatedConfig: Decodable {
    /// The component's name in error messages ("Qwen2", "BERT", ...).
    static var configName: String { get }
    func validate(source: String) throws
}

extension ValidatedConfig {
    /// Decodes `json` and validates it; errors name `source`.
    public static func parse(_ json: String, source: String) throws -> Self {
        let cfg: Self
        do { cfg = try JSONDecoder().decode(Self.self, from: Data(json.utf8)) } catch {
            throw SentioError(.model, file: source, "config.json is not a usable \(configName) config: \(error)")
        }
        try cfg.validate(source: source)
        return cfg
    }

    /// An error about this config, naming the file.
    func configError(_ source: String, _ message: String) -> SentioError {
        SentioError(.model, file: source, "\(Self.configName) config: \(message)")
    }

    /// Throws unless every (key, value) lies in `limits` (sizes that buffers are allocated from).
    func checkSizes(_ pairs: [(String, Int)], in limits: ClosedRange<Int>, source: String) throws {
        for (k, v) in pairs where !limits.contains(v) { throw configError(source, "\(k) = \(v) is out of range") }
    }
}
