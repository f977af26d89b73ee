import Foundation
import XCTest
@testable import SentioTrainer
import SentioCore
import SentioRuntime
import SentioTestSupport

final class InfraTrainerTests: XCTestCase {
    func config(steps: Int = 12) -> TrainerConfig {
        var c = TrainerConfig(steps: steps)
        c.microBatch = 4
        c.gradientAccumulation = 2
        c.lr = 0.05
        c.schedule = .cosine
        c.warmupSteps = 2
        c.maxGradNorm = 0.5
        c.saveEvery = 4
        c.keepCheckpoints = 2
        c.sampleEvery = 3
        c.seed = 7
        return c
    }

    func makeTrainer(_ out: URL, _ c: TrainerConfig) throws -> (Trainer<LinearToyStepper>, LinearToyStepper) {
        let s = try LinearToyStepper(dimension: 5, count: 40, dataSeed: 3)
        let t = try Trainer(stepper: s, dataCount: 40, config: c, out: out)
        t.showProgress = false
        return (t, s)
    }

    /// The loop learns: 120 steps of AdamW drive the toy regression to its target.
    func testLoopLearnsTheTarget() throws {
        var c = config(steps: 120)
        c.saveEvery = 1000
        let (t, s) = try makeTrainer(TestPaths.tempDir("train-learn"), c)
        let before = s.distanceToTarget
        var losses: [Double] = []
        t.onStep = { losses.append($0.loss) }
        try t.train(resume: false)
        XCTAssertLessThan(s.distanceToTarget, before * 0.01, "distance \(before) -> \(s.distanceToTarget)")
        XCTAssertLessThan(losses.suffix(10).reduce(0, +), losses.prefix(10).reduce(0, +) * 0.05)
        // Global batch 4 x 2 = 8 of 40 samples: 5 steps per epoch, step 120 is in epoch 23.
        let log = try JSONLFile.read(t.logURL, as: StepRecord.self)
        XCTAssertEqual(log.count, 120)
        XCTAssertEqual(log.last?.epoch, 23)
        XCTAssertEqual(log.last!.rewards["close"]!.mean, 1, accuracy: 0.01)
        for f in ["reward.svg", "kl.svg", "length.svg", "loss.svg"] {
            let svg = try String(contentsOf: t.plotsURL.appendingPathComponent(f), encoding: .utf8)
            XCTAssertTrue(svg.hasPrefix("<svg") || svg.contains("<svg"), f)
            XCTAssertTrue(svg.contains("<path") || svg.contains("<polyline"), f)
        }
    }

    /// Stopping after step 6 (last checkpoint at step 4) and resuming gives bit-identical parameters,
    /// optimizer state and log/sample lines (timing fields aside) to a run that never stopped.
    func testResumeIsBitIdentical() throws {
        let c = config()
        let a = TestPaths.tempDir("train-straight"), b = TestPaths.tempDir("train-stopped")
        let (ta, sa) = try makeTrainer(a, c)
        try ta.train(resume: false)

        let (tb1, _) = try makeTrainer(b, c)
        let first = try tb1.train(resume: false, stopAfter: 6)
        XCTAssertEqual(first.step, 6)
        XCTAssertEqual(try JSONLFile.read(tb1.logURL, as: StepRecord.self).count, 6)
        XCTAssertThrowsError(try makeTrainer(b, c).0.train(resume: false)) // refuses to overwrite a run

        let (tb2, sb) = try makeTrainer(b, c)
        let second = try tb2.train(resume: true)
        XCTAssertEqual(second.startStep, 4)
        XCTAssertEqual(sb.parameters.values, sa.parameters.values)
        let ca = try XCTUnwrap(Checkpoint.latest(root: ta.checkpointRoot))
        let cb = try XCTUnwrap(Checkpoint.latest(root: tb2.checkpointRoot))
        XCTAssertEqual(ca.optimizer, cb.optimizer)
        let sent = try Checkpoint(serialized: ca.serialized(), directory: ta.checkpointRoot) // what rank 0 sends to the others
        XCTAssertEqual(sent.parameters, ca.parameters); XCTAssertEqual(sent.optimizer, ca.optimizer); XCTAssertEqual(sent.state, ca.state)
        XCTAssertThrowsError(try Checkpoint(serialized: Array(ca.serialized().dropLast()), directory: ta.checkpointRoot))
        XCTAssertEqual(ca.state, cb.state)
        let la = try JSONLFile.read(ta.logURL, as: StepRecord.self).map(\.withoutTiming)
        let lb = try JSONLFile.read(tb2.logURL, as: StepRecord.self).map(\.withoutTiming)
        XCTAssertEqual(la.count, 12)
        XCTAssertEqual(la, lb)
        XCTAssertEqual(try JSONLFile.read(ta.samplesURL, as: SampleLogLine.self), try JSONLFile.read(tb2.samplesURL, as: SampleLogLine.self))
        // keepCheckpoints = 2: steps 8 and 12 remain.
        let kept = try FileManager.default.contentsOfDirectory(atPath: ta.checkpointRoot.path).filter { $0.hasPrefix("step-") }.sorted()
        XCTAssertEqual(kept, ["step-000008", "step-000012"])
    }

