// The per-clip results of an evaluation: a JSONL file written as the run goes. Line 1 is a header
// ({"type": "meta", ...}: model checksum, dataset, shard, settings); every other line is one EvalRecord.
// Each line is written with a single write(2) and fsync'd, so a killed run loses at most the line being
// written; that torn last line (no newline, or not JSON) is ignored on reading and cut off on resume.
// A damaged line anywhere else is an error naming the file and line.
import Foundation
import SentioCore

public struct EvalMeta: Sendable, Codable, Equatable {
    public var type = "meta"
    public var model: String
    public var modelChecksum: String
    public var dataset: String
    public var datasetSize: Int
    /// "k/n" (0-based k) or nil for the whole dataset.
    public var shard: String?
    public var promptMode: String
    public var maxTokens: Int

    public init(model: String, modelChecksum: String, dataset: String, datasetSize: Int, shard: String?, promptMode: String, maxTokens: Int) {
        self.model = model
        self.modelChecksum = modelChecksum
        self.dataset = dataset
        self.datasetSize = datasetSize
        self.shard = shard
        self.promptMode = promptMode
        self.maxTokens = maxTokens
    }

    enum CodingKeys: String, CodingKey {
        case type, model, dataset, shard
        case modelChecksum = "model_checksum", datasetSize = "dataset_size", promptMode = "prompt_mode", maxTokens = "max_tokens"
    }

    /// Settings that must agree for results to be resumed or merged (the shard may differ in a merge).
    public func sameRun(_ o: EvalMeta) -> Bool {
        modelChecksum == o.modelChecksum && datasetSize == o.datasetSize && promptMode == o.promptMode && maxTokens == o.maxTokens
    }
}

public enum EvalResultsFile {
    public struct Contents: Sendable {
        public var meta: EvalMeta?
        public var records: [EvalRecord]
        /// Bytes of whole, valid lines (where an append must continue).
        public var validBytes: Int
        /// True when a torn last line was dropped.
        public var tornTail: Bool
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    public static func line<T: Encodable>(_ v: T) throws -> Data {
        var d = try encoder.encode(v)
        d.append(0x0A)
        return d
    }

    public static func read(_ url: URL) throws -> Contents {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SentioError(.io, file: url.path, "cannot read results: \(error.localizedDescription)")
        }
        var meta: EvalMeta?
        var records: [EvalRecord] = []
        var start = data.startIndex, lineNo = 0, valid = 0
        let dec = JSONDecoder()
        while start < data.endIndex {
            lineNo += 1
            guard let nl = data[start...].firstIndex(of: 0x0A) else {
                return Contents(meta: meta, records: records, validBytes: valid, tornTail: true)   // unterminated: torn
            }
            let body = data[start..<nl]
            let isLast = nl + 1 == data.endIndex
            start = nl + 1
            if body.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) { valid = start - data.startIndex; continue }
            let type = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["type"] as? String
            do {
                if type == "meta" {
                    guard lineNo == 1 else { throw SentioError(.data, file: url.path, "line \(lineNo): a second header line") }
                    meta = try dec.decode(EvalMeta.self, from: body)
                } else if type == "clip" {
                    records.append(try dec.decode(EvalRecord.self, from: body))
                } else {
                    throw SentioError(.data, file: url.path, "line \(lineNo): not a results line (type \(type ?? "missing"))")
                }
            } catch {
                // A newline-terminated but damaged last line can only come from a torn write followed by a later one,
                // which the writer never does; still, treat only the very last line leniently.
                if isLast { return Contents(meta: meta, records: records, validBytes: valid, tornTail: true) }
                if let e = error as? SentioError { throw e }
                throw SentioError(.data, file: url.path, "line \(lineNo): damaged results line: \(error.localizedDescription)")
            }
            valid = start - data.startIndex
        }
        return Contents(meta: meta, records: records, validBytes: valid, tornTail: false)
    }

    /// All results files (*.jsonl) in a folder, sorted by name.
    public static func files(in dir: URL) throws -> [URL] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: dir.path) } catch {
            throw SentioError(.io, file: dir.path, "cannot list results folder: \(error.localizedDescription)")
        }
        return names.filter { $0.hasSuffix(".jsonl") }.sorted().map { dir.appendingPathComponent($0) }
    }
}

/// Appends records to a results file, one fsync'd line each.
public final class EvalResultsWriter {
    public let url: URL
    private let fd: Int32
    /// Records already in the file (from an earlier run) when resuming.
    public let previous: [EvalRecord]
    public let droppedTornLine: Bool

    /// Opens `url` for a run described by `meta`. A fresh file gets the header. An existing file with results is
    /// resumed when `resume` (after checking its header matches `meta` and cutting a torn last line) and refused
    /// otherwise, so a finished evaluation is never overwritten by accident.
    public init(url: URL, meta: EvalMeta, resume: Bool) throws {
        self.url = url
        let fm = FileManager.default
        var prev: [EvalRecord] = []
        var keep = 0, torn = false
        if fm.fileExists(atPath: url.path) {
            let c = try EvalResultsFile.read(url)
            if c.meta != nil || !c.records.isEmpty {
                guard resume else {
                    throw SentioError(.argument, file: url.path, "results exist from an earlier run: pass --resume to continue it, or choose another --out")
                }
                guard let m = c.meta, m.sameRun(meta), m.shard == meta.shard else {
                    throw SentioError(.argument, file: url.path, "cannot resume: the file was written for another model, dataset size, shard or settings")
                }
                prev = c.records
                keep = c.validBytes
                torn = c.tornTail
            }
        }
        fd = open(url.path, O_WRONLY | O_CREAT, 0o644)
        guard fd >= 0 else { throw SentioError(.io, file: url.path, "cannot open results file: \(String(cString: strerror(errno)))") }
        guard ftruncate(fd, off_t(keep)) == 0, lseek(fd, off_t(keep), SEEK_SET) >= 0 else {
            let msg = String(cString: strerror(errno))
            close(fd)
            throw SentioError(.io, file: url.path, "cannot prepare results file: \(msg)")
        }
        previous = prev
        droppedTornLine = torn
        if keep == 0 { try writeLine(EvalResultsFile.line(meta)) }
    }

    deinit { close(fd) }

    public func append(_ r: EvalRecord) throws {
        try writeLine(EvalResultsFile.line(r))
    }

    private func writeLine(_ d: Data) throws {
        try d.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SentioError(.io, file: url.path, "cannot write results: \(String(cString: strerror(errno)))")
                }
                off += n
            }
        }
        guard fsync(fd) == 0 else { throw SentioError(.io, file: url.path, "fsync failed: \(String(cString: strerror(errno)))") }
    }
}
