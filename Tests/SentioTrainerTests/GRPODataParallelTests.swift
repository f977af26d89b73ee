// Data-parallel GRPO through the real stepper and the CLI: `mpirun -n 2 sentio train grpo --batch-size 1`
// (one prompt per rank) against one process with the same global batch of two prompts, on the
// r1omni-tiny-a fixture (G = 4, 2 new tokens, 2 steps; LoRA init, reference pass, AdamW, clipping all on).
//
// Tolerance: none, the adapters must be equal byte for byte, and the log lines (without timing) equal.
// Why that holds rather than "close":
//   - rollouts: a prompt's G sequences are seeded by the prompt's position in the global batch
//     (sampleRNG), not by the rank or micro-batch, so both runs sample the same completions;
//   - statistics of the global batch: reward scaling "batch" takes the std of the all-gathered reward
//     vector (slot order, the same vector and the same two-pass sum as one process), dapo the
//     all-reduced token count; integer counts and a gather through a zero buffer (x + 0) are exact;
//   - scaling: per rank the loss weights are exactly 2x one process's (1/(B·len) with B = G vs 2G for
//     grpo, 1/(N/2) vs 1/N for dapo: dividing by half a power-of-two-times value is exact), and every
//     backward op is linear in that seed gradient, so each rank's gradient is exactly 2x the group's
//     gradient on one process; the loop's mean over 2 ranks (x 1/2) undoes it exactly;
//   - sums: GRPOStep adds each group's gradient and loss to the batch's once, so one process computes
//     q0 + q1 and the 2-rank all-reduce computes q0 + q1 (a sum of two is the same in either order).
// With 3+ ranks the all-reduce order and non-power-of-two scales would need a tolerance; 2 ranks do not.
import Foundation
import XCTest
@testable import SentioTrainer
import SentioCore
import SentioModels
import SentioTestSupport

final class GRPODataParallelTests: XCTestCase {
    struct Setup { let model: URL; let data: URL; let encoderCache: URL }
    nonisolated(unsafe) static var setup: Setup?
    static let lock = NSLock()

    /// The tiny model, a dataset of two prompts (two instructions on the fixture clip) each labelled with its
    /// own greedy 2-token completion, and the encoder cache of both prompts. A calibration run with top-k 1
    /// finds the greedy completions; the runs under test sample with top-k 2 at temperature 2, so a
    /// completion matches its label (accuracy reward 1) about a third of the time: the rewards vary within
    /// groups and the gradients are not zero.
    static func fixture() throws -> Setup {
        let model = try GRPOStepperCLITests.tinyModel()
        return try lock.withLock {
            if let s = setup { return s }
            let work = TestPaths.tempDir("grpo-dp")
            let clip = TestPaths.tinyA.appendingPathComponent("clip.mp4").path
            let questions = ["<video>\n<audio>\n" + OmniModel.defaultQuestion, "<video>\n<audio>\nWhich emotion does the person in the clip show?"]
            func write(_ labels: [String], _ name: String) throws -> URL {
                let rows: [[String: Any]] = zip(questions, labels).map { q, l in
                    ["video": clip, "conversations": [["from": "human", "value": q],
                                                      ["from": "gpt", "value": "<think>calibration</think>\n<answer>\(l)</answer>"]]]
                }
                let u = work.appendingPathComponent(name)
                try JSONSerialization.data(withJSONObject: rows).write(to: u)
                return u
            }
            let cal = work.appendingPathComponent("calibration")
            let r = try CLI.run(["train", "grpo", "--model", model.path, "--data", try write(["P0", "P1"], "calibration.json").path,
                                 "--out", cal.path, "--steps", "2", "--save-every", "2", "--batch-size", "1", "--num-generations", "2",
                                 "--max-new-tokens", "2", "--top-k", "1", "--seed", "5", "--threads", "1", "--sample-every", "1"])
            guard r.status == 0 else { throw SentioError(.io, "calibration run failed: \(r.stderr)") }
            var greedy: [String: String] = [:]
            for line in try JSONLFile.read(cal.appendingPathComponent("samples.jsonl"), as: SampleLogLine.self) {
                for s in line.samples { greedy[s.label] = s.completion }
            }
            guard let g0 = greedy["P0"], let g1 = greedy["P1"] else { throw SentioError(.data, "calibration: no greedy completion for both prompts: \(greedy)") }
            let s = Setup(model: model, data: try write([g0, g1], "data.json"), encoderCache: cal.appendingPathComponent("encoder-cache"))
            setup = s
            return s
        }
    }