    /// With 2 updates per batch (GRPO's num_iterations) each batch is seen by two consecutive steps
    /// (iteration 0 then 1), the data advances every second step, and a stop in the middle of a pair
    /// resumes from the last batch boundary bit for bit.
    func testIterationsReuseTheBatchAndResume() throws {
        var c = config(); c.iterations = 2; c.sampleEvery = 1
        let a = TestPaths.tempDir("train-iter-straight"), b = TestPaths.tempDir("train-iter-stopped")
        let (ta, sa) = try makeTrainer(a, c)
        var contexts: [StepContext] = []
        final class Recorder: TrainingStepper {
            let inner: LinearToyStepper
            var seen: [(StepContext, [Int])] = []
            init(_ s: LinearToyStepper) { inner = s }
            var parameters: NamedTensors { get { inner.parameters } set { inner.parameters = newValue } }
            func step(batch: [Int], context: StepContext, rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats) {
                seen.append((context, batch))
                return try inner.step(batch: batch, context: context, rng: &rng)
            }
        }
        let rec = Recorder(try LinearToyStepper(dimension: 5, count: 40, dataSeed: 3))
        let tr = try Trainer(stepper: rec, dataCount: 40, config: c, out: TestPaths.tempDir("train-iter-rec"))
        tr.showProgress = false
        try tr.train(resume: false)
        contexts = rec.seen.map(\.0)
        XCTAssertEqual(contexts.count, 12 * 2) // 12 steps x 2 micro-batches
        for k in stride(from: 0, to: rec.seen.count, by: 4) {
            XCTAssertEqual(rec.seen[k].0.iteration, 0); XCTAssertEqual(rec.seen[k + 2].0.iteration, 1)
            XCTAssertEqual(rec.seen[k].1, rec.seen[k + 2].1)      // the same micro-batch twice
            XCTAssertEqual(rec.seen[k + 1].1, rec.seen[k + 3].1)
            if k + 4 < rec.seen.count { XCTAssertNotEqual(rec.seen[k].1, rec.seen[k + 4].1) }
        }
        try ta.train(resume: false)
        let (tb1, _) = try makeTrainer(b, c)
        try tb1.train(resume: false, stopAfter: 7)
        let (tb2, sb) = try makeTrainer(b, c)
        XCTAssertEqual(try tb2.train(resume: true).startStep, 4)
        XCTAssertEqual(sb.parameters.values, sa.parameters.values)
        XCTAssertEqual(try JSONLFile.read(ta.logURL, as: StepRecord.self).map(\.withoutTiming),
                       try JSONLFile.read(tb2.logURL, as: StepRecord.self).map(\.withoutTiming))
        c.saveEvery = 3
        XCTAssertThrowsError(try makeTrainer(b, c)) { XCTAssertTrue("\($0)".contains("multiple of iterations")) }
    }

