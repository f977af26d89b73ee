// Interoperability with Python peft (tools/peft-interop.py).
// 1. A peft-written adapter (Tests/Data/lora/peft-adapter, rsLoRA, all seven projections) on the tiny
//    random Qwen2 saved by transformers (Tests/Data/lora/tiny-qwen2) loads in Sentio and gives peft's
//    logits (Tests/Data/lora/peft-logits.safetensors).
// 2. An adapter written by Sentio loads in peft with the same logits: the test writes the adapter and
//    Sentio's logits, then runs `tools/peft-interop.py check` when SENTIO_PEFT_PYTHON names a Python
//    with torch / transformers / peft (skipped otherwise).
// Tolerance 1e-4 of the largest logit: both sides are f32 with different summation orders over
// dims <= 64 (observed ~1e-6); an adapter applied wrongly (scale, transposition, missing module) is
// off by O(1) (the adapter moves the logits by ~4).
import XCTest
import SentioCore
import SentioFormat
import SentioModels
import SentioTestSupport
import SentioTrainer

final class PEFTInteropTests: XCTestCase {
    static var dataDir: URL { TestPaths.testData.appendingPathComponent("lora") }

    static func tinyModel() throws -> Qwen2Model {
        let dir = dataDir.appendingPathComponent("tiny-qwen2")
        let cfg = try Qwen2Config.parse(try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8),
                                        source: "config.json")
        let st = try SafetensorsFile(dir.appendingPathComponent("model.safetensors"))
        let w = InMemoryWeights(name: "tiny-qwen2")
        for spec in Qwen2Schema.tensors(cfg) { w.add(spec.name, floats: try st.floats(spec.name), shape: spec.shape) }
        return try Qwen2Model(config: cfg, source: w)
    }

    func testPEFTWrittenAdapterGivesPEFTLogits() throws {
        let model = try Self.tinyModel()
        let adapter = try PEFTFormat.load(Self.dataDir.appendingPathComponent("peft-adapter"), model: model.config)
        XCTAssertTrue(adapter.config.useRSLoRA)
        XCTAssertEqual(adapter.modules.count, 2 * 7)
        let ref = try SafetensorsFile(Self.dataDir.appendingPathComponent("peft-logits.safetensors"))
        let ids = try ref.ints("ids").map { Int32($0) }
        model.linearHook = adapter
        let logits = try LoRATests.inferenceLogits(model, ids)
        XCTAssertClose(logits, try ref.floats("logits"), rel: 1e-4, "Sentio + peft adapter vs peft")
        model.linearHook = nil
        XCTAssertGreaterThan(compare(try LoRATests.inferenceLogits(model, ids), try ref.floats("logits")).maxRel, 1e-2,
                             "without the adapter the logits must differ")
    }

    func testSentioWrittenAdapterLoadsInPEFT() throws {
        let model = try Self.tinyModel()
        let adapter = try TrainerFixtures.randomAdapter(model, r: 2, alpha: 4, targets: .names(["q_proj", "v_proj", "down_proj"]), seed: 71)
        let dir = TestPaths.tempDir("sentio-adapter")
        defer { try? FileManager.default.removeItem(at: dir) }
        try PEFTFormat.save(adapter, to: dir)
        let ids: [Int32] = [7, 8, 9, 100, 3, 3, 60]
        model.linearHook = adapter
        let logits = try LoRATests.inferenceLogits(model, ids)
        var w = SafetensorsWriter()
        w.add("ids", int64: ids.map(Int64.init), shape: [ids.count])
        w.add("logits", floats: logits, shape: [ids.count, model.config.vocabSize])
        try w.write(to: dir.appendingPathComponent("sentio-logits.safetensors"))
        guard let py = ProcessInfo.processInfo.environment["SENTIO_PEFT_PYTHON"], !py.isEmpty else {
            print("PEFTInteropTests: SENTIO_PEFT_PYTHON not set; adapter written, peft check skipped")
            return
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: py)
        p.arguments = [TestPaths.repoRoot.appendingPathComponent("tools/peft-interop.py").path, "check", dir.path,
                       "--model", Self.dataDir.appendingPathComponent("tiny-qwen2").path]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        print(text)
        XCTAssertEqual(p.terminationStatus, 0, "peft check failed: \(text)")
    }
}
