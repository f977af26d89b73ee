// The run's files under OUT: log.jsonl (one StepRecord per step), samples.jsonl (sample completions
// every N steps). Lines are appended and flushed; on resume both are cut back to the checkpoint's
// step so the continued run appends exactly the lines an uninterrupted run would have.
import Foundation
import SentioCore

public final class JSONLFile {
    public let url: URL
    private let handle: FileHandle

    public init(_ url: URL) throws {
        self.url = url
        if !FileManager.default.fileExists(atPath: url.path) {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw SentioError(.io, file: url.path, "cannot create")
            }
        }
        do { handle = try FileHandle(forWritingTo: url) } catch {
            throw SentioError(.io, file: url.path, "cannot open for appending: \(error.localizedDescription)")
        }
        handle.seekToEndOfFile()
    }

    deinit { try? handle.close() }

    public func append<T: Encodable>(_ value: T) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var d = try e.encode(value)
        d.append(0x0A)
        handle.write(d)
        try handle.synchronize()
    }

    /// Keeps the lines whose "step" is <= `step` (and drops a torn last line); rewritten atomically.
    public static func truncate(_ url: URL, toStep step: Int) throws {
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        var kept = ""
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = obj["step"] as? Int else { continue }
            if s <= step { kept += line + "\n" }
        }
        try AtomicFile.write(Data(kept.utf8), to: url)
    }

    /// Every line decoded as T (for plots and tests).
    public static func read<T: Decodable>(_ url: URL, as type: T.Type) throws -> [T] {
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        var out: [T] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do { out.append(try d.decode(T.self, from: Data(line.utf8))) } catch {
                throw SentioError(.corrupt, file: url.path, "line \(n + 1) is not a valid record: \(error)")
            }
        }
        return out
    }
}

/// A samples.jsonl line.
public struct SampleLogLine: Codable, Equatable, Sendable {
    public var step: Int
    public var samples: [SampleCompletion]
}
