import Foundation
import XCTest
@testable import SentioTrainer
import SentioTestSupport

/// Runs `sentio train ...` as child processes: a real kill -9 and resume, data-parallel over `mpirun -n 2`,
/// and the option layers (defaults < config file < flags).
final class InfraCLITests: XCTestCase {
    struct RankLine: Decodable {
        let rank: Int; let world_size: Int; let step: Int; let start_step: Int
        let parameter_bits: String; let parameters: [Double]
    }

    typealias Ran = MPIRun.Result

    func rankLines(_ r: CLIResult) throws -> [RankLine] { try rankLines(Ran(status: r.status, stdout: r.stdout, stderr: r.stderr)) }

    func rankLines(_ r: Ran) throws -> [RankLine] {
        try r.stdout.split(separator: "\n").map { try JSONDecoder().decode(RankLine.self, from: Data($0.utf8)) }.sorted { $0.rank < $1.rank }
    }

    func log(_ dir: URL) throws -> [StepRecord] {
        try JSONLFile.read(dir.appendingPathComponent("log.jsonl"), as: StepRecord.self).map(\.withoutTiming)
    }

    func mpirun2(_ args: [String]) throws -> Ran { try MPIRun.twoRanks(args) }

    /// Two ranks with half the global batch each give bit-identical parameters and log lines to one
    /// process that accumulates the same two halves (same slots: same data, same generators; a sum of two
    /// floats does not depend on order). Against one process with the whole batch as one micro-batch
    /// (noise off, so only the rounding of the mean differs) the parameters agree to 1e-5.
    func testDataParallelOverMPIMatchesOneProcess() throws {
        let a = TestPaths.tempDir("dp-one"), b = TestPaths.tempDir("dp-two"), c = TestPaths.tempDir("dp-whole"), d = TestPaths.tempDir("dp-two-quiet")
        let common = ["train", "toy", "--steps", "8", "--save-every", "4"]
        let one = try CLI.run(common + ["--out", a.path, "--batch-size", "2", "--gradient-accumulation", "2"])
        XCTAssertEqual(one.status, 0, one.stderr)
        let two = try mpirun2(common + ["--out", b.path, "--batch-size", "2"])
        XCTAssertEqual(two.status, 0, two.stderr)
        let l1 = try rankLines(one), l2 = try rankLines(two)
        XCTAssertEqual(l2.map(\.rank), [0, 1])
        XCTAssertEqual(l2.map(\.world_size), [2, 2])
        XCTAssertEqual(l2[0].parameter_bits, l1[0].parameter_bits)
        XCTAssertEqual(l2[1].parameter_bits, l1[0].parameter_bits)
        XCTAssertEqual(try log(a), try log(b))
        let ckpts = try FileManager.default.contentsOfDirectory(atPath: b.appendingPathComponent("checkpoints").path).sorted()
        XCTAssertEqual(ckpts, ["latest", "step-000004", "step-000008"]) // rank 0 alone writes; no temporary folders left

        // Resume over MPI as after a kill between steps 4 and 8: rank 0 reads the checkpoint and sends it
        // to rank 1; both end bit-identical to the uninterrupted run.
        let root = b.appendingPathComponent("checkpoints")
        try FileManager.default.removeItem(at: root.appendingPathComponent("step-000008"))
        try Data("step-000004\n".utf8).write(to: root.appendingPathComponent("latest"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent(".tmp-step-000008-999"), withIntermediateDirectories: true)
        let resumed = try mpirun2(common + ["--out", b.path, "--batch-size", "2", "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let lr = try rankLines(resumed)
        XCTAssertEqual(lr.map(\.start_step), [4, 4])
        XCTAssertEqual(lr.map(\.parameter_bits), [l1[0].parameter_bits, l1[0].parameter_bits])
        XCTAssertEqual(try log(a), try log(b))
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: root.path).contains { $0.hasPrefix(".tmp") })

        // An error on rank 0 (an existing run without --resume) ends both ranks (MPI_Abort) instead of
        // leaving rank 1 waiting in the broadcast.
        let t0 = Date()
        let refused = try mpirun2(common + ["--out", b.path, "--batch-size", "2"])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("--resume"), refused.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(t0), 100)

        let whole = try CLI.run(common + ["--out", c.path, "--batch-size", "4", "--noise", "0"])
        let quiet = try mpirun2(common + ["--out", d.path, "--batch-size", "2", "--noise", "0"])
        XCTAssertEqual(whole.status, 0, whole.stderr); XCTAssertEqual(quiet.status, 0, quiet.stderr)
        let pw = try rankLines(whole)[0].parameters, pq = try rankLines(quiet)[0].parameters
        for (x, y) in zip(pw, pq) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        XCTAssertNotEqual(pw, try rankLines(two)[0].parameters) // the noise matters: the comparison above is not vacuous
    }

