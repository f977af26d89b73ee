// `sentio train grpo|sft` on the r1omni-tiny-a fixture (converted to .sentio by `sentio convert`), and
// `sentio lora inspect|merge` / `--lora` on recognize. Child processes, debug build: small settings
// (G = 2, 6 new tokens, 2 clips) keep each run to seconds.
import Foundation
import XCTest
@testable import SentioTrainer
import SentioCore
import SentioFormat
import SentioModels
import SentioTestSupport

final class GRPOStepperCLITests: XCTestCase {
    nonisolated(unsafe) static var converted: URL?
    static let lock = NSLock()

    /// tiny-a as an f32 .sentio (converted once per test process through the CLI).
    static func tinyModel() throws -> URL {
        try lock.withLock {
            if let c = converted { return c }
            let ck = TestPaths.tempDir("grpo-ckpt"), fm = FileManager.default
            for n in ["config.json", "model.safetensors", "generation_config.json", "siglip-tiny-patch16-224",
                      "whisper-tiny-large-v3-shape", "bert-tiny-uncased"] {
                try fm.createSymbolicLink(at: ck.appendingPathComponent(n), withDestinationURL: TestPaths.tinyA.appendingPathComponent(n))
            }
            let tok = TestPaths.fixtures.appendingPathComponent("qwen2-tokenizer")
            for n in ["tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json"] {
                try fm.copyItem(at: tok.appendingPathComponent(n), to: ck.appendingPathComponent(n))
            }
            let out = TestPaths.tempDir("grpo-model").appendingPathComponent("tiny-a-f32.sentio")
            let r = try CLI.run(["convert", ck.path, "-o", out.path, "--quant", "f32", "--no-lz4"])
            guard r.status == 0 else { throw SentioError(.io, "convert failed: \(r.stderr)") }
            converted = out
            return out
        }
    }

    /// An R1-Omni JSON dataset of `n` entries on the fixture clip with alternating labels.
    func dataset(_ n: Int, in dir: URL) throws -> URL {
        let clip = TestPaths.tinyA.appendingPathComponent("clip.mp4").path
        let labels = ["happy", "sad", "angry", "neutral"]
        let rows: [[String: Any]] = (0..<n).map { i in
            ["video": clip, "conversations": [
                ["from": "human", "value": "<video>\n<audio>\n" + OmniModel.defaultQuestion],
                ["from": "gpt", "value": "<think>the face</think>\n<answer>\(labels[i % labels.count])</answer>"]]]
        }
        let u = dir.appendingPathComponent("data.json")
        try JSONSerialization.data(withJSONObject: rows).write(to: u)
        return u
    }

    func log(_ dir: URL) throws -> [StepRecord] {
        try JSONLFile.read(dir.appendingPathComponent("log.jsonl"), as: StepRecord.self).map(\.withoutTiming)
    }

