// Runs an evaluation over dataset samples with any predictor (the CLI passes EmotionRecognizer; tests pass
// canned answers), appending each clip's record to the results file as soon as it is known, skipping clips
// the file already holds; then writes the report. `merge` combines several runs' results files.
import Foundation
import SentioCore

/// What a predictor returns for one clip.
public struct EvalPrediction: Sendable {
    public var output: String
    public var answer: String?
    public var generatedTokens: Int
    public var warnings: [String]
    public init(output: String, answer: String?, generatedTokens: Int, warnings: [String] = []) {
        self.output = output
        self.answer = answer
        self.generatedTokens = generatedTokens
        self.warnings = warnings
    }
}

public struct EvalRunner {
    public static let resultsName = "results.jsonl"

    /// The results file name of a run: results.jsonl, or results-shard-K-of-N.jsonl for a shard.
    public static func resultsFileName(shard: (k: Int, n: Int)?) -> String {
        guard let s = shard else { return resultsName }
        return "results-shard-\(s.k)-of-\(s.n).jsonl"
    }

    /// Parses "K/N" (0 <= K < N).
    public static func parseShard(_ s: String) throws -> (k: Int, n: Int) {
        let p = s.split(separator: "/")
        guard p.count == 2, let k = Int(p[0]), let n = Int(p[1]), n > 0, k >= 0, k < n else {
            throw SentioError(.argument, "--shard must be K/N with 0 <= K < N (e.g. 0/4 ... 3/4), got \(s)")
        }
        return (k, n)
    }

    /// Evaluates `samples` into `writer`'s file. `progress(doneNow, pendingTotal, record)` is called after each
    /// clip of this run. A predictor error becomes a failed record (the run goes on); a write error stops it.
    /// Returns all records (earlier ones first, then this run's) in dataset order.
    @discardableResult
    public static func run(samples: [EmotionSample], writer: EvalResultsWriter, knownLabels: Set<String>,
                           predict: (EmotionSample) throws -> EvalPrediction,
                           progress: ((Int, Int, EvalRecord) -> Void)? = nil) throws -> [EvalRecord] {
        try run(samples: samples, writer: writer, knownLabels: knownLabels, batchSize: 1,
                predictBatch: { batch in batch.map { s in Result { try predict(s) } } }, progress: progress)
    }

    /// As `run(predict:)`, with the pending clips handed to `predictBatch` in groups of `batchSize` (one result
    /// per clip, in order; multi-clip serving decodes a group together). Each group's records are appended
    /// when the group is done; a record's `seconds` is the group's wall time divided by its size.
    @discardableResult
    public static func run(samples: [EmotionSample], writer: EvalResultsWriter, knownLabels: Set<String>, batchSize: Int,
                           predictBatch: ([EmotionSample]) -> [Result<EvalPrediction, Error>],
                           progress: ((Int, Int, EvalRecord) -> Void)? = nil) throws -> [EvalRecord] {
        let done = Set(writer.previous.map(\.id))
        let pending = samples.filter { !done.contains($0.id) }
        var records = writer.previous
        var finished = 0
        var from = 0
        while from < pending.count {
            let group = Array(pending[from..<min(pending.count, from + max(1, batchSize))])
            from += group.count
            let t0 = Date()
            var results = predictBatch(group)
            if results.count != group.count {
                results = group.map { _ in .failure(SentioError(.argument, "the predictor returned \(results.count) results for \(group.count) clips")) }
            }
            let seconds = Date().timeIntervalSince(t0) / Double(group.count)
            for (s, res) in zip(group, results) {
                let r: EvalRecord
                switch res {
                case .success(let p):
                    r = EvalRecord(id: s.id, index: s.index, video: s.videoPath, label: s.label,
                                   prediction: EvalRecord.predictedLabel(answer: p.answer, output: p.output, known: knownLabels),
                                   answer: p.answer, output: p.output, generatedTokens: p.generatedTokens,
                                   seconds: seconds, warnings: p.warnings)
                case .failure(let error):
                    r = EvalRecord(id: s.id, index: s.index, video: s.videoPath, label: s.label, prediction: nil, answer: nil,
                                   output: "", generatedTokens: 0, seconds: seconds, error: String(describing: error))
                }
                try writer.append(r)
                records.append(r)
                finished += 1
                progress?(finished, pending.count, r)
            }
        }
        let order = Dictionary(samples.map { ($0.id, $0.index) }, uniquingKeysWith: { a, _ in a })
        return records.sorted { (order[$0.id] ?? $0.index, $0.id) < (order[$1.id] ?? $1.index, $1.id) }
    }

