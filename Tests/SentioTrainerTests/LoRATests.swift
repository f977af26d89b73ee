// LoRA adapters: PEFT folder round trip and validation, target matching, the inference hook against
// merged weights (in memory and through a merged .sentio), and the training forward against the
// inference forward.
//
// Tolerances: merged vs unmerged differ only in summation order (W·x + s·B(A·x) vs (W + sBA)·x) in
// f32 over dims <= 64: 1e-5 relative to the largest logit. The training forward (full-sequence
// attention in TrainOps) vs the inference forward (paged KV cache, decode attention kernel) use
// different f32 orders too: 1e-5 on log-probs of size ~5.
import XCTest
import SentioCore
import SentioFormat
import SentioKernels
import SentioModels
import SentioRuntime
import SentioTestSupport
import SentioTrainer

final class LoRATests: XCTestCase {
    func testTargetsMatchLikePEFT() throws {
        let re = LoRATargets.regex(#"^model\.layers\.\d+\.(self_attn\.(q_proj|v_proj))$"#)
        XCTAssertTrue(try re.matches("model.layers.3.self_attn.q_proj"))
        XCTAssertFalse(try re.matches("model.layers.3.self_attn.k_proj"))
        XCTAssertFalse(try re.matches("x.model.layers.3.self_attn.q_proj"), "regex must match the whole path")
        XCTAssertFalse(try re.matches("model.layers.3.self_attn.q_proj.extra"))
        let names = LoRATargets.names(["q_proj", "mlp.down_proj"])
        XCTAssertTrue(try names.matches("model.layers.0.self_attn.q_proj"))
        XCTAssertTrue(try names.matches("model.layers.0.mlp.down_proj"))
        XCTAssertFalse(try names.matches("model.layers.0.self_attn.xq_proj"))
        let model = try TrainerFixtures.random(seed: 1)
        let a = try LoRAAdapter(config: LoRAConfig(r: 2, targets: .parse("q_proj,v_proj")), model: model.config, seed: 1)
        XCTAssertEqual(a.modules.map(\.path), ["model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                                               "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"])
        XCTAssertThrowsError(try LoRAAdapter(config: LoRAConfig(targets: .names(["nothing"])), model: model.config, seed: 1))
        XCTAssertEqual(LoRAConfig(r: 16, alpha: 32).scale, 2)
        XCTAssertEqual(LoRAConfig(r: 16, alpha: 32, useRSLoRA: true).scale, 8)
    }

    func testFreshAdapterIsKaimingAAndZeroB() throws {
        let model = try TrainerFixtures.random(seed: 2)
        let a = try LoRAAdapter(config: LoRAConfig(r: 4), model: model.config, seed: 7)
        for m in a.modules {
            let bound = 1 / Float(m.inFeatures).squareRoot()
            XCTAssertTrue(a.tensors.values[m.a].allSatisfy { abs($0) <= bound })
            XCTAssertGreaterThan(a.tensors.values[m.a].map(abs).max()!, bound * 0.8)
            XCTAssertTrue(a.tensors.values[m.b].allSatisfy { $0 == 0 })
        }
    }

    func testPEFTRoundTripAndFixtureNames() throws {
        let model = try TrainerFixtures.random(seed: 3)
        let a = try TrainerFixtures.randomAdapter(model, r: 3, alpha: 5, dropout: 0.05, rs: true, seed: 3)
        let dir = TestPaths.tempDir("lora-rt")
        defer { try? FileManager.default.removeItem(at: dir) }
        try PEFTFormat.save(a, to: dir)
        let b = try PEFTFormat.load(dir, model: model.config)
        XCTAssertEqual(b.config, a.config)
        XCTAssertEqual(b.tensors.names, a.tensors.names)
        XCTAssertEqual(b.tensors.values, a.tensors.values)
        // The fixture adapter (written by peft's save_pretrained) has exactly the names Sentio builds.
        let tiny = try Qwen2Config.parse(try String(contentsOf: TestPaths.tinyA.appendingPathComponent("config.json"), encoding: .utf8), source: "config.json")
        let fx = try PEFTFormat.load(TestPaths.tinyA.appendingPathComponent("lora_adapter"), model: tiny)
        let st = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("lora_adapter/adapter_model.safetensors"))
        XCTAssertEqual(Set(fx.tensors.names), Set(st.names))
        XCTAssertTrue(fx.tensors.names.contains("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
    }

    func testPEFTValidationNamesFileAndProblem() throws {
        let model = try TrainerFixtures.random(seed: 4)
        let a = try TrainerFixtures.randomAdapter(model, seed: 4)
        let dir = TestPaths.tempDir("lora-bad")
        defer { try? FileManager.default.removeItem(at: dir) }
        try PEFTFormat.save(a, to: dir)
        let cfgURL = dir.appendingPathComponent(PEFTFormat.configFile)
        let good = try Data(contentsOf: cfgURL)
        func expectError(_ fragment: String, file: String, _ body: () throws -> Void, line: UInt = #line) {
            XCTAssertThrowsError(try body(), line: line) { e in
                let s = "\(e)"
                XCTAssertTrue(s.contains(fragment) && s.contains(file), "error '\(s)' should name \(file) and '\(fragment)'", line: line)
            }
        }
        func withConfig(_ edit: (inout [String: Any]) -> Void) throws {
            var obj = try JSONSerialization.jsonObject(with: good) as! [String: Any]
            edit(&obj)
            try JSONSerialization.data(withJSONObject: obj).write(to: cfgURL)
        }
        try withConfig { $0["use_dora"] = true }
        expectError("use_dora", file: PEFTFormat.configFile) { _ = try PEFTFormat.load(dir, model: model.config) }
        try withConfig { $0["r"] = 0 }
        expectError("rank", file: PEFTFormat.configFile) { _ = try PEFTFormat.load(dir, model: model.config) }
        try withConfig { $0["r"] = 5 }   // tensors were written with r = 4
        expectError("shape", file: PEFTFormat.weightsFile) { _ = try PEFTFormat.load(dir, model: model.config) }
        try withConfig { $0["target_modules"] = ["q_proj"] }   // the file holds more modules than targeted
        expectError("not a LoRA tensor", file: PEFTFormat.weightsFile) { _ = try PEFTFormat.load(dir, model: model.config) }
        try Data("{".utf8).write(to: cfgURL)
        expectError("JSON", file: PEFTFormat.configFile) { _ = try PEFTFormat.load(dir, model: model.config) }
        try good.write(to: cfgURL)
        try Data([1, 2, 3]).write(to: dir.appendingPathComponent(PEFTFormat.weightsFile))
        expectError("too short", file: PEFTFormat.weightsFile) { _ = try PEFTFormat.load(dir, model: model.config) }
        XCTAssertThrowsError(try PEFTFormat.load(dir.appendingPathComponent("missing"), model: model.config))
    }

    /// Logits of every position for `ids` with the model's inference forward.
    static func inferenceLogits(_ model: Qwen2Model, _ ids: [Int32]) throws -> [Float] {
        let c = model.config
        var emb = [Float](repeating: 0, count: ids.count * c.hiddenSize)
        try emb.withUnsafeMutableBufferPointer { try model.embed(ids, into: $0.baseAddress!) }
        let cache = KVCacheLayout(config: c, blockTokens: 16, dtype: .f32).makeCache()
        var logits = [Float](repeating: 0, count: ids.count * c.vocabSize)
        try emb.withUnsafeBufferPointer { e in
            try logits.withUnsafeMutableBufferPointer { l in
                try model.forward(input: e.baseAddress!, segments: [SequenceSegment(cache: cache, count: ids.count)],
                                  logitRows: .all, logits: l.baseAddress!)
            }
        }
        return logits
    }

    func testHookEqualsMergedWeights() throws {
        let model = try TrainerFixtures.random(seed: 5)
        let a = try TrainerFixtures.randomAdapter(model, r: 4, alpha: 16, targets: .allLinear, seed: 5)
        let ids: [Int32] = [3, 14, 15, 92, 65, 35, 89, 79]
        let base = try Self.inferenceLogits(model, ids)
        model.linearHook = a
        let hooked = try Self.inferenceLogits(model, ids)
        model.linearHook = nil
        XCTAssertEqual(try Self.inferenceLogits(model, ids), base, "removing the hook restores the base model")
        let names = Qwen2Schema.tensors(model.config).map(\.name)
        let merged = try Qwen2Model(config: model.config, source: try LoRAMerge.merged(source: model.weights.source, names: names, adapter: a))
        let m = try Self.inferenceLogits(merged, ids)
        XCTAssertClose(hooked, m, rel: 1e-5, "hook vs merged")
        XCTAssertGreaterThan(compare(hooked, base).maxRel, 1e-3, "the adapter must change the logits")
        a.enabled = false
        model.linearHook = a
        XCTAssertEqual(try Self.inferenceLogits(model, ids), base, "a disabled adapter is the base model")
    }

    func testMergeSentioFile() throws {
        let model = try TrainerFixtures.random(seed: 6)
        let a = try TrainerFixtures.randomAdapter(model, seed: 6)
        let dir = TestPaths.tempDir("lora-merge")
        defer { try? FileManager.default.removeItem(at: dir) }
        let cfgJSON = String(decoding: try JSONEncoder().encode(model.config), as: UTF8.self)
        let src = dir.appendingPathComponent("base.sentio")
        let w = try SentioFileWriter(url: src, config: cfgJSON, metadata: ["k": "v"], files: ["note.txt": Data("hi".utf8)])
        for spec in Qwen2Schema.tensors(model.config) {
            let t = try model.weights.source.tensor(spec.name)
            try w.add(name: spec.name, dtype: t.dtype, shape: t.shape, data: t.bytes)
        }
        try w.finish()
        let out = dir.appendingPathComponent("merged.sentio")
        let mergedNames = try LoRAMerge.mergeSentio(input: src, adapter: a, output: out)
        XCTAssertEqual(mergedNames.count, a.modules.count)
        let f = try SentioFile.open(out, verify: true)
        XCTAssertEqual(f.metadata["k"], "v")
        XCTAssertEqual(f.files["note.txt"], Data("hi".utf8))
        let merged = try Qwen2Model(config: model.config, source: SentioFileWeights(f))
        let ids: [Int32] = [1, 2, 3, 50, 60, 70]
        model.linearHook = a
        XCTAssertClose(try Self.inferenceLogits(merged, ids), try Self.inferenceLogits(model, ids), rel: 1e-5, "merged .sentio vs hook")
    }

    func testTrainingForwardMatchesInference() throws {
        let model = try TrainerFixtures.random(seed: 7)
        let a = try TrainerFixtures.randomAdapter(model, seed: 7)
        let ids: [Int32] = [5, 9, 13, 2, 77, 40, 41, 8, 3]
        let V = model.config.vocabSize, h = model.config.hiddenSize
        model.linearHook = a
        let logits = try Self.inferenceLogits(model, ids)
        model.linearHook = nil
        // Prompt = first 4 tokens; two branches continuing it differently: branch 0 is the real continuation.
        var emb = [Float](repeating: 0, count: ids.count * h)
        try emb.withUnsafeMutableBufferPointer { try model.embed(ids, into: $0.baseAddress!) }
        let p = 4
        let other: [Int32] = [11, 12]
        var otherEmb = [Float](repeating: 0, count: 2 * h)
        try otherEmb.withUnsafeMutableBufferPointer { try model.embed(other, into: $0.baseAddress!) }
        var batch = TrainBatch(hidden: h, prefix: Array(emb[0..<(p * h)]), branches: [otherEmb, Array(emb[(p * h)...])], targets: [])
        let start = batch.branchStart(1)
        for j in 0..<(ids.count - p - 1) { batch.targets.append(LogProbTarget(row: start + j, token: ids[p + 1 + j])) }
        batch.targets.append(LogProbTarget(row: p - 1, token: ids[p]))
        let lp = try Qwen2Backprop(model: model).logProbs(batch, adapter: a)
        var expect: [Float] = []
        func logSoftmax(_ row: Int, _ tok: Int32) -> Float {
            let r = logits[(row * V)..<((row + 1) * V)].map(Double.init)
            let m = r.max()!
            return Float(r[Int(tok)] - m - Foundation.log(r.reduce(0) { $0 + Foundation.exp($1 - m) }))
        }
        for j in 0..<(ids.count - p - 1) { expect.append(logSoftmax(p + j, ids[p + 1 + j])) }
        expect.append(logSoftmax(p - 1, ids[p]))
        XCTAssertClose(lp, expect, rel: 1e-5, "training vs inference log-probs")
    }
}
