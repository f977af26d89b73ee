// GRPO step timings. The tiny-a step always runs (and prints its time); the real-shape step runs with
// SENTIO_SLOW=1 on SENTIO_BENCH_MODEL (default models/cache/random-r1omni-q4.sentio: the Qwen2.5-0.5B
// shaped LLM of the random R1-Omni, q4 base), a ~SENTIO_BENCH_PROMPT-row prompt (default 1000, random
// rows as the spliced video/audio sequence would be), G = 8 completions of SENTIO_BENCH_TOKENS (128)
// tokens, LoRA r = 8 on all seven projections, beta 0.04 (one reference pass), recompute on,
// SENTIO_BENCH_THREADS threads (2). Build in release for meaningful numbers:
//   swift build -c release --build-tests && SENTIO_SLOW=1 swift test -c release --skip-build --filter GRPOBenchTests
import XCTest
import Foundation
import SentioCore
import SentioFormat
import SentioKernels
import SentioModels
import SentioTestSupport
import SentioTrainer

final class GRPOBenchTests: XCTestCase {
    static func peakRSSMiB() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_maxrss) / 1024
    }

    func testTinyStepTime() throws {
        let model = try TrainerFixtures.tinyA()
        let adapter = try PEFTFormat.load(TestPaths.tinyA.appendingPathComponent("lora_adapter"), model: model.config)
        let grpo = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("grpo.safetensors"))
        let prompt = try SafetensorsFile(TestPaths.tinyA.appendingPathComponent("llm.safetensors")).floats("llm.inputs_embeds")
        let ids = try grpo.ints("grpo.completion_ids").map { Int32($0) }
        let t = ids.count / 4
        let group = GRPOGroup(prompt: prompt, completions: (0..<4).map { Array(ids[($0 * t)..<(($0 + 1) * t)]) },
                              rewards: try grpo.floats("grpo.rewards"))
        let step = GRPOStep(backprop: Qwen2Backprop(model: model), config: .r1Omni())
        let t0 = Date()
        let res = try step.run([group], adapter: adapter, gradients: adapter.makeGradients())
        let dt = Date().timeIntervalSince(t0)
        print(String(format: "tiny-a GRPO step (974-row prompt, G=4, %d tokens, ref + policy fwd/bwd): %.3f s", res.tokens, dt))
        XCTAssertTrue(res.loss.isFinite)
    }

    func testRealShapeStepTime() throws {
        guard slowTestsEnabled else { throw XCTSkip("set SENTIO_SLOW=1") }
        let env = ProcessInfo.processInfo.environment
        let path = env["SENTIO_BENCH_MODEL"].map { URL(fileURLWithPath: $0) } ?? TestPaths.cachedModel("random-r1omni-q4.sentio")
            ?? URL(fileURLWithPath: "/work/main/models/cache/random-r1omni-q4.sentio")
        guard FileManager.default.fileExists(atPath: path.path) else { throw XCTSkip("no model at \(path.path)") }
        let P = Int(env["SENTIO_BENCH_PROMPT"] ?? "") ?? 1000
        let T = Int(env["SENTIO_BENCH_TOKENS"] ?? "") ?? 128
        let G = 8
        let threads = Int(env["SENTIO_BENCH_THREADS"] ?? "") ?? 2
        let recompute = env["SENTIO_BENCH_RECOMPUTE"] != "0"
        ThreadPool.shared = ThreadPool(threads: threads)
        let file = try SentioFile.open(path)
        let cfg = try Qwen2Config.parse(file.config, source: path.path)
        let model = try Qwen2Model(config: cfg, source: SentioFileWeights(file))
        print("model \(path.lastPathComponent): embed \(model.weights.embed.dtype), q \(model.weights.layers[0].q.dtype); RSS after load \(Self.peakRSSMiB()) MiB")
        let adapter = try LoRAAdapter(config: LoRAConfig(r: 8, alpha: 16), model: cfg, seed: 1)
        var rng = TestRNG(seed: 5)
        for m in adapter.modules { for j in adapter.tensors.values[m.b].indices { adapter.tensors.values[m.b][j] = 0.01 * rng.normal() } }
        let h = cfg.hiddenSize
        let prompt = rng.floats(P * h, scale: 0.05)
        let eos = Int32(cfg.eosTokenId ?? 151645)
        let completions: [[Int32]] = (0..<G).map { _ in (0..<T).map { _ in Int32(rng.int(0..<min(cfg.vocabSize, 150000))) }.map { $0 == eos ? 0 : $0 } }
        let group = GRPOGroup(prompt: prompt, completions: completions, rewards: (0..<G).map { Float($0 % 3) })
        let bp = Qwen2Backprop(model: model, recompute: recompute, headChunk: Int(env["SENTIO_BENCH_CHUNK"] ?? "") ?? 64)
        let step = GRPOStep(backprop: bp, config: .r1Omni(eosTokenId: eos))
        print("activation plan: \(bp.activationBytes(rows: P + G * T, adapter: adapter) >> 20) MiB for \(P + G * T) rows (recompute \(recompute))")
        let t0 = Date()
        let ref = try step.referenceLogProbs([group], adapter: adapter)
        let t1 = Date()
        let grads = adapter.makeGradients()
        let res = try step.run([group], adapter: adapter, gradients: grads, ref: ref)
        let t2 = Date()
        print(String(format: "real-shape GRPO step, %d threads, prompt %d, G=%d x %d tokens: reference pass %.1f s, policy fwd+bwd %.1f s, total %.1f s; peak RSS %.0f MiB; loss %.5f",
                     threads, P, G, T, t1.timeIntervalSince(t0), t2.timeIntervalSince(t1), t2.timeIntervalSince(t0), Self.peakRSSMiB(), res.loss))
        let tm = bp.lastTimings
        print(String(format: "  policy pass split: forward layers %.1f s, head + log-softmax fwd/bwd %.1f s, backward layers (with recompute) %.1f s", tm.forward, tm.head, tm.backward))
        XCTAssertTrue(res.loss.isFinite)
        XCTAssertTrue(grads.values.allSatisfy { $0.allSatisfy(\.isFinite) })
    }
}