    /// Reads the results files of several runs (folders holding *.jsonl, or the files themselves) and returns one
    /// list of records in dataset order. The runs must share the model and settings; a clip present in two runs
    /// must have the same prediction in both (it is kept once).
    public static func merge(_ inputs: [URL]) throws -> (meta: EvalMeta, records: [EvalRecord], warnings: [String]) {
        var files: [URL] = []
        for u in inputs {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: u.path, isDirectory: &isDir) else {
                throw SentioError(.io, file: u.path, "results folder or file not found")
            }
            files += isDir.boolValue ? try EvalResultsFile.files(in: u) : [u]
        }
        guard !files.isEmpty else { throw SentioError(.argument, "no results files (*.jsonl) in \(inputs.map(\.path))") }
        var meta: EvalMeta?
        var byID: [String: EvalRecord] = [:]
        var warnings: [String] = []
        var shards: Set<String> = []
        for f in files {
            let c = try EvalResultsFile.read(f)
            guard let m = c.meta else { throw SentioError(.data, file: f.path, "no header line: not a sentio eval results file") }
            if let m0 = meta {
                guard m0.sameRun(m) else {
                    throw SentioError(.argument, file: f.path, "written for another model or settings than \(files[0].path) (model \(m.modelChecksum) vs \(m0.modelChecksum))")
                }
            } else { meta = m }
            if let s = m.shard { shards.insert(s) }
            if c.tornTail { warnings.append("\(f.path): a torn last line was ignored (run interrupted)") }
            for r in c.records {
                if let old = byID[r.id] {
                    guard old.prediction == r.prediction && old.label == r.label else {
                        throw SentioError(.data, file: f.path, "clip \(r.id) appears in two runs with different results")
                    }
                    continue
                }
                byID[r.id] = r
            }
        }
        var m = meta!
        m.shard = shards.isEmpty ? nil : shards.sorted().joined(separator: ",")
        let records = byID.values.sorted { ($0.index, $0.id) < ($1.index, $1.id) }
        if records.count < m.datasetSize {
            warnings.append("\(m.datasetSize - records.count) of \(m.datasetSize) clips have no result yet (missing shards or unfinished runs)")
        }
        return (m, records, warnings)
    }
}

/// The report of an evaluation: metrics plus where they came from; written as report.json, report.md and
/// confusion.svg.
public struct EvalReport: Sendable, Codable, Equatable {
    public var meta: EvalMeta
    public var metrics: EvalMetrics
    /// Clips that failed to run: id and message.
    public var failures: [[String]]
    /// Mean seconds per clip and total generated tokens over the records (timing varies between runs).
    public var meanSecondsPerClip: Double
    public var generatedTokens: Int
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case meta, metrics, failures, warnings
        case meanSecondsPerClip = "mean_seconds_per_clip", generatedTokens = "generated_tokens"
    }

    public init(meta: EvalMeta, records: [EvalRecord], warnings: [String] = []) {
        self.meta = meta
        metrics = EvalMetrics.compute(records)
        failures = records.filter { $0.error != nil }.map { [$0.id, $0.error!] }
        meanSecondsPerClip = records.isEmpty ? 0 : records.map(\.seconds).reduce(0, +) / Double(records.count)
        generatedTokens = records.map(\.generatedTokens).reduce(0, +)
        self.warnings = warnings
    }

    public func json() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try e.encode(self)
    }

    public func markdown() -> String {
        let m = metrics
        func pct(_ x: Double) -> String { String(format: "%.2f", x * 100) }
        var s = "# Evaluation report\n\n"
        s += "- model: `\(meta.model)` (checksum `\(meta.modelChecksum)`)\n"
        s += "- dataset: `\(meta.dataset)` (\(meta.datasetSize) clips\(meta.shard.map { ", shards \($0)" } ?? ""))\n"
        s += "- prompt mode: \(meta.promptMode), max new tokens: \(meta.maxTokens)\n"
        s += "- clips evaluated: \(m.total); correct: \(m.correct); no label in the output: \(m.unlabeled); failed to run: \(m.failed)\n\n"
        s += "| metric | value (%) |\n|---|---|\n"
        s += "| WAR (accuracy) | \(pct(m.war)) |\n| UAR (mean recall over the \(m.labels.count) classes present) | \(pct(m.uar)) |\n\n"
        s += "## Per class\n\n| class | clips | correct | recall (%) | predicted | precision (%) |\n|---|---|---|---|---|---|\n"
        for c in m.perClass {
            s += "| \(c.label) | \(c.support) | \(c.correct) | \(pct(c.recall)) | \(c.predicted) | \(pct(c.precision)) |\n"
        }
        s += "\n## Confusion matrix (rows: true, columns: predicted)\n\n"
        s += "| true \\ predicted | " + m.predictedLabels.joined(separator: " | ") + " |\n"
        s += "|---|" + String(repeating: "---|", count: m.predictedLabels.count) + "\n"
        for (i, l) in m.labels.enumerated() {
            s += "| \(l) | " + m.confusion[i].map(String.init).joined(separator: " | ") + " |\n"
        }
        s += "\n![confusion matrix](confusion.svg)\n"
        if !failures.isEmpty {
            s += "\n## Clips that failed to run\n\n"
            for f in failures { s += "- `\(f[0])`: \(f[1])\n" }
        }
        if !warnings.isEmpty {
            s += "\n## Warnings\n\n"
            for w in warnings { s += "- \(w)\n" }
        }
        s += String(format: "\nMean time per clip: %.2f s; generated tokens: %d.\n", meanSecondsPerClip, generatedTokens)
        return s
    }

    public func confusionSVG() -> String {
        SVGConfusionMatrix(labels: metrics.labels, counts: metrics.confusion, predictedLabels: metrics.predictedLabels,
                           title: String(format: "WAR %.2f%%  UAR %.2f%%  (%d clips)", metrics.war * 100, metrics.uar * 100, metrics.total)).render()
    }

    /// Writes report.json, report.md and confusion.svg into `dir` (atomically each).
    public func write(to dir: URL) throws {
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try json().write(to: dir.appendingPathComponent("report.json"), options: .atomic)
            try Data(markdown().utf8).write(to: dir.appendingPathComponent("report.md"), options: .atomic)
            try Data(confusionSVG().utf8).write(to: dir.appendingPathComponent("confusion.svg"), options: .atomic)
        } catch let e as SentioError { throw e } catch {
            throw SentioError(.io, file: dir.path, "cannot write the report: \(error.localizedDescription)")
        }
    }
}
