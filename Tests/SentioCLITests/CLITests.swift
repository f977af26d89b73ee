// End-to-end tests of the `sentio` command: a small Qwen2 checkpoint in Hugging Face layout (the tiny
// fixture's language model, saved as model_type qwen2 with the real Qwen2 tokenizer) is converted,
// inspected, verified and run; bad input gives one-line errors and distinct exit codes.
import XCTest
import SentioCore
import SentioFormat
import SentioModels
import SentioTestSupport

final class CLITests: XCTestCase {
    /// Writes the tiny checkpoint folder once per test run.
    static let checkpoint: URL = {
        let dir = TestPaths.tempDir("sentio-cli-ckpt")
        do {
            let fx = TestPaths.tinyA
            var cfg = try JSONSerialization.jsonObject(with: Data(contentsOf: fx.appendingPathComponent("config.json"))) as! [String: Any]
            cfg = cfg.filter { !$0.key.hasPrefix("mm_") && !$0.key.hasPrefix("audio") && $0.key != "num_frames" }
            cfg["model_type"] = "qwen2"
            cfg["architectures"] = ["Qwen2ForCausalLM"]
            try JSONSerialization.data(withJSONObject: cfg, options: [.sortedKeys]).write(to: dir.appendingPathComponent("config.json"))
            let qcfg = try Qwen2Config.parse(String(decoding: try Data(contentsOf: dir.appendingPathComponent("config.json")), as: UTF8.self), source: "cfg")
            let st = try SafetensorsFile(fx.appendingPathComponent("model.safetensors"))
            var w = SafetensorsWriter()
            for spec in Qwen2Schema.tensors(qcfg) { w.add(spec.name, bf16: try st.floats(spec.name), shape: spec.shape) }
            w.add("model.vision_tower.unused.weight", bf16: [1, 2], shape: [2])   // not in the schema: must be dropped
            try w.write(to: dir.appendingPathComponent("model.safetensors"))
            for f in ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"] {
                try FileManager.default.copyItem(at: TestPaths.fixtures.appendingPathComponent("qwen2-tokenizer/\(f)"),
                                                 to: dir.appendingPathComponent(f))
            }
        } catch { fatalError("cannot build the test checkpoint: \(error)") }
        return dir
    }()

    func testConvertInspectVerifyGenerate() throws {
        let out = TestPaths.tempDir().appendingPathComponent("tiny-q8.sentio")
        let conv = try CLI.run(["convert", Self.checkpoint.path, "-o", out.path, "--quant", "q8", "--json"])
        XCTAssertEqual(conv.status, 0, conv.stderr)
        let cj = try XCTUnwrap(conv.json as? [String: Any])
        XCTAssertEqual(cj["dropped_tensors"] as? [String], ["model.vision_tower.unused.weight"])
        let ins = try CLI.run(["inspect", out.path, "--verify", "--json"])
        XCTAssertEqual(ins.status, 0, ins.stderr)
        let ij = try XCTUnwrap(ins.json as? [String: Any])
        XCTAssertEqual(ij["verified"] as? Bool, true)
        let tensors = try XCTUnwrap(ij["tensors"] as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0["name"] as! String, $0["dtype"] as! String) })
        XCTAssertEqual(byName["model.layers.0.mlp.up_proj.weight"], "q8")
        XCTAssertEqual(byName["model.layers.0.input_layernorm.weight"], "f32")
        XCTAssertEqual(byName["model.layers.0.self_attn.q_proj.bias"], "f32")

        // Generation through the CLI equals generation through the library on the same file.
        let gen = try CLI.run(["generate", "-m", out.path, "-p", "Hello, world", "-n", "6", "--json", "-t", "1"])
        XCTAssertEqual(gen.status, 0, gen.stderr)
        let gj = try XCTUnwrap(gen.json as? [String: Any])
        let ids = try XCTUnwrap(gj["generated_token_ids"] as? [Int])
        XCTAssertEqual(ids.count, 6)
        XCTAssertEqual(gj["prompt_token_ids"] as? [Int], [9707, 11, 1879])   // "Hello" "," " world" in the Qwen2 vocabulary
        // --precise (two-term activations) and --mmap (weights read from the file mapping) run the same file
        let alt = try CLI.run(["generate", "-m", out.path, "-p", "Hello, world", "-n", "6", "--json", "-t", "2", "--precise", "--mmap"])
        XCTAssertEqual(alt.status, 0, alt.stderr)
        let aj = try XCTUnwrap(alt.json as? [String: Any])
        XCTAssertEqual((aj["generated_token_ids"] as? [Int])?.count, 6)
        XCTAssertEqual(aj["prompt_token_ids"] as? [Int], [9707, 11, 1879])
    }

    /// perplexity: windows of --ctx, --chunks caps them, and a run compared with its own records has KL 0 and
    /// full top-1 agreement; a missing text file fails before the model loads, naming the file.
    func testPerplexityWindowsAndSelfComparison() throws {
        let tmp = TestPaths.tempDir()
        let m = tmp.appendingPathComponent("tiny-f32.sentio")
        XCTAssertEqual(try CLI.run(["convert", Self.checkpoint.path, "-o", m.path, "--quant", "f32"]).status, 0)
        let text = TestPaths.testData.appendingPathComponent("imatrix/calib.txt").path
        let rec = tmp.appendingPathComponent("base.bin").path
        let a = try CLI.run(["perplexity", "-m", m.path, "-f", text, "--ctx", "64", "--chunks", "3", "-t", "1", "--dump-logits", rec, "--json"])
        XCTAssertEqual(a.status, 0, a.stderr)
        let aj = try XCTUnwrap(a.json as? [String: Any])
        XCTAssertEqual(aj["windows"] as? Int, 3)
        XCTAssertEqual(aj["scored_positions"] as? Int, 3 * 31)   // positions 32...62 of each window predict 33...63
        let b = try CLI.run(["perplexity", "-m", m.path, "-f", text, "--ctx", "64", "--chunks", "3", "-t", "1", "--kl-base", rec, "--json"])
        XCTAssertEqual(b.status, 0, b.stderr)
        let bj = try XCTUnwrap(b.json as? [String: Any])
        XCTAssertEqual(try XCTUnwrap(bj["kl_to_base"] as? Double), 0, accuracy: 1e-9)
        XCTAssertEqual(bj["top1_agreement_with_base"] as? Double, 1)
        let missing = try CLI.run(["perplexity", "-m", tmp.appendingPathComponent("absent.sentio").path, "-f", tmp.appendingPathComponent("no.txt").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no.txt"), missing.stderr)
    }

    func testBadInputsGiveOneLineErrorsAndExitCodes() throws {
        let tmp = TestPaths.tempDir()
        let missing = try CLI.run(["inspect", tmp.appendingPathComponent("nope.sentio").path])
        XCTAssertEqual(missing.status, 3)
        XCTAssertTrue(missing.stderr.contains("nope.sentio"), missing.stderr)
        // A valid file cut short: a corrupt file (exit 4), not an unsupported one.
        let good = tmp.appendingPathComponent("good.sentio")
        let w = try SentioFileWriter(url: good, config: "{}", metadata: [:], files: [:])
        try w.add(name: "t", dtype: .f32, shape: [64], array: [Float](repeating: 1, count: 64), codec: .raw)
        try w.finish()
        let junk = tmp.appendingPathComponent("junk.sentio")
        try Data(try Data(contentsOf: good).prefix(200)).write(to: junk)
        let bad = try CLI.run(["inspect", junk.path])
        XCTAssertEqual(bad.status, 4, bad.stderr)
        XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
        let badQuant = try CLI.run(["convert", Self.checkpoint.path, "-o", tmp.appendingPathComponent("x.sentio").path, "--quant", "q3"])
        XCTAssertEqual(badQuant.status, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp.appendingPathComponent("x.sentio").path))
        let notModel = try CLI.run(["generate", "-m", junk.path, "-p", "hi"])
        XCTAssertNotEqual(notModel.status, 0)
    }

    /// Killing a convert at any moment leaves no file at the output path.
    func testKilledConvertLeavesNoOutput() throws {
        let tmp = TestPaths.tempDir()
        for delayMs in [5, 40, 150] {
            let out = tmp.appendingPathComponent("k\(delayMs).sentio")
            let r = try CLI.start(["convert", Self.checkpoint.path, "-o", out.path, "--quant", "q4"])
            usleep(UInt32(delayMs * 1000))
            kill(r.process.processIdentifier, SIGKILL)
            r.process.waitUntilExit()
            if r.process.terminationReason == .uncaughtSignal {
                XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "partial output after kill at \(delayMs) ms")
            } else {
                // The convert finished before the kill: then the file must be complete and valid.
                XCTAssertEqual(try CLI.run(["inspect", out.path, "--verify", "--json"]).status, 0)
            }
        }
        // The next convert to the same path removes the hidden partial files of killed writers.
        let out = tmp.appendingPathComponent("k5.sentio")
        XCTAssertEqual(try CLI.run(["convert", Self.checkpoint.path, "-o", out.path, "--quant", "q4"]).status, 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter { $0.hasPrefix(".k5.sentio.partial-") }
        XCTAssertEqual(left, [])
    }
}