    func args(_ s: Setup, out: URL, _ extra: [String]) -> [String] {
        ["train", "grpo", "--model", s.model.path, "--data", s.data.path, "--out", out.path, "--steps", "2", "--save-every", "2",
         "--num-generations", "4", "--max-new-tokens", "2", "--top-k", "2", "--temperature", "2", "--lr", "0.02",
         "--seed", "5", "--threads", "1", "--sample-every", "1"] + extra
    }

    /// A fresh output folder holding the fixture's encoder cache (the encoders run once, in the calibration).
    func outDir(_ s: Setup, _ tag: String) throws -> URL {
        let d = TestPaths.tempDir("grpo-dp-" + tag)
        try FileManager.default.copyItem(at: s.encoderCache, to: d.appendingPathComponent("encoder-cache"))
        return d
    }

    func adapter(_ out: URL) throws -> Data {
        try Data(contentsOf: out.appendingPathComponent("checkpoints/step-000002/adapter/adapter_model.safetensors"))
    }

    func log(_ dir: URL) throws -> [StepRecord] {
        try JSONLFile.read(dir.appendingPathComponent("log.jsonl"), as: StepRecord.self).map(\.withoutTiming)
    }

    /// Reward scaling "batch" and loss type dapo, the two paths that need statistics of the other rank's
    /// prompts: `mpirun -n 2 --batch-size 1` gives the adapter of one process with `--batch-size 2`, byte for
    /// byte, and rank 0 logs the same (global) loss, KL, rewards, reward std, completion length and share of
    /// zero-std groups. One process with `--batch-size 1 --gradient-accumulation 2` gives it too: the
    /// global batch's statistics span its accumulation steps.
    func testGRPOOverMPIMatchesOneProcess() throws {
        try MPIRun.required()   // before the fixture's calibration run
        let s = try Self.fixture()
        let variant = ["--reward-scaling", "batch", "--loss-type", "dapo"]
        let one = try outDir(s, "one"), two = try outDir(s, "two"), acc = try outDir(s, "acc")
        let r1 = try CLI.run(args(s, out: one, variant + ["--batch-size", "2"]))
        XCTAssertEqual(r1.status, 0, r1.stderr)
        let r2 = try MPIRun.twoRanks(args(s, out: two, variant + ["--batch-size", "1"]))
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let r3 = try CLI.run(args(s, out: acc, variant + ["--batch-size", "1", "--gradient-accumulation", "2"]))
        XCTAssertEqual(r3.status, 0, r3.stderr)

        let l1 = try log(one)
        XCTAssertEqual(l1.map(\.step), [1, 2])
        // Not vacuous: the rewards vary inside some group, so the advantages and the gradients are not zero.
        XCTAssertLessThan(l1.map(\.fracZeroStdGroups).min() ?? 1, 1, "no group with varying rewards: \(l1)")
        XCTAssertGreaterThan(l1.map(\.reward).max() ?? 0, 0)
        XCTAssertTrue(l1.allSatisfy { $0.gradNorm > 0 && $0.loss.isFinite })
        XCTAssertGreaterThan(l1[1].kl, 0, "step 2 starts from a moved adapter")

        XCTAssertEqual(try log(two), l1)
        XCTAssertEqual(try adapter(two), try adapter(one), "2 ranks x 1 prompt and 1 process x 2 prompts give different adapters")
        XCTAssertEqual(try log(acc), l1)
        XCTAssertEqual(try adapter(acc), try adapter(one), "accumulation 2 x 1 prompt and 1 x 2 prompts give different adapters")
    }

    /// bnpo normalizes by the micro-batch's own token count (TRL: "over the local batch"), and reward
    /// scaling "group" needs only the group: the ranks exchange gradients and statistics only. Two ranks
    /// with one prompt each equal one process accumulating the same two micro-batches, byte for byte.
    func testBNPOOverMPIMatchesAccumulation() throws {
        try MPIRun.required()   // before the fixture's calibration run
        let s = try Self.fixture()
        let variant = ["--reward-scaling", "group", "--loss-type", "bnpo", "--batch-size", "1"]
        let two = try outDir(s, "bnpo-two"), acc = try outDir(s, "bnpo-acc")
        let r2 = try MPIRun.twoRanks(args(s, out: two, variant))
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let r1 = try CLI.run(args(s, out: acc, variant + ["--gradient-accumulation", "2"]))
        XCTAssertEqual(r1.status, 0, r1.stderr)
        let l1 = try log(acc)
        XCTAssertEqual(l1.count, 2)
        XCTAssertLessThan(l1.map(\.fracZeroStdGroups).min() ?? 1, 1, "no group with varying rewards: \(l1)")
        XCTAssertEqual(try log(two), l1)
        XCTAssertEqual(try adapter(two), try adapter(acc))
    }
}
