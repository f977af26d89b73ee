// `sentio recognize --explain` through the CLI on the tiny fixture model: the JSON carries an `explain` object
// with the three variants, and the text mode prints one summary line per variant.
import XCTest
import SentioTestSupport

final class RecognizeExplainCLITests: XCTestCase {
    func testExplainJSONAndText() throws {
        let clip = TestPaths.tinyA.appendingPathComponent("clip.mp4")
        let r = try CLI.run(["recognize", "-m", RecognizeCLITests.model.path, clip.path, "--json", "--explain", "--max-tokens", "4", "-t", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(r.json as? [String: Any], r.stdout)
        let ex = try XCTUnwrap(j["explain"] as? [String: Any])
        let vs = try XCTUnwrap(ex["variants"] as? [[String: Any]])
        XCTAssertEqual(vs.map { $0["name"] as? String }, ["original", "silent_audio", "blank_frames"])
        // The original variant is the main result, and both are what a plain run (no --explain) gives.
        XCTAssertEqual(vs[0]["generated_token_ids"] as? [Int], j["generated_token_ids"] as? [Int])
        let plain = try CLI.run(["recognize", "-m", RecognizeCLITests.model.path, clip.path, "--json", "--max-tokens", "4", "-t", "2"])
        let pj = try XCTUnwrap(plain.json as? [String: Any], plain.stderr)
        XCTAssertEqual(pj["generated_token_ids"] as? [Int], j["generated_token_ids"] as? [Int])
        XCTAssertEqual(pj["output"] as? String, j["output"] as? String)
        XCTAssertEqual((pj["gate"] as? [String: Double])?["face"], (j["gate"] as? [String: Double])?["face"])
        XCTAssertNil(pj["explain"])
        XCTAssertEqual(vs[0]["delta_logprob"] as? Double, 0)
        for v in vs {
            let lp = try XCTUnwrap(v["answer_logprob"] as? Double)
            XCTAssertEqual(try XCTUnwrap(v["answer_probability"] as? Double), exp(lp), accuracy: 1e-12)
        }
        XCTAssertNotNil((ex["span"] as? [String: Any])?["text"])

        let t = try CLI.run(["recognize", "-m", RecognizeCLITests.model.path, clip.path, "--explain", "--max-tokens", "4", "-t", "2"])
        XCTAssertEqual(t.status, 0, t.stderr)
        for s in ["explain:", "as is", "silent audio", "blank frames", "change"] { XCTAssertTrue(t.stdout.contains(s), "\(s) in \(t.stdout)") }
    }
}
