// Evaluation metrics and the resumable results file, with canned predictions (no model): WAR / UAR against
// values worked out by hand, a run cut mid-line and resumed, and shards merged, each equal to one full run.
import XCTest
import SentioCore
import SentioRuntime
import SentioTestSupport

final class EvalTests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = TestPaths.tempDir("sentio-eval") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    /// Ten clips: (true label, model output).
    static let cases: [(String, String)] = [
        ("happy", "<think>smiling</think>\n<answer>happy</answer>"),
        ("happy", "<answer>Happiness</answer>"),                 // synonym -> happy
        ("happy", "<think>tears</think><answer>sad</answer>"),
        ("happy", "<think>cannot tell</think>"),                 // no answer tag, output names no label -> (none)
        ("neutral", "<answer>neutral</answer>"),
        ("neutral", "<answer> neutral </answer>"),
        ("neutral", "<answer>fearful</answer>"),                 // -> fear, a class absent from the ground truth
        ("angry", "<answer>anger</answer>"),                     // -> angry
        ("sad", "<answer>sad</answer>"),
        ("sad", "<answer>happy</answer>"),
    ]

    static var samples: [EmotionSample] {
        cases.enumerated().map { i, c in EmotionSample(id: "clip\(i).mp4", videoPath: "/data/clip\(i).mp4", label: c.0, index: i) }
    }

    static func predict(_ s: EmotionSample) throws -> EvalPrediction {
        let out = cases[s.index].1
        return EvalPrediction(output: out, answer: EmotionRecognizer.parse(out).answer, generatedTokens: 10 + s.index)
    }

    static let meta = EvalMeta(model: "m.sentio", modelChecksum: "abc-1", dataset: "d.json", datasetSize: 10, shard: nil,
                               promptMode: "inference", maxTokens: 64)

    func fullRun(_ name: String) throws -> [EvalRecord] {
        let w = try EvalResultsWriter(url: dir.appendingPathComponent(name), meta: Self.meta, resume: false)
        return try EvalRunner.run(samples: Self.samples, writer: w, knownLabels: [], predict: Self.predict)
    }

    func testMetricsAgainstHandComputedValues() throws {
        let m = EvalMetrics.compute(try fullRun("r.jsonl"))
        // Correct: clips 0, 1, 4, 5, 7, 8 -> 6 of 10: WAR = 0.6.
        XCTAssertEqual(m.total, 10); XCTAssertEqual(m.correct, 6)
        XCTAssertEqual(m.war, 0.6, accuracy: 1e-12)
        // Recall per class present in the ground truth: happy 2/4, neutral 2/3, angry 1/1, sad 1/2.
        // UAR = (0.5 + 0.6667 + 1 + 0.5) / 4 = (8/3) / 4 = 2/3. fear is predicted but absent from the truth: not averaged.
        XCTAssertEqual(m.uar, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(m.labels, ["happy", "neutral", "angry", "sad"])            // EmotionLabels order
        XCTAssertEqual(m.predictedLabels, ["happy", "neutral", "angry", "sad", "fear", "(none)"])
        XCTAssertEqual(m.confusion, [[2, 0, 0, 1, 0, 1],
                                     [0, 2, 0, 0, 1, 0],
                                     [0, 0, 1, 0, 0, 0],
                                     [1, 0, 0, 1, 0, 0]])
        let happy = m.perClass[0]
        XCTAssertEqual(happy.support, 4); XCTAssertEqual(happy.correct, 2); XCTAssertEqual(happy.recall, 0.5)
        // happy predicted 3 times (clips 0, 1, 9), 2 right: precision 2/3.
        XCTAssertEqual(happy.predicted, 3); XCTAssertEqual(happy.precision, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(m.perClass[1].recall, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(m.unlabeled, 1); XCTAssertEqual(m.failed, 0)
    }

    func testPerfectAndEmptySets() {
        let one = [EvalRecord(id: "a", index: 0, video: "a", label: "sad", prediction: "sad", answer: "sad", output: "", generatedTokens: 1, seconds: 0)]
        let m = EvalMetrics.compute(one)
        XCTAssertEqual(m.war, 1); XCTAssertEqual(m.uar, 1)
        let e = EvalMetrics.compute([])
        XCTAssertEqual(e.total, 0); XCTAssertEqual(e.war, 0); XCTAssertEqual(e.uar, 0)
    }

    func testFailedClipsCountAsWrongAndAreListed() throws {
        let w = try EvalResultsWriter(url: dir.appendingPathComponent("f.jsonl"), meta: Self.meta, resume: false)
        let recs = try EvalRunner.run(samples: Array(Self.samples.prefix(2)), writer: w, knownLabels: []) { s in
            if s.index == 1 { throw SentioError(.media, file: s.videoPath, "unreadable") }
            return try Self.predict(s)
        }
        let r = EvalReport(meta: Self.meta, records: recs)
        XCTAssertEqual(r.metrics.failed, 1); XCTAssertEqual(r.metrics.war, 0.5)
        XCTAssertEqual(r.failures, [["clip1.mp4", "/data/clip1.mp4: unreadable"]])
        XCTAssertTrue(r.markdown().contains("clip1.mp4"))
    }

    /// A run killed while writing its 6th clip: the file holds the header, 5 whole lines and half a line. Resuming
    /// runs only the 5 clips missing (the torn one again) and ends with the same records and report.
    func testResumeAfterKillGivesTheSameReport() throws {
        let full = try fullRun("full.jsonl")
        let ref = EvalReport(meta: Self.meta, records: full)
        let cut = dir.appendingPathComponent("cut.jsonl")
        _ = try fullRun("cut.jsonl")
        let data = try Data(contentsOf: cut)
        let lineEnds = data.indices.filter { data[$0] == 0x0A }
        XCTAssertEqual(lineEnds.count, 11)
        let torn = data.prefix(lineEnds[5] + 1 + (lineEnds[6] - lineEnds[5]) / 2)
        try torn.write(to: cut)
        let c = try EvalResultsFile.read(cut)
        XCTAssertTrue(c.tornTail); XCTAssertEqual(c.records.count, 5)

        // Without --resume the file is not overwritten.
        XCTAssertThrowsError(try EvalResultsWriter(url: cut, meta: Self.meta, resume: false))
        // Another model's run cannot resume it.
        var other = Self.meta; other.modelChecksum = "zzz"
        XCTAssertThrowsError(try EvalResultsWriter(url: cut, meta: other, resume: true))

        let w = try EvalResultsWriter(url: cut, meta: Self.meta, resume: true)
        XCTAssertTrue(w.droppedTornLine)
        var ran: [Int] = []
        let resumed = try EvalRunner.run(samples: Self.samples, writer: w, knownLabels: []) { s in
            ran.append(s.index); return try Self.predict(s)
        }
        XCTAssertEqual(ran, [5, 6, 7, 8, 9])
        let rep = EvalReport(meta: Self.meta, records: resumed)
        XCTAssertEqual(rep.metrics, ref.metrics)
        XCTAssertEqual(rep.markdown().components(separatedBy: "Mean time")[0], ref.markdown().components(separatedBy: "Mean time")[0])
        XCTAssertEqual(rep.confusionSVG(), ref.confusionSVG())
        // The file on disk reads back whole: 10 records, no torn tail, same predictions as the full run.
        let back = try EvalResultsFile.read(cut)
        XCTAssertFalse(back.tornTail)
        XCTAssertEqual(back.records.map(\.id), full.map(\.id))
        XCTAssertEqual(back.records.map(\.prediction), full.map(\.prediction))
    }

    func testDamagedMiddleLineIsAnError() throws {
        _ = try fullRun("d.jsonl")
        let u = dir.appendingPathComponent("d.jsonl")
        var lines = try String(contentsOf: u, encoding: .utf8).components(separatedBy: "\n")
        lines[3] = "{\"type\": \"clip\", \"id\": "
        try lines.joined(separator: "\n").write(to: u, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try EvalResultsFile.read(u)) { e in
            XCTAssertTrue("\(e)".contains("line 4"), "\(e)")
            XCTAssertEqual((e as? SentioError)?.file, u.path)
        }
    }

    /// Three shards run separately (as on three machines) and merged give the full run's report.
    func testShardsMergeToTheFullRun() throws {
        let ref = EvalReport(meta: Self.meta, records: try fullRun("full.jsonl"))
        let ds = EmotionDataset(samples: Self.samples)
        var dirs: [URL] = []
        for k in 0..<3 {
            let d = dir.appendingPathComponent("box\(k)")
            try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
            var m = Self.meta; m.shard = "\(k)/3"
            let w = try EvalResultsWriter(url: d.appendingPathComponent(EvalRunner.resultsFileName(shard: (k, 3))), meta: m, resume: false)
            try EvalRunner.run(samples: ds.shard(k, of: 3), writer: w, knownLabels: [], predict: Self.predict)
            dirs.append(d)
        }
        let partial = try EvalRunner.merge(Array(dirs.prefix(2)))
        XCTAssertEqual(partial.records.count, 7)
        XCTAssertTrue(partial.warnings.contains { $0.contains("3 of 10 clips have no result") }, "\(partial.warnings)")
        let merged = try EvalRunner.merge(dirs)
        XCTAssertTrue(merged.warnings.isEmpty, "\(merged.warnings)")
        XCTAssertEqual(merged.meta.shard, "0/3,1/3,2/3")
        let rep = EvalReport(meta: Self.meta, records: merged.records)
        XCTAssertEqual(rep.metrics, ref.metrics)
        XCTAssertEqual(merged.records.map(\.id), Self.samples.map(\.id))
        // A run of another model is refused.
        var m = Self.meta; m.modelChecksum = "other"
        let stray = dir.appendingPathComponent("stray.jsonl")
        try EvalRunner.run(samples: Array(Self.samples.prefix(1)), writer: EvalResultsWriter(url: stray, meta: m, resume: false),
                           knownLabels: [], predict: Self.predict)
        XCTAssertThrowsError(try EvalRunner.merge(dirs + [stray]))
    }

    func testReportFilesAreWritten() throws {
        let rep = EvalReport(meta: Self.meta, records: try fullRun("r.jsonl"))
        let out = dir.appendingPathComponent("report")
        try rep.write(to: out)
        let back = try JSONDecoder().decode(EvalReport.self, from: Data(contentsOf: out.appendingPathComponent("report.json")))
        XCTAssertEqual(back, rep)
        let md = try String(contentsOf: out.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("| WAR (accuracy) | 60.00 |"), md)
        XCTAssertTrue(md.contains("| UAR (mean recall over the 4 classes present) | 66.67 |"), md)
        XCTAssertTrue(md.contains("| happy | 2 | 0 | 0 | 1 | 0 | 1 |"), md)
        let svg = try String(contentsOf: out.appendingPathComponent("confusion.svg"), encoding: .utf8)
        XCTAssertTrue(svg.contains("WAR 60.00%  UAR 66.67%"))
    }
}
