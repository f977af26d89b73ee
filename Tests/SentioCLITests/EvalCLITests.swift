// `sentio eval` end to end on the tiny R1-Omni fixture model (converted once, shared with RecognizeCLITests):
// a dataset of the fixture clip under three labels; two shards merged, and a run killed with SIGKILL mid-way
// and resumed, give the same report. Few new tokens keep each clip short.
import XCTest
import SentioTestSupport

final class EvalCLITests: XCTestCase {
    var dir: URL!
    override func setUp() { dir = TestPaths.tempDir("sentio-eval-cli") }
    override func tearDown() { try? FileManager.default.removeItem(at: dir) }

    func makeDataset(_ n: Int) throws -> URL {
        let clips = dir.appendingPathComponent("clips")
        try FileManager.default.createDirectory(at: clips, withIntermediateDirectories: true)
        let labels = Array(["happy", "sad", "angry", "neutral"].prefix(n))
        var entries: [[String: Any]] = []
        for (i, l) in labels.enumerated() {
            try FileManager.default.copyItem(at: TestPaths.tinyA.appendingPathComponent("clip.mp4"), to: clips.appendingPathComponent("c\(i).mp4"))
            entries.append(["video": "clips/c\(i).mp4",
                            "conversations": [["from": "human", "value": "<video>\n<audio>\nWhich emotion?"], ["from": "gpt", "value": l]]])
        }
        let u = dir.appendingPathComponent("set.json")
        try JSONSerialization.data(withJSONObject: entries).write(to: u)
        return u
    }

    func metrics(_ out: URL) throws -> NSDictionary {
        let j = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("report.json"))) as! [String: Any]
        return j["metrics"] as! NSDictionary
    }

    func eval(_ args: [String]) throws -> CLIResult {
        try CLI.run(["eval", "-m", RecognizeCLITests.model.path, "--max-tokens", "6", "-t", "2"] + args)
    }

    /// `--batch 2` (multi-clip serving: two clips decoded together, then the odd one) reports exactly what
    /// `--batch 1` does: the same outputs and answers per clip in the results file, the same metrics.
    func testBatchedEvalEqualsOneByOne() throws {
        let ds = try makeDataset(3)
        let one = dir.appendingPathComponent("one"), two = dir.appendingPathComponent("two")
        let a = try eval([ds.path, "--out", one.path]), b = try eval([ds.path, "--out", two.path, "--batch", "2"])
        XCTAssertEqual(a.status, 0, a.stderr)
        XCTAssertEqual(b.status, 0, b.stderr)
        func outputs(_ d: URL) throws -> [String] {
            try String(contentsOf: d.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n").dropFirst().map { line in
                let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                return "\(o["id"] ?? "") \(o["output"] ?? "") \(o["prediction"] ?? "-")"
            }
        }
        let oa = try outputs(one), ob = try outputs(two)
        XCTAssertEqual(oa.count, 3)
        XCTAssertEqual(oa, ob)
        XCTAssertEqual(try metrics(one), try metrics(two))
        XCTAssertNotEqual(try eval([ds.path, "--out", dir.appendingPathComponent("bad").path, "--batch", "0"]).status, 0)
    }

    /// Reference: two shards run separately and merged. Then a run killed with SIGKILL after its first clip and
    /// resumed must report exactly the same (each clip is run once, in one run or the other).
    func testKilledRunResumesAndShardsMergeToTheSameReport() throws {
        let ds = try makeDataset(3)
        var outs: [String] = []
        for k in 0..<2 {
            let o = dir.appendingPathComponent("shard\(k)")
            let s = try eval([ds.path, "--out", o.path, "--shard", "\(k)/2"])
            XCTAssertEqual(s.status, 0, s.stderr)
            XCTAssertTrue(s.stderr.contains("[\(k == 0 ? 2 : 1)/\(k == 0 ? 2 : 1)]"), "plain progress lines when stderr is not a terminal: \(s.stderr)")
            XCTAssertTrue(FileManager.default.fileExists(atPath: o.appendingPathComponent("results-shard-\(k)-of-2.jsonl").path))
            outs.append(o.path)
        }
        let merged = dir.appendingPathComponent("merged")
        let m = try CLI.run(["eval", "merge"] + outs + ["--out", merged.path])
        XCTAssertEqual(m.status, 0, m.stderr)
        XCTAssertTrue(m.stdout.contains("WAR"), m.stdout)
        let ref = try metrics(merged)
        XCTAssertEqual(ref["total"] as? Int, 3)
        for f in ["results.jsonl", "report.md", "confusion.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: merged.appendingPathComponent(f).path), f)
        }
        // The report says what the records say.
        let lines = try String(contentsOf: merged.appendingPathComponent("results.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        let recs = try lines.dropFirst().map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(recs.map { $0["id"] as? String }, ["clips/c0.mp4", "clips/c1.mp4", "clips/c2.mp4"])
        let correct = recs.filter { ($0["prediction"] as? String) == ($0["label"] as? String) }.count
        XCTAssertEqual(ref["correct"] as? Int, correct)

        // Kill a run with SIGKILL once it has written its first clip, then resume it.
        let cut = dir.appendingPathComponent("cut")
        let p = try CLI.start(["eval", "-m", RecognizeCLITests.model.path, "--max-tokens", "6", "-t", "2", ds.path, "--out", cut.path])
        let res = cut.appendingPathComponent("results.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && p.process.isRunning {
            if let t = try? String(contentsOf: res, encoding: .utf8), t.split(separator: "\n").count >= 2 { break }
            usleep(20_000)
        }
        let killed = p.process.isRunning
        if killed { kill(p.process.processIdentifier, SIGKILL) }
        p.process.waitUntilExit()
        let before = try String(contentsOf: res, encoding: .utf8).split(separator: "\n").count
        XCTAssertGreaterThanOrEqual(before, 2)
        // Without --resume the results are not overwritten.
        let refused = try eval([ds.path, "--out", cut.path])
        XCTAssertEqual(refused.status, 2, refused.stderr)
        let resumed = try eval([ds.path, "--out", cut.path, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        if killed { XCTAssertTrue(resumed.stderr.contains("\(before - 1) already done"), resumed.stderr) }
        XCTAssertEqual(try metrics(cut), ref)
        let bad = try eval([ds.path, "--shard", "2/2"])
        XCTAssertEqual(bad.status, 2)

        // --limit 1: one clip, and the report says the others are missing.
        let lim = dir.appendingPathComponent("limit")
        let l = try eval([ds.path, "--out", lim.path, "--limit", "1"])
        XCTAssertEqual(l.status, 0, l.stderr)
        XCTAssertEqual(try metrics(lim)["total"] as? Int, 1)
        let md = try String(contentsOf: lim.appendingPathComponent("report.md"), encoding: .utf8)
        XCTAssertTrue(md.contains("2 of 3 clips not in this run"), md)
    }
}
