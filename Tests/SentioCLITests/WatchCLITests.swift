// `sentio watch` end to end on the tiny R1-Omni fixture: a pipe source (ffmpeg writing Matroska to stdout,
// read by `sentio watch -`), the JSON lines and the SVG timeline; and a truncated file, which must end with
// the windows so far written and exit code 4.
import XCTest
import SentioTestSupport

final class WatchCLITests: XCTestCase {
    func testPipeSourceGivesOneJSONLinePerWindowAndAPlot() throws {
        let tmp = TestPaths.tempDir()
        let plot = tmp.appendingPathComponent("timeline.svg")
        let ff = Process()
        ff.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ff.arguments = ["ffmpeg", "-v", "error", "-nostdin", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=10:d=6.5",
                        "-f", "lavfi", "-i", "sine=f=300:sample_rate=16000:d=6.5", "-c:v", "ffv1", "-c:a", "pcm_s16le",
                        "-f", "matroska", "-"]
        let pipe = Pipe()
        ff.standardOutput = pipe
        ff.standardError = FileHandle.nullDevice
        let w = Process()
        w.executableURL = CLI.binary
        w.arguments = ["watch", "-m", RecognizeCLITests.model.path, "-", "--window", "3", "--json", "--max-tokens", "4",
                       "-t", "2", "--plot", plot.path]
        w.standardInput = pipe
        let out = Pipe(), err = Pipe()
        w.standardOutput = out
        w.standardError = err
        try ff.run()
        try w.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        w.waitUntilExit(); ff.waitUntilExit()
        XCTAssertEqual(w.terminationStatus, 0, e)
        let lines = String(decoding: o, as: UTF8.self).split(separator: "\n")
        let objs = try lines.map { try XCTUnwrap(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        // [0,3) [3,6) complete; the 0.5 s tail is under the 1 s minimum partial window.
        XCTAssertEqual(objs.map { $0["start"] as? Double }, [0, 3])
        XCTAssertEqual(objs.map { $0["end"] as? Double }, [3, 6])
        for j in objs {
            XCTAssertEqual(j["frames"] as? Int, 30)
            XCTAssertEqual((j["generated_token_ids"] as? [Int])?.count, 4)
            XCTAssertNotNil((j["gate"] as? [String: Double])?["face"])
            let lat = try XCTUnwrap(j["latency"] as? [String: Double])
            for k in ["siglip_s", "whisper_s", "prefill_s", "decode_s", "total_s"] { XCTAssertNotNil(lat[k], k) }
            XCTAssertEqual(j["skipped_before"] as? Int, 0)
        }
        XCTAssertTrue(e.contains("2 windows, 0 skipped"), e)
        let svg = try String(contentsOf: plot, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") || svg.contains("<svg"), svg)
        XCTAssertTrue(svg.contains("no label") || EmotionLabelsInSVG(svg), "a band per window's label")
    }

    private func EmotionLabelsInSVG(_ svg: String) -> Bool { ["happy", "sad", "neutral"].allSatisfy { svg.contains($0) } }

    func testTruncatedFileEndsWithWindowsSoFarAndExitCode4() throws {
        let tmp = TestPaths.tempDir()
        let f = tmp.appendingPathComponent("full.mkv"), cut = tmp.appendingPathComponent("cut.mkv")
        let ff = Process()
        ff.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ff.arguments = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:d=8",
                        "-f", "lavfi", "-i", "sine=sample_rate=16000:d=8", "-c:v", "ffv1", "-c:a", "pcm_s16le", f.path]
        try ff.run(); ff.waitUntilExit()
        XCTAssertEqual(ff.terminationStatus, 0)
        let d = try Data(contentsOf: f)
        try d.prefix(d.count * 6 / 10).write(to: cut)
        let r = try CLI.run(["watch", "-m", RecognizeCLITests.model.path, cut.path, "--window", "2", "--json", "--max-tokens", "2", "-t", "2"])
        XCTAssertEqual(r.status, 4, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertGreaterThanOrEqual(lines.count, 1, r.stderr)
        XCTAssertLessThan(lines.count, 4)
        for l in lines { XCTAssertNotNil(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any]) }
        XCTAssertTrue(r.stderr.contains("source broke"), r.stderr)

        let missing = try CLI.run(["watch", "-m", RecognizeCLITests.model.path, tmp.appendingPathComponent("none.mkv").path])
        XCTAssertEqual(missing.status, 3, missing.stderr)
        let badWindow = try CLI.run(["watch", "-m", RecognizeCLITests.model.path, f.path, "--window", "0"])
        XCTAssertEqual(badWindow.status, 2, badWindow.stderr)
    }
}