    /// A 4-step GRPO run through the CLI: rollouts sample (completion lengths and both rewards logged),
    /// the encoder cache holds the clip, checkpoints hold a PEFT adapter (`lora inspect`); the same run
    /// resumed from its step-2 checkpoint (as after a kill between steps 2 and 4) gives the same log lines
    /// and a bit-identical final adapter. The random tiny model never writes the <think>/<answer> format, so
    /// its rewards (and gradients) are 0 here; testStepperIsDeterministicAndResumes covers learning signal.
    func testGRPORunThroughTheCLIResumesIdentically() throws {
        let model = try Self.tinyModel()
        let work = TestPaths.tempDir("grpo-run")
        let data = try dataset(2, in: work)
        let a = work.appendingPathComponent("a"), b = work.appendingPathComponent("b")
        let args = ["train", "grpo", "--model", model.path, "--data", data.path, "--steps", "4", "--save-every", "2",
                    "--keep-checkpoints", "0", "--num-generations", "2", "--max-new-tokens", "6", "--lr", "0.01",
                    "--seed", "5", "--threads", "2", "--sample-every", "1", "--lora-r", "4"]
        let r = try CLI.run(args + ["--out", a.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let la = try log(a)
        XCTAssertEqual(la.map(\.step), [1, 2, 3, 4])
        for rec in la {
            XCTAssertTrue(rec.loss.isFinite && rec.gradNorm.isFinite)
            XCTAssertGreaterThan(rec.completionLength, 0)
            XCTAssertEqual(Set(rec.rewards.keys), ["accuracy", "format"])
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: a.appendingPathComponent("samples.jsonl").path))
        // The encoder cache holds the clip's prompt rows (one clip, one instruction: one file).
        let cached = try FileManager.default.contentsOfDirectory(atPath: a.appendingPathComponent("encoder-cache").path)
        XCTAssertEqual(cached.filter { $0.hasSuffix(".safetensors") }.count, 1)

        // Resume from step 2 in a copy.
        try FileManager.default.copyItem(at: a, to: b)
        let root = b.appendingPathComponent("checkpoints")
        try FileManager.default.removeItem(at: root.appendingPathComponent("step-000004"))
        try Data("step-000002\n".utf8).write(to: root.appendingPathComponent("latest"))
        let r2 = try CLI.run(args + ["--out", b.path, "--resume"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssertEqual(try log(b), la)
        let wa = try Data(contentsOf: a.appendingPathComponent("checkpoints/step-000004/adapter/adapter_model.safetensors"))
        let wb = try Data(contentsOf: b.appendingPathComponent("checkpoints/step-000004/adapter/adapter_model.safetensors"))
        XCTAssertEqual(wa, wb, "resumed adapter differs")

        // lora inspect on the checkpoint's adapter: 2 layers x 7 projections, r 4.
        let ins = try CLI.run(["lora", "inspect", a.appendingPathComponent("checkpoints/step-000004/adapter").path, "--json"])
        XCTAssertEqual(ins.status, 0, ins.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(ins.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["r"] as? Int, 4)
        XCTAssertEqual(obj["tensor_count"] as? Int, 28)
        // q,o: 64x64; k,v: kv x 64; gate, up: inter x 64; down: 64 x inter; A [4, in], B [out, 4].
        let cfg = try Qwen2Config.parse(try String(contentsOf: TestPaths.tinyA.appendingPathComponent("config.json"), encoding: .utf8), source: "config.json")
        let h = cfg.hiddenSize, kv = cfg.kvDim, f = cfg.intermediateSize
        let perLayer = 4 * ((h + h) * 2 + (h + kv) * 2 + (h + f) * 2 + (f + h))
        XCTAssertEqual(obj["parameter_count"] as? Int, perLayer * cfg.numHiddenLayers)
        XCTAssertGreaterThan(obj["global_norm"] as? Double ?? 0, 0)
    }

    /// SFT on two examples: the token-mean cross-entropy falls over 8 steps.
    func testSFTLossDecreases() throws {
        let model = try Self.tinyModel()
        let work = TestPaths.tempDir("sft-run")
        let data = try dataset(2, in: work)
        let out = work.appendingPathComponent("out")
        let r = try CLI.run(["train", "sft", "--model", model.path, "--data", data.path, "--out", out.path, "--steps", "8",
                             "--batch-size", "2", "--lr", "0.01", "--schedule", "constant", "--seed", "1", "--threads", "2",
                             "--lora-r", "4"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let losses = try log(out).map(\.loss)
        XCTAssertEqual(losses.count, 8)
        XCTAssertLessThan(losses.last!, losses.first! * 0.9, "SFT loss did not fall: \(losses)")
    }

    /// `recognize --lora DIR` (unmerged, the adapter as a hook) and `recognize` on the `lora merge`d f32
    /// model give the same greedy tokens; without the adapter they differ (the adapter is large enough to
    /// change the output, so the equality is not vacuous).
    func testMergedEqualsUnmerged() throws {
        let model = try Self.tinyModel()
        let work = TestPaths.tempDir("lora-merge")
        let cfg = try Qwen2Config.parse(try String(contentsOf: TestPaths.tinyA.appendingPathComponent("config.json"), encoding: .utf8), source: "config.json")
        let adapter = try LoRAAdapter(config: LoRAConfig(r: 4, alpha: 8), model: cfg, seed: 3)
        var rng = TestRNG(seed: 9)
        for m in adapter.modules { for j in adapter.tensors.values[m.b].indices { adapter.tensors.values[m.b][j] = 0.5 * rng.normal() } }
        let dir = work.appendingPathComponent("adapter")
        try PEFTFormat.save(adapter, to: dir)
        let merged = work.appendingPathComponent("merged.sentio")
        let m = try CLI.run(["lora", "merge", "--model", model.path, "--lora", dir.path, "--out", merged.path, "--dtype", "f32"])
        XCTAssertEqual(m.status, 0, m.stderr)
        let clip = TestPaths.tinyA.appendingPathComponent("clip.mp4").path
        func ids(_ args: [String]) throws -> [Int] {
            let r = try CLI.run(["recognize", "--json", "--max-tokens", "12", "--threads", "2"] + args + [clip])
            XCTAssertEqual(r.status, 0, r.stderr)
            let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            return try XCTUnwrap(o?["generated_token_ids"] as? [Int])
        }
        let unmerged = try ids(["--model", model.path, "--lora", dir.path])
        XCTAssertEqual(try ids(["--model", merged.path]), unmerged)
        XCTAssertNotEqual(try ids(["--model", model.path]), unmerged)
        // A wrong adapter folder is a clear error.
        let bad = try CLI.run(["recognize", "--model", model.path, "--lora", work.appendingPathComponent("nope").path, clip])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("adapter"), bad.stderr)
    }
    /// The real GRPO stepper on the tiny model (G = 3, 5 new tokens, beta 0.04, LoRA r 4) with a reward that
    /// varies between completions (their text length mod 3), so advantages and gradients are non-zero.
    static func varyingRewardStepper(model: URL, work: URL, data: TrainingData) throws -> GRPOStepper {
        let policy = try PolicyModel(url: model)
        policy.encoderCache = try EncoderCache(directory: work.appendingPathComponent("cache"))
        let adapter = try LoRAAdapter(config: LoRAConfig(r: 4, alpha: 8), model: policy.llm.config, seed: 7)
        var o = GRPOStepperOptions(grpo: GRPOConfig(eosTokenId: policy.eosTokenId))
        o.numGenerations = 3
        o.maxNewTokens = 5
        o.grpo.beta = 0.04
        o.rewards = RewardSet([Reward(name: "len3") { c, _ in Double(c.unicodeScalars.count % 3) }])
        return GRPOStepper(policy: policy, adapter: adapter, data: data, options: o)
    }

    /// The real stepper in the loop, in process, with a reward that varies between completions (their
    /// text length mod 3) so advantages and gradients are non-zero: two runs with one seed give identical
    /// logs and adapters, a run stopped after step 2 and resumed matches them, and the adapter moved.
    func testStepperIsDeterministicAndResumes() throws {
        let model = try Self.tinyModel()
        let work = TestPaths.tempDir("grpo-inproc")
        let data = try TrainingData(contentsOf: try dataset(2, in: work))
        func stepper() throws -> GRPOStepper { try Self.varyingRewardStepper(model: model, work: work, data: data) }
        var cfg = TrainerConfig(steps: 4)
        cfg.lr = 0.01
        cfg.saveEvery = 2
        cfg.keepCheckpoints = 0
        cfg.seed = 11
        func run(_ dir: URL, stopAfter: Int? = nil, resume: Bool = false) throws -> ([StepRecord], [Float]) {
            let s = try stepper()
            let t = try Trainer(stepper: s, dataCount: data.samples.count, config: cfg, out: dir)
            t.showProgress = false
            _ = try t.train(resume: resume, stopAfter: stopAfter)
            return (try log(dir), s.parameters.values)
        }
        let (la, pa) = try run(work.appendingPathComponent("a"))
        let (lb, pb) = try run(work.appendingPathComponent("b"))
        XCTAssertEqual(la, lb)
        XCTAssertEqual(pa, pb)
        XCTAssertGreaterThan(la.map(\.gradNorm).max() ?? 0, 0, "no learning signal")
        XCTAssertLessThan(la.map(\.fracZeroStdGroups).min() ?? 1, 1)
        XCTAssertNotEqual(pa, try stepper().parameters.values, "the adapter did not move")
        let c = work.appendingPathComponent("c")
        _ = try run(c, stopAfter: 2)
        XCTAssertEqual(try log(c).count, 2)
        let (lc, pc) = try run(c, resume: true)
        XCTAssertEqual(lc, la)
        XCTAssertEqual(pc, pa)
    }

    /// Two updates per batch of rollouts (TRL's num_iterations): the second update of a batch reuses the
    /// first one's completions (same rewards and completion lengths, no new rollout), while the adapter has
    /// moved in between (the loss differs) and the first update's importance ratios are 1 (nothing clipped).
    func testTwoIterationsReuseTheRollouts() throws {
        let model = try Self.tinyModel()
        let work = TestPaths.tempDir("grpo-iter")
        let data = try TrainingData(contentsOf: try dataset(2, in: work))
        let stepper = try Self.varyingRewardStepper(model: model, work: work, data: data)
        var cfg = TrainerConfig(steps: 4)
        cfg.lr = 0.05
        cfg.iterations = 2
        cfg.saveEvery = 4
        cfg.seed = 11
        let dir = work.appendingPathComponent("run")
        let t = try Trainer(stepper: stepper, dataCount: data.samples.count, config: cfg, out: dir)
        t.showProgress = false
        _ = try t.train(resume: false)
        let records = try log(dir)
        XCTAssertEqual(records.count, 4)
        for b in stride(from: 0, to: records.count, by: 2) {
            let first = records[b], second = records[b + 1]
            XCTAssertEqual(first.reward, second.reward, "step \(second.step) did not reuse the rollouts")
            XCTAssertEqual(first.rewards, second.rewards)
            XCTAssertEqual(first.completionLength, second.completionLength)
            XCTAssertEqual(first.clipRatio, 0, "first update of a batch: ratios are exp(0) = 1")
            XCTAssertNotEqual(first.loss, second.loss, "the adapter did not change between the two updates")
        }
    }
}