    /// A resume must not change the data order: a different seed or batch is refused.
    func testResumeRefusesAnIncompatibleRun() throws {
        let out = TestPaths.tempDir("train-incompatible")
        let (t, _) = try makeTrainer(out, config())
        try t.train(resume: false, stopAfter: 4)
        var c = config(); c.seed = 8
        XCTAssertThrowsError(try makeTrainer(out, c).0.train(resume: true)) { XCTAssertTrue("\($0)".contains("seed")) }
        c = config(); c.microBatch = 2
        XCTAssertThrowsError(try makeTrainer(out, c).0.train(resume: true)) { XCTAssertTrue("\($0)".contains("batch")) }
    }

    /// A NaN gradient stops the run before the update, with the last checkpoint as the resume point.
    func testNonFiniteGradientStopsTheRun() throws {
        final class Poisoned: TrainingStepper {
            let inner: LinearToyStepper
            init(_ s: LinearToyStepper) { inner = s }
            var parameters: NamedTensors { get { inner.parameters } set { inner.parameters = newValue } }
            func step(batch: [Int], context: StepContext, rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats) {
                var r = try inner.step(batch: batch, context: context, rng: &rng)
                if context.step == 5 { r.gradients.values[0] = .nan }
                return r
            }
        }
        let s = Poisoned(try LinearToyStepper(dimension: 5, count: 40, dataSeed: 3))
        let t = try Trainer(stepper: s, dataCount: 40, config: config(), out: TestPaths.tempDir("train-nan"))
        t.showProgress = false
        XCTAssertThrowsError(try t.train(resume: false)) { XCTAssertTrue("\($0)".contains("step 6"), "\($0)") }
        XCTAssertTrue(s.parameters.values.allSatisfy(\.isFinite))
        XCTAssertEqual(try Checkpoint.latest(root: t.checkpointRoot)?.state.step, 4)
    }

