// Emotion-recognition datasets: R1-Omni's JSON (a list of {"video": path, "conversations": [..., {"from": "gpt",
// "value": label}]}, spec section 7; the gpt value may also be a full "<think>..</think><answer>label</answer>"
// completion) and a CSV with a header row naming a path column and a label column.
//
// Paths that are not absolute are resolved against the folder holding the dataset file. Labels go through
// EmotionLabels (answer tag extracted the way the reference's reward reads it, synonyms mapped); a label
// outside the vocabulary is kept lowercased and listed in `warnings` (a custom label set stays usable).
// Structural problems (not JSON, no video path, no label, unbalanced quotes, missing columns) throw a
// SentioError naming the file and the entry index (JSON) or the line (CSV).
import Foundation
import SentioCore

public struct EmotionSample: Sendable, Equatable, Codable, Hashable {
    /// Stable identity of the sample inside its dataset: the path as written in the file; a path that occurs
    /// more than once gets "#2", "#3", ... appended from its second occurrence on. Resume and merge key on it.
    public var id: String
    /// The media file, resolved (absolute when the dataset file's folder is).
    public var videoPath: String
    /// The normalized label (EmotionLabels vocabulary when it maps, else the lowercased text).
    public var label: String
    /// The label text as the file gave it (after answer-tag extraction).
    public var rawLabel: String
    /// Position in the dataset file (0-based).
    public var index: Int
    /// The human turn's text when the JSON gives one (R1-Omni's question with its <video>/<audio> tags).
    public var instruction: String?

    public init(id: String, videoPath: String, label: String, rawLabel: String? = nil, index: Int, instruction: String? = nil) {
        self.id = id
        self.videoPath = videoPath
        self.label = label
        self.rawLabel = rawLabel ?? label
        self.index = index
        self.instruction = instruction
    }
}

public struct EmotionDataset: Sendable {
    public var samples: [EmotionSample]
    /// The file the samples came from (nil when built in memory).
    public var source: URL?
    /// Notes about the input that did not stop loading (labels outside the vocabulary).
    public var warnings: [String]

    public init(samples: [EmotionSample], source: URL? = nil, warnings: [String] = []) {
        self.samples = samples
        self.source = source
        self.warnings = warnings
    }

