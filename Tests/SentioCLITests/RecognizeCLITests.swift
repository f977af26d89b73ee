// `sentio recognize` end to end on the tiny R1-Omni fixture: convert the checkpoint folder, run the
// fixture's clip.mp4 and compare the 32 greedy tokens with the reference's (llm.safetensors gen.ids).
import XCTest
import SentioCore
import SentioFormat
import SentioTestSupport

final class RecognizeCLITests: XCTestCase {
    static let model: URL = {
        let fx = TestPaths.tinyA
        let d = TestPaths.tempDir("sentio-cli-omni")
        let fm = FileManager.default
        do {
            for n in ["config.json", "model.safetensors", "generation_config.json",
                      "siglip-tiny-patch16-224", "whisper-tiny-large-v3-shape", "bert-tiny-uncased"] {
                try fm.createSymbolicLink(at: d.appendingPathComponent(n), withDestinationURL: fx.appendingPathComponent(n))
            }
            for n in ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"] {
                try fm.copyItem(at: TestPaths.fixtures.appendingPathComponent("qwen2-tokenizer/\(n)"), to: d.appendingPathComponent(n))
            }
            let out = TestPaths.tempDir().appendingPathComponent("tiny-omni-f32.sentio")
            let r = try CLI.run(["convert", d.path, "-o", out.path, "--quant", "f32", "--no-lz4"])
            guard r.status == 0 else { fatalError("convert failed: \(r.stderr)") }
            return out
        } catch { fatalError("\(error)") }
    }()

    func testRecognizeClipReproducesReferenceTokens() throws {
        let clip = TestPaths.tinyA.appendingPathComponent("clip.mp4")
        let ref = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("llm.safetensors")).ints("gen.ids")
        let r = try CLI.run(["recognize", "-m", Self.model.path, clip.path, "--json", "--max-tokens", "\(ref.count)", "-t", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(r.json as? [String: Any], r.stdout)
        XCTAssertEqual(j["generated_token_ids"] as? [Int], ref)
        XCTAssertEqual(j["file"] as? String, clip.path)
        let gate = try XCTUnwrap(j["gate"] as? [String: Double])
        let p = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("vision.safetensors")).floats("gate.p")
        // The gate reads only the instruction text, so it equals the reference's p to f32 rounding.
        XCTAssertEqual(gate["video"]!, Double(p[0]), accuracy: 1e-5)
        XCTAssertEqual(gate["face"]!, Double(p[2]), accuracy: 1e-5)
        XCTAssertNotNil((j["timings"] as? [String: Double])?["whisper_s"])
        // f32 weights: --precise changes nothing (their matmuls are f32 already); --mmap reads them in place
        let alt = try CLI.run(["recognize", "-m", Self.model.path, clip.path, "--json", "--max-tokens", "\(ref.count)", "-t", "2", "--precise", "--mmap"])
        XCTAssertEqual(alt.status, 0, alt.stderr)
        XCTAssertEqual((alt.json as? [String: Any])?["generated_token_ids"] as? [Int], ref)
    }

    func testMediaErrorsHaveDistinctExitCodes() throws {
        let tmp = TestPaths.tempDir()
        let missing = try CLI.run(["recognize", "-m", Self.model.path, tmp.appendingPathComponent("none.mp4").path])
        XCTAssertEqual(missing.status, 3, missing.stderr)
        let text = tmp.appendingPathComponent("notes.mp4")
        try Data("not a video".utf8).write(to: text)
        let junk = try CLI.run(["recognize", "-m", Self.model.path, text.path])
        XCTAssertEqual(junk.status, 4, junk.stderr)
        let noModel = try CLI.run(["recognize", "-m", tmp.appendingPathComponent("none.sentio").path, text.path])
        XCTAssertEqual(noModel.status, 3)
    }
}
