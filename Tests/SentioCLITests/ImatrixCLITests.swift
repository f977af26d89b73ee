// `sentio imatrix` against an outside oracle, and `sentio convert --imatrix`.
//
// The oracle (Tests/Data/imatrix/tiny-a-oracle.safetensors) was written by tools/imatrix-oracle.py: an
// independent PyTorch float32 forward of the tiny fixture's Qwen2 (the same weights CLITests' checkpoint holds)
// over Tests/Data/imatrix/calib.txt in windows of 64 tokens. Sentio runs the same text with an f32 model and an
// f32 KV cache, so the two differ only by float32 summation order: every column's mean square must agree
// within 1e-4 of the vector's largest value (the fixture README's bound for float32 vs float64 forwards).
import XCTest
import SentioCore
import SentioFormat
import SentioTestSupport

final class ImatrixCLITests: XCTestCase {
    static var dataDir: URL { TestPaths.testData.appendingPathComponent("imatrix") }

    func testImatrixMatchesTorchOracleAndWeightsTheConversion() throws {
        let tmp = TestPaths.tempDir()
        let f32 = tmp.appendingPathComponent("tiny-f32.sentio")
        XCTAssertEqual(try CLI.run(["convert", CLITests.checkpoint.path, "-o", f32.path, "--quant", "f32"]).status, 0)
        let imx = tmp.appendingPathComponent("imx.safetensors")
        let r = try CLI.run(["imatrix", "-m", f32.path, "-f", Self.dataDir.appendingPathComponent("calib.txt").path,
                             "--ctx", "64", "--kv", "f32", "-t", "1", "-o", imx.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let j = try XCTUnwrap(r.json as? [String: Any])

        let oracleURL = Self.dataDir.appendingPathComponent("tiny-a-oracle.safetensors")
        let oracle = try ImportanceMatrix(contentsOf: oracleURL)
        let mine = try ImportanceMatrix(contentsOf: imx)
        XCTAssertEqual(Set(mine.columns.keys), Set(oracle.columns.keys))
        XCTAssertEqual(mine.columns.count, 14)   // 2 layers x 7 matrices; the head is tied to the embedding
        XCTAssertEqual(mine.info["sentio.imatrix.tokens"], oracle.info["sentio.imatrix.tokens"])
        for (name, ref) in oracle.columns {
            let got = try XCTUnwrap(mine.columns[name])
            XCTAssertEqual(got.count, ref.count, name)
            let scale = ref.map(abs).max()!
            let worst = zip(got, ref).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, 1e-4 * scale, "\(name): max |diff| \(worst), largest value \(scale)")
        }
        // The same windows give the same perplexity (mean NLL within 1e-3 nats: f32 logits, other sum order).
        let ppl = try XCTUnwrap(j["perplexity"] as? Double)
        let refPpl = try XCTUnwrap(Double(oracle.info["sentio.imatrix.perplexity"] ?? ""))
        XCTAssertEqual(log(ppl), log(refPpl), accuracy: 1e-3)

        // convert --imatrix: every 4- or 5-bit matrix with an entry is quantized with weights (and the bytes differ
        // from the unweighted conversion), for q4_1, q4 and q5; the result loads and generates.
        for quant in ["q4_1", "q4", "q5"] {
            let plain = tmp.appendingPathComponent("plain-\(quant).sentio"), weighted = tmp.appendingPathComponent("w-\(quant).sentio")
            // (the 151936-row embedding at f16: quantizing it is most of a debug build's convert time, and the
            // importance matrix has no entry for it anyway)
            let common = ["--quant", quant, "--no-lz4", "--override", "*embed_tokens*=f16"]
            XCTAssertEqual(try CLI.run(["convert", CLITests.checkpoint.path, "-o", plain.path] + common).status, 0)
            let c = try CLI.run(["convert", CLITests.checkpoint.path, "-o", weighted.path] + common + ["--imatrix", imx.path, "--json"])
            XCTAssertEqual(c.status, 0, c.stderr)
            let cj = try XCTUnwrap(c.json as? [String: Any])
            XCTAssertEqual(cj["weighted_by_importance"] as? Int, 14, quant)
            XCTAssertNotEqual(try Data(contentsOf: plain), try Data(contentsOf: weighted), quant)
            let g = try CLI.run(["generate", "-m", weighted.path, "-p", "Hello", "-n", "4", "--json", "-t", "1"])
            XCTAssertEqual(g.status, 0, g.stderr)
        }
        // With a type the weighting does not apply to, the convert says so instead of silently ignoring it.
        let q8 = try CLI.run(["convert", CLITests.checkpoint.path, "-o", tmp.appendingPathComponent("q8.sentio").path, "--quant", "q8",
                              "--override", "*embed_tokens*=f16", "--imatrix", imx.path, "--json"])
        XCTAssertEqual(q8.status, 0, q8.stderr)
        let q8j = try XCTUnwrap(q8.json as? [String: Any])
        XCTAssertEqual(q8j["weighted_by_importance"] as? Int, 0)
        XCTAssertTrue((q8j["notes"] as? [String] ?? []).contains { $0.contains("not used") }, "\(q8j["notes"] ?? "")")
    }

    func testBadImportanceFilesAreRejectedWithoutOutput() throws {
        let tmp = TestPaths.tempDir()
        let out = tmp.appendingPathComponent("x.sentio")
        // A safetensors file that is not an importance matrix.
        let plain = tmp.appendingPathComponent("plain.safetensors")
        var w = SafetensorsWriter()
        w.add("model.layers.0.mlp.up_proj.weight", floats: [Float](repeating: 1, count: 64), shape: [64])
        try w.write(to: plain)
        // A marked one whose entry has the wrong length for the weight it names.
        let short = tmp.appendingPathComponent("short.safetensors")
        try ImportanceMatrix(columns: ["model.layers.0.mlp.up_proj.weight": [1, 2, 3]]).write(to: short)
        // Garbage.
        let junk = tmp.appendingPathComponent("junk.safetensors")
        try Data("not a safetensors file at all".utf8).write(to: junk)
        for (file, words) in [(plain, "not an importance matrix"), (short, "up_proj"), (junk, "junk.safetensors")] {
            let r = try CLI.run(["convert", CLITests.checkpoint.path, "-o", out.path, "--quant", "q4_1", "--imatrix", file.path])
            XCTAssertNotEqual(r.status, 0, file.lastPathComponent)
            XCTAssertTrue(r.stderr.contains(words), r.stderr)
            XCTAssertTrue(r.stderr.contains(file.lastPathComponent), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        }
    }
}