    /// Loads a `.json` (R1-Omni format) or `.csv` dataset. Other extensions are sniffed: a file starting with `[`
    /// is read as JSON, anything else as CSV.
    public init(contentsOf url: URL) throws {
        let path = url.path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw SentioError(.io, file: path, "dataset file not found")
        }
        guard !isDir.boolValue else { throw SentioError(.io, file: path, "is a directory, not a dataset file") }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw SentioError(.io, file: path, "cannot read: \(error.localizedDescription)")
        }
        let base = url.deletingLastPathComponent()
        let ext = url.pathExtension.lowercased()
        let firstByte = data.first(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF) })
        let rows: [Row]
        if ext == "json" || (ext != "csv" && firstByte == UInt8(ascii: "[")) {
            rows = try Self.parseJSON(data, file: path)
        } else {
            rows = try Self.parseCSV(data, file: path)
        }
        self = try Self.build(rows, base: base, source: url)
    }

    /// The samples of shard `k` (0-based, `0 <= k < n`): sample i belongs to shard i mod n, so every shard
    /// gets a share of each part of the file and the n shards together hold every sample exactly once.
    /// Returns an empty list when k or n is out of range.
    public func shard(_ k: Int, of n: Int) -> [EmotionSample] {
        guard n > 0, k >= 0, k < n else { return [] }
        return samples.filter { $0.index % n == k }
    }

    /// The distinct labels, vocabulary ones first in EmotionLabels.mafw order, then others sorted.
    public var labels: [String] {
        Self.orderedLabels(Set(samples.map(\.label)))
    }

    /// Vocabulary labels in EmotionLabels order, then any other labels sorted.
    public static func orderedLabels(_ set: Set<String>) -> [String] {
        EmotionLabels.mafw.filter { set.contains($0) } + set.subtracting(EmotionLabels.mafw).sorted()
    }

    // MARK: - Parsing

    /// One entry before resolution: where it came from (for messages), the path and label texts.
    struct Row {
        var location: String
        var path: String
        var label: String
        var instruction: String?
    }

    static func build(_ rows: [Row], base: URL, source: URL) throws -> EmotionDataset {
        var samples: [EmotionSample] = []
        samples.reserveCapacity(rows.count)
        var seen: [String: Int] = [:]
        var unknown: [String: Int] = [:]
        for (i, r) in rows.enumerated() {
            let raw = Self.labelText(r.label)
            guard !raw.isEmpty else { throw SentioError(.data, file: source.path, "\(r.location): empty label") }
            let label: String
            if let l = EmotionLabels.label(for: raw) { label = l } else {
                label = raw.lowercased()
                unknown[label, default: 0] += 1
            }
            let n = (seen[r.path] ?? 0) + 1
            seen[r.path] = n
            let id = n == 1 ? r.path : "\(r.path)#\(n)"
            let resolved = r.path.hasPrefix("/") ? r.path : base.appendingPathComponent(r.path).standardizedFileURL.path
            samples.append(EmotionSample(id: id, videoPath: resolved, label: label, rawLabel: raw, index: i, instruction: r.instruction))
        }
        let warnings = unknown.keys.sorted().map {
            "label \"\($0)\" (\(unknown[$0]!) samples) is not in the emotion vocabulary; kept as its own class"
        }
        return EmotionDataset(samples: samples, source: source, warnings: warnings)
    }

    /// The label inside a gpt turn: the first `<answer>(.*?)</answer>` when present (as the reference's
    /// accuracy reward reads completions), else the whole text; stripped.
    static func labelText(_ value: String) -> String {
        if let a = EmotionRecognizer.parse(value).answer { return a }
        return value.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func parseJSON(_ data: Data, file: String) throws -> [Row] {
        let obj: Any
        do { obj = try JSONSerialization.jsonObject(with: data) } catch {
            throw SentioError(.format, file: file, "not valid JSON: \(error.localizedDescription)")
        }
        guard let list = obj as? [Any] else {
            throw SentioError(.format, file: file, "expected a JSON list of samples ({\"video\": ..., \"conversations\": [...]})")
        }
        var rows: [Row] = []
        for (i, item) in list.enumerated() {
            let loc = "entry \(i)"
            guard let o = item as? [String: Any] else { throw SentioError(.data, file: file, "\(loc): not an object") }
            guard let p = (o["video"] ?? o["path"]) as? String, !p.isEmpty else {
                throw SentioError(.data, file: file, "\(loc): no \"video\" path")
            }
            var label: String?
            var question: String?
            if let conv = o["conversations"] {
                guard let turns = conv as? [Any] else { throw SentioError(.data, file: file, "\(loc): \"conversations\" is not a list") }
                for (j, t) in turns.enumerated() {
                    guard let turn = t as? [String: Any], let from = turn["from"] as? String else {
                        throw SentioError(.data, file: file, "\(loc): conversation turn \(j) has no \"from\"")
                    }
                    guard let value = turn["value"] as? String else {
                        throw SentioError(.data, file: file, "\(loc): conversation turn \(j) has no string \"value\"")
                    }
                    switch from.lowercased() {
                    case "gpt", "assistant": label = value   // the last assistant turn holds the label
                    case "human", "user": if question == nil { question = value }
                    default: break
                    }
                }
            }
            if label == nil, let l = o["label"] as? String { label = l }
            guard let l = label else {
                throw SentioError(.data, file: file, "\(loc): no label (no \"gpt\" turn in \"conversations\" and no \"label\")")
            }
            rows.append(Row(location: loc, path: p, label: l, instruction: question))
        }
        return rows
    }

    /// RFC 4180 CSV: comma separated, fields optionally in double quotes ("" inside quotes is a quote; quoted
    /// fields may span lines), CRLF or LF. The header names the columns: path (or video, file) and label (or
    /// emotion), any case, in any position; other columns are ignored. Blank lines are skipped.
    static func parseCSV(_ data: Data, file: String) throws -> [Row] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw SentioError(.format, file: file, "not UTF-8 text")
        }
        let records = try csvRecords(text, file: file)
        guard let header = records.first else { throw SentioError(.data, file: file, "empty CSV (no header row)") }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard let pc = names.firstIndex(where: { ["path", "video", "file", "filename"].contains($0) }),
              let lc = names.firstIndex(where: { ["label", "emotion"].contains($0) }) else {
            throw SentioError(.data, file: file, "line \(header.line): header must name a path column (path, video or file) and a label column (label or emotion); got \(names)")
        }
        var rows: [Row] = []
        for r in records.dropFirst() {
            guard r.fields.count > max(pc, lc) else {
                throw SentioError(.data, file: file, "line \(r.line): \(r.fields.count) fields, the header has \(names.count)")
            }
            let p = r.fields[pc].trimmingCharacters(in: .whitespaces)
            guard !p.isEmpty else { throw SentioError(.data, file: file, "line \(r.line): empty path") }
            rows.append(Row(location: "line \(r.line)", path: p, label: r.fields[lc], instruction: nil))
        }
        return rows
    }

    struct CSVRecord { var line: Int; var fields: [String] }

    static func csvRecords(_ text: String, file: String) throws -> [CSVRecord] {
        var out: [CSVRecord] = []
        var fields: [String] = []
        var field = ""
        var inQuotes = false, quotedField = false, afterQuote = false
        var line = 1, recordLine = 1
        var chars = Array(text.unicodeScalars)
        if chars.first == "\u{FEFF}" { chars.removeFirst() }
        func endRecord() {
            fields.append(field)
            field = ""; quotedField = false; afterQuote = false
            if !(fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty) {
                out.append(CSVRecord(line: recordLine, fields: fields))
            }
            fields = []
        }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if inQuotes {
                if c == "\"" {
                    if i + 1 < chars.count && chars[i + 1] == "\"" { field.unicodeScalars.append("\""); i += 1 } else { inQuotes = false; afterQuote = true }
                } else {
                    if c == "\n" { line += 1 }
                    field.unicodeScalars.append(c)
                }
            } else {
                switch c {
                case "\"":
                    guard field.trimmingCharacters(in: .whitespaces).isEmpty, !quotedField else {
                        throw SentioError(.data, file: file, "line \(line): stray quote inside an unquoted field")
                    }
                    field = ""; inQuotes = true; quotedField = true
                case ",":
                    fields.append(field); field = ""; quotedField = false; afterQuote = false
                case "\r":
                    break
                case "\n":
                    endRecord(); line += 1; recordLine = line
                default:
                    if afterQuote {
                        if c == " " || c == "\t" { break }
                        throw SentioError(.data, file: file, "line \(line): text after a closing quote")
                    }
                    field.unicodeScalars.append(c)
                }
            }
            i += 1
        }
        if inQuotes { throw SentioError(.data, file: file, "line \(recordLine): quoted field not closed before the end of the file") }
        if !field.isEmpty || !fields.isEmpty { endRecord() }
        return out
    }
}