    func testMPICollectiveOperations() throws {
        let r = try mpirun2(["train", "toy", "--out", TestPaths.tempDir("dp-check").path, "--check-collective"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try r.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.count, 2)
        for l in lines {
            XCTAssertEqual(l["size"] as? Int, 2)
            XCTAssertEqual(l["floats"] as? [Double], [3, 6, 9, 12, 15])       // (1 + 2) * (i + 1)
            XCTAssertEqual(l["doubles"] as? [Double], [2, 2e300])              // 0.5 + 1.5; doubles stay doubles
            XCTAssertEqual(l["broadcast"] as? String, "from-last")            // root = the last rank
        }
    }

    /// A real SIGKILL in the middle of a run, then --resume: the same final parameters (bit for bit)
    /// and the same log lines as a run that was never interrupted.
    func testKill9ThenResumeMatchesStraightRun() throws {
        let straight = TestPaths.tempDir("kill-straight"), killed = TestPaths.tempDir("kill-killed")
        let args = ["train", "toy", "--steps", "30", "--save-every", "5", "--seed", "9"]
        let s = try CLI.run(args + ["--out", straight.path])
        XCTAssertEqual(s.status, 0, s.stderr)

        let run = try CLI.start(args + ["--out", killed.path, "--delay-ms", "60"])
        let logURL = killed.appendingPathComponent("log.jsonl")
        let deadline = Date().addingTimeInterval(60)
        var lines = 0
        while Date() < deadline {
            lines = ((try? String(contentsOf: logURL, encoding: .utf8)) ?? "").split(separator: "\n").count
            if lines >= 13 { break }
            usleep(20_000)
        }
        kill(run.process.processIdentifier, SIGKILL)
        run.process.waitUntilExit()
        XCTAssertEqual(run.process.terminationReason, .uncaughtSignal)
        XCTAssertGreaterThanOrEqual(lines, 13)
        let stoppedAt = try log(killed).count
        XCTAssertLessThan(stoppedAt, 30, "the run finished before the kill")

        let again = try CLI.run(args + ["--out", killed.path])
        XCTAssertNotEqual(again.status, 0) // without --resume an existing run is refused
        XCTAssertTrue(again.stderr.contains("--resume"), again.stderr)
        let r = try CLI.run(args + ["--out", killed.path, "--resume"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let resumed = try rankLines(r)[0]
        XCTAssertEqual(resumed.start_step, stoppedAt / 5 * 5)
        XCTAssertGreaterThan(resumed.start_step, 0)
        XCTAssertEqual(resumed.parameter_bits, try rankLines(s)[0].parameter_bits)
        XCTAssertEqual(try log(straight), try log(killed))
    }

    /// Defaults < config file < flags, for both config syntaxes; errors name the source.
    func testOptionLayersAndValidation() throws {
        let dir = TestPaths.tempDir("train-config")
        let toml = dir.appendingPathComponent("run.toml")
        try """
        # R1-Omni-like run
        lr = 2e-5
        num_generations = 4
        lora-targets = ["q_proj", "v_proj"]
        beta = 0.0   # no reference pass
        loss-type = "dr_grpo"
        steps = 100
        """.write(to: toml, atomically: true, encoding: .utf8)
        let base = ["train", "grpo", "--model", "m.sentio", "--data", "d.json", "--out", dir.path, "--dry-run"]
        let r = try CLI.run(base + ["--config", toml.path, "--num-generations", "6", "--epochs", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let o = try JSONDecoder().decode(TrainRunOptions.self, from: Data(r.stdout.utf8))
        XCTAssertEqual(o.lr, 2e-5)                     // config over default
        XCTAssertEqual(o.numGenerations, 6)            // flag over config
        XCTAssertEqual(o.loraTargets, ["q_proj", "v_proj"])
        XCTAssertEqual(o.beta, 0)
        XCTAssertEqual(o.lossType, .drGRPO)
        XCTAssertEqual(o.epochs, 2); XCTAssertNil(o.steps) // --epochs on the command line replaces the file's steps
        XCTAssertEqual(o.temperature, 1); XCTAssertEqual(o.topK, 50); XCTAssertEqual(o.maxNewTokens, 512) // spec preset

        let json = dir.appendingPathComponent("run.json")
        try #"{"lr": 3e-4, "mask_truncated": true, "rewards": ["accuracy"], "steps": 7}"#.write(to: json, atomically: true, encoding: .utf8)
        let j = try JSONDecoder().decode(TrainRunOptions.self, from: Data(try CLI.run(base + ["--config", json.path]).stdout.utf8))
        XCTAssertEqual(j.lr, 3e-4); XCTAssertTrue(j.maskTruncated); XCTAssertEqual(j.rewards, ["accuracy"]); XCTAssertEqual(j.steps, 7)
        XCTAssertFalse(j.mmap)
        // --mmap on the command line, mmap in a config file
        XCTAssertTrue(try JSONDecoder().decode(TrainRunOptions.self, from: Data(try CLI.run(base + ["--steps", "1", "--mmap"]).stdout.utf8)).mmap)
        try #"{"mmap": true, "steps": 1}"#.write(to: json, atomically: true, encoding: .utf8)
        XCTAssertTrue(try JSONDecoder().decode(TrainRunOptions.self, from: Data(try CLI.run(base + ["--config", json.path]).stdout.utf8)).mmap)

        let bad = try CLI.run(base + ["--config", toml.path, "--temperature", "0"])
        XCTAssertEqual(bad.status, 2); XCTAssertTrue(bad.stderr.contains("--temperature must be positive"), bad.stderr)
        try "lr = 1e-5\nnum-generation = 4\n".write(to: toml, atomically: true, encoding: .utf8)
        let typo = try CLI.run(base + ["--config", toml.path, "--steps", "3"])
        XCTAssertEqual(typo.status, 2); XCTAssertTrue(typo.stderr.contains("run.toml") && typo.stderr.contains("num-generation"), typo.stderr)
        let both = try CLI.run(["train", "sft", "--model", "m", "--data", "d", "--out", "o", "--steps", "3", "--epochs", "1", "--dry-run"])
        XCTAssertEqual(both.status, 2); XCTAssertTrue(both.stderr.contains("not both"), both.stderr)
        try "beta = 0.1\nsteps = 3\n".write(to: toml, atomically: true, encoding: .utf8)
        // Past option resolution: the data and the model are checked before any training.
        let ds = dir.appendingPathComponent("train.json")
        try #"[{"video": "a.mp4", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "sad"}]}]"#
            .write(to: ds, atomically: true, encoding: .utf8)
        let noModel = try CLI.run(["train", "grpo", "--model", dir.appendingPathComponent("none.sentio").path, "--data", ds.path,
                                   "--out", dir.appendingPathComponent("o").path, "--steps", "1"])
        XCTAssertEqual(noModel.status, 3); XCTAssertTrue(noModel.stderr.contains("model file not found"), noModel.stderr)
        try "[{\"video\": 1}]".write(to: ds, atomically: true, encoding: .utf8)
        let badData = try CLI.run(["train", "grpo", "--model", "m", "--data", ds.path, "--out", dir.appendingPathComponent("o").path, "--steps", "1"])
        XCTAssertEqual(badData.status, 4, badData.stderr); XCTAssertTrue(badData.stderr.contains("train.json"), badData.stderr)
        let sft = try CLI.run(["train", "sft", "--model", "m", "--data", "d", "--out", "o", "--config", toml.path, "--dry-run"])
        XCTAssertEqual(sft.status, 2); XCTAssertTrue(sft.stderr.contains("GRPO option"), sft.stderr)
    }
}
