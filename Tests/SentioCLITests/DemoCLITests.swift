// `sentio demo` through the CLI, and the shipped demo model: it must be exactly the tiny fixture checkpoint
// converted at q4 by tools/make-demo-model.sh (rebuilt here the same way and compared byte for byte).
import XCTest
import SentioFormat
import SentioTestSupport

final class DemoCLITests: XCTestCase {
    static var shipped: URL { TestPaths.repoRoot.appendingPathComponent("models/demo/r1omni-tiny-random-q4.sentio") }

    func testDemoRunsOnTheShippedClip() throws {
        let r = try CLI.run(["demo", "--json", "--no-synth", "--max-tokens", "6", "-t", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(r.json as? [String: Any], r.stdout)
        XCTAssertEqual(j["random_weights"] as? Bool, true)
        XCTAssertTrue((j["notice"] as? String)?.contains("RANDOM weights") == true)
        XCTAssertTrue((j["clip_source"] as? String)?.contains("shipped") == true)
        XCTAssertEqual((j["generated_token_ids"] as? [Int])?.count, 6)
        let t = try XCTUnwrap(j["timings"] as? [String: Double])
        for k in ["load_model_s", "decode_preprocess_s", "siglip_s", "whisper_s", "prefill_s", "decode_s", "total_s"] {
            XCTAssertNotNil(t[k], k)
        }
        // Text mode says plainly that the weights are random and lists the stages.
        let txt = try CLI.run(["demo", "--no-synth", "--max-tokens", "4", "-t", "2"])
        XCTAssertEqual(txt.status, 0, txt.stderr)
        for s in ["RANDOM weights", "stage timings", "Whisper encoder", "prefill", "weights are random"] {
            XCTAssertTrue(txt.stdout.contains(s), "\(s) in \(txt.stdout)")
        }
    }

    func testDemoSynthesizesAClipWithEspeak() throws {
        let has = ["/usr/bin/espeak-ng", "/usr/local/bin/espeak-ng"].contains { FileManager.default.isExecutableFile(atPath: $0) }
        try XCTSkipUnless(has, "espeak-ng not installed: the demo falls back to the shipped clip (tested above)")
        let r = try CLI.run(["demo", "--json", "--max-tokens", "2", "-t", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(r.json as? [String: Any], r.stdout)
        XCTAssertTrue((j["clip_source"] as? String)?.hasPrefix("synthesized") == true, "\(j["clip_source"] ?? "")")
        XCTAssertEqual(j["warnings"] as? [String], [], "the synthesized clip has a sound track")
    }

    /// Rebuilds the demo model as tools/make-demo-model.sh does, from this repository's fixture copy (the shipped
    /// file was made from it, whatever SENTIO_FIXTURES says), and compares bytes. The minified tokenizer.json is taken
    /// from the shipped file after checking it is the fixture's tokenizer.json as JSON.
    func testShippedModelIsTheFixtureConvertedAtQ4() throws {
        let fx = TestPaths.repoRoot.appendingPathComponent("Tests/Fixtures")
        let f = try SentioFile.open(Self.shipped, verify: true)
        XCTAssertLessThan(f.fileSize, 16 << 20, "keep the shipped demo model small")
        let embedded = try XCTUnwrap(f.files["tokenizer.json"])
        let a = try JSONSerialization.jsonObject(with: embedded) as? NSDictionary
        let b = try JSONSerialization.jsonObject(with: Data(contentsOf: fx.appendingPathComponent("qwen2-tokenizer/tokenizer.json"))) as? NSDictionary
        XCTAssertNotNil(a)
        XCTAssertEqual(a, b, "the embedded tokenizer.json is the fixture's, minified")

        let ck = TestPaths.tempDir("sentio-demo-ck")
        defer { try? FileManager.default.removeItem(at: ck) }
        let fm = FileManager.default
        for n in ["config.json", "model.safetensors", "generation_config.json", "siglip-tiny-patch16-224",
                  "whisper-tiny-large-v3-shape", "bert-tiny-uncased"] {
            try fm.createSymbolicLink(at: ck.appendingPathComponent(n), withDestinationURL: fx.appendingPathComponent("r1omni-tiny-a/\(n)"))
        }
        for n in ["tokenizer_config.json", "added_tokens.json", "special_tokens_map.json"] {
            try fm.copyItem(at: fx.appendingPathComponent("qwen2-tokenizer/\(n)"), to: ck.appendingPathComponent(n))
        }
        try embedded.write(to: ck.appendingPathComponent("tokenizer.json"))
        let out = ck.appendingPathComponent("rebuilt.sentio")
        let r = try CLI.run(["convert", ck.path, "-o", out.path, "--quant", "q4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let same = try Data(contentsOf: out) == Data(contentsOf: Self.shipped)
        XCTAssertTrue(same, "models/demo differs from a fresh conversion: rerun tools/make-demo-model.sh")
    }
}