    /// A state.json from before a setting existed still loads (the setting takes its default).
    func testOlderConfigDecodes() throws {
        let c = try JSONDecoder().decode(TrainerConfig.self, from: Data(#"{"steps": 10, "lr": 0.5, "microBatch": 2}"#.utf8))
        XCTAssertEqual(c.steps, 10); XCTAssertEqual(c.lr, 0.5); XCTAssertEqual(c.microBatch, 2)
        XCTAssertEqual(c.iterations, 1); XCTAssertEqual(c.seed, TrainerConfig(steps: 1).seed)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainerConfig.self, from: Data(#"{"lr": 0.5}"#.utf8)))
        var full = TrainerConfig(steps: 9); full.iterations = 3; full.adamw.weightDecay = 0.1
        XCTAssertEqual(try JSONDecoder().decode(TrainerConfig.self, from: encodeJSON(full)), full)
    }

    func testCorruptCheckpointIsASentioError() throws {
        let out = TestPaths.tempDir("train-corrupt")
        let (t, _) = try makeTrainer(out, config())
        try t.train(resume: false, stopAfter: 4)
        let dir = t.checkpointRoot.appendingPathComponent("step-000004")
        let opt = dir.appendingPathComponent("optimizer.safetensors")
        let bytes = try Data(contentsOf: opt)
        try bytes.prefix(bytes.count / 2).write(to: opt)
        XCTAssertThrowsError(try Checkpoint.latest(root: t.checkpointRoot)) { XCTAssertTrue($0 is SentioError, "\($0)") }
        try Data("{\"step\": 3}".utf8).write(to: dir.appendingPathComponent("state.json"))
        XCTAssertThrowsError(try Checkpoint.read(dir)) { XCTAssertEqual(($0 as? SentioError)?.kind, .corrupt) }
        try Data("../x\n".utf8).write(to: t.checkpointRoot.appendingPathComponent("latest"))
        XCTAssertThrowsError(try Checkpoint.latest(root: t.checkpointRoot)) { XCTAssertTrue($0 is SentioError) }
    }

    /// The data order: every epoch a permutation, different per epoch and seed, slots tile the batch.
    func testDataOrder() throws {
        let o = try DataOrder(count: 10, seed: 1, microBatch: 2, accumulation: 2, worldSize: 2)
        XCTAssertEqual(o.batchesPerEpoch, 1)
        let p0 = o.permutation(epoch: 0), p1 = o.permutation(epoch: 1)
        XCTAssertEqual(p0.sorted(), Array(0..<10))
        XCTAssertNotEqual(p0, p1)
        XCTAssertEqual(p0, o.permutation(epoch: 0))
        XCTAssertNotEqual(p0, try DataOrder(count: 10, seed: 2, microBatch: 2, accumulation: 2, worldSize: 2).permutation(epoch: 0))
        let (g, pos) = o.globalBatch(at: DataPosition(epoch: 0, batch: 1)) // past the end: next epoch
        XCTAssertEqual(pos, DataPosition(epoch: 1, batch: 0))
        XCTAssertEqual(g, Array(p1.prefix(8)))
        var seen: [Int] = []
        for a in 0..<2 { for r in 0..<2 { seen += o.microBatch(g, accumulationStep: a, rank: r).indices } }
        XCTAssertEqual(seen, g)
        XCTAssertThrowsError(try DataOrder(count: 7, seed: 1, microBatch: 2, accumulation: 2, worldSize: 2))
    }

    func testStatsMergeAndRecord() {
        var s = StepStats(loss: 1, klSum: 2, clippedTokens: 1, policyTokens: 4, rewardNames: ["accuracy", "format"], rewards: [[1, 1], [0, 1], [1, 1], [1, 1]],
                          totals: [2, 1, 2, 2], completionLengths: [10, 20, 30, 40], groupSize: 2, tokens: 100)
        s.merge(StepStats(loss: 3, klSum: 4, clippedTokens: 2, policyTokens: 8, rewardNames: ["accuracy", "format"], rewards: [[0, 0], [0, 0]],
                          totals: [0, 0], completionLengths: [5, 5], groupSize: 2, tokens: 10))
        var copy = StepStats(); copy.rewardNames = s.rewardNames
        copy.unpack(s.packed)
        copy.samples = s.samples
        XCTAssertEqual(copy, s)
        let r = StepRecord(step: 1, epoch: 0, lr: 1, gradNorm: 0, stats: s, stepTime: 2, peakRSS: 1 << 20)
        XCTAssertEqual(r.loss, 2)                                   // mean over the 2 micro-batches, as the gradient
        XCTAssertEqual(r.kl, 0.5); XCTAssertEqual(r.clipRatio, 0.25) // token means over the step: 6/12 and 3/12
        XCTAssertEqual(r.reward, 7.0 / 6, accuracy: 1e-12)
        // totals 2,1,2,2,0,0: unbiased std by hand = sqrt((13 - 6 (7/6)^2) / 5)
        XCTAssertEqual(r.rewardStd, ((13 - 6 * (7.0 / 6) * (7.0 / 6)) / 5).squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(r.rewards["format"]!.mean, 4.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(r.completionLength, 110.0 / 6, accuracy: 1e-12)
        XCTAssertEqual(r.fracZeroStdGroups, 2.0 / 3, accuracy: 1e-12) // groups {2,1} {2,2} {0,0}
        XCTAssertEqual(r.tokensPerS, 55); XCTAssertEqual(r.peakRSSMiB, 1)
    }

    func testProgressLines() throws {
        var c = config(); c.steps = 10
        let p = TrainingProgress(total: 10, firstStep: 0, isTTY: false, write: { _ in })
        let s = StepStats(loss: 0.5, rewardNames: [], rewards: [], totals: [], completionLengths: [], groupSize: 0, tokens: 0)
        let r = StepRecord(step: 2, epoch: 0, lr: 1, gradNorm: 0, stats: s, stepTime: 1.5, peakRSS: 0)
        let line = p.line(r, now: Date().addingTimeInterval(3))
        XCTAssertTrue(line.hasPrefix("step 2/10 loss 0.5000"), line)
        XCTAssertTrue(line.hasSuffix("eta 12s\n"), line) // 1.5 s per step so far x 8 steps left
        let tty = TrainingProgress(total: 10, firstStep: 0, isTTY: true, write: { _ in }).line(r)
        XCTAssertTrue(tty.hasPrefix("\r[####"), tty)
        XCTAssertEqual(TrainingProgress.duration(3725), "1h02m")
    }
}
