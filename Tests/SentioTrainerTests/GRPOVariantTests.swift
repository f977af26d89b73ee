// GRPO options beyond the R1-Omni preset, checked against plain Double formulas written here from the
// definitions (spec section 7; TRL's GRPOTrainer for the variants) and against finite differences of
// the full step loss on a random model (tolerance 5e-3 as in ModelGradientTests; clipping makes the loss
// piecewise smooth, and the sampled points stay away from the clip boundaries by construction).
import XCTest
import SentioCore
import SentioTestSupport
import SentioTrainer

final class GRPOVariantTests: XCTestCase {
    func testAdvantageScalings() throws {
        let r: [Float] = [2, 1, 0, 1, 0.5, 0.5, 0.5, 3]
        func stats(_ x: [Float]) -> (Double, Double) {
            let m = x.reduce(0.0) { $0 + Double($1) } / Double(x.count)
            let v = x.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / Double(x.count - 1)
            return (m, v.squareRoot())
        }
        let (m1, s1) = stats(Array(r[0..<4])), (m2, s2) = stats(Array(r[4..<8])), (_, sb) = stats(r)
        let group = try GRPOMath.advantages(rewards: r, groupSize: 4, scaling: .group, epsilon: 1e-4)
        let batch = try GRPOMath.advantages(rewards: r, groupSize: 4, scaling: .batch, epsilon: 1e-4)
        let none = try GRPOMath.advantages(rewards: r, groupSize: 4, scaling: .none, epsilon: 1e-4)
        for i in 0..<8 {
            let (m, s) = i < 4 ? (m1, s1) : (m2, s2)
            XCTAssertEqual(Double(group[i]), (Double(r[i]) - m) / (s + 1e-4), accuracy: 1e-6)
            XCTAssertEqual(Double(batch[i]), (Double(r[i]) - m) / (sb + 1e-4), accuracy: 1e-6)
            XCTAssertEqual(Double(none[i]), Double(r[i]) - m, accuracy: 1e-6)
        }
        XCTAssertThrowsError(try GRPOMath.advantages(rewards: r, groupSize: 3, scaling: .group, epsilon: 1e-4))
    }

    func testMasksAndAggregationWeights() {
        XCTAssertEqual(GRPOMath.completionMask([5, 7, 2, 2, 2], eos: 2, maskTruncated: false), [1, 1, 1, 0, 0])
        XCTAssertEqual(GRPOMath.completionMask([5, 7, 8], eos: 2, maskTruncated: false), [1, 1, 1])
        XCTAssertEqual(GRPOMath.completionMask([5, 7, 8], eos: 2, maskTruncated: true), [0, 0, 0])
        let masks: [[Float]] = [[1, 1, 1, 0], [1, 0, 0, 0]]
        var c = GRPOConfig(eosTokenId: 2)
        c.lossType = .grpo
        let sixth: Float = 1.0 / 6
        XCTAssertEqual(GRPOMath.weights(masks: masks, config: c), [[sixth, sixth, sixth, 0], [0.5, 0, 0, 0]])
        c.lossType = .bnpo
        XCTAssertEqual(GRPOMath.weights(masks: masks, config: c), [[0.25, 0.25, 0.25, 0], [0.25, 0, 0, 0]])
        c.lossType = .drGRPO; c.maxCompletionLength = 8
        let s16: Float = 1.0 / 16
        XCTAssertEqual(GRPOMath.weights(masks: masks, config: c), [[s16, s16, s16, 0], [s16, 0, 0, 0]])
        c.lossType = .dapo; c.tokenNormalizer = 10
        XCTAssertEqual(GRPOMath.weights(masks: masks, config: c), [[0.1, 0.1, 0.1, 0], [0.1, 0, 0, 0]])
    }

    func testTokenLossClippingAndKL() {
        var c = GRPOConfig(eosTokenId: 2)
        c.epsilonLow = 0.2; c.epsilonHigh = 0.28
        // Unclipped, with KL: loss = −ratio·A + β·k3; d/dlogp by finite differences.
        for (logp, old, ref, a) in [(-1.0, -1.1, -0.9, 0.7), (-2.0, -1.95, -2.2, -1.3)] as [(Float, Float, Float, Float)] {
            let t = GRPOMath.tokenLoss(logp: logp, old: old, ref: ref, advantage: a, config: c)
            let ratio = Foundation.exp(Double(logp - old)), d = Double(ref - logp)
            XCTAssertEqual(Double(t.loss), -ratio * Double(a) + 0.04 * (Foundation.exp(d) - d - 1), accuracy: 1e-6)
            let hh: Float = 1e-3
            let fd = (GRPOMath.tokenLoss(logp: logp + hh, old: old, ref: ref, advantage: a, config: c).loss -
                      GRPOMath.tokenLoss(logp: logp - hh, old: old, ref: ref, advantage: a, config: c).loss) / (2 * hh)
            XCTAssertEqual(t.grad, fd, accuracy: 2e-3)
            XCTAssertFalse(t.clipped)
        }
        // A > 0 and ratio above 1 + εhigh: the clipped branch, no policy gradient (only KL's).
        let up = GRPOMath.tokenLoss(logp: 0, old: -0.5, ref: nil, advantage: 1, config: c)
        XCTAssertTrue(up.clipped); XCTAssertEqual(up.grad, 0); XCTAssertEqual(up.loss, -1.28, accuracy: 1e-6)
        // A < 0 and ratio below 1 − εlow: clipped.
        let down = GRPOMath.tokenLoss(logp: -1, old: 0, ref: nil, advantage: -1, config: c)
        XCTAssertTrue(down.clipped); XCTAssertEqual(down.grad, 0); XCTAssertEqual(down.loss, 0.8, accuracy: 1e-6)
        // A > 0 and ratio below 1 − εlow: not clipped (min picks ratio·A).
        let low = GRPOMath.tokenLoss(logp: -1, old: 0, ref: nil, advantage: 1, config: c)
        XCTAssertFalse(low.clipped); XCTAssertEqual(low.grad, -Foundation.exp(-1), accuracy: 1e-6)
    }

    /// Full steps on a random model: loss variants' gradients against finite differences of run().loss,
    /// two iterations (old log-probs), beta 0 skips the reference.
    func testStepVariantsAgainstFiniteDifferences() throws {
        let model = try TrainerFixtures.random(seed: 51)
        let a = try TrainerFixtures.randomAdapter(model, seed: 52)
        let h = model.config.hiddenSize
        var rng = TestRNG(seed: 53)
        let eos: Int32 = 2
        let groups = [
            GRPOGroup(prompt: rng.floats(4 * h), completions: [[7, 8, 2, 0], [9, 2, 0, 0], [10, 11, 12, 13]], rewards: [1, 0, 2]),
            GRPOGroup(prompt: rng.floats(3 * h), completions: [[4, 2, 0, 0], [5, 6, 7, 2], [2, 0, 0, 0]], rewards: [0, 1, 1]),
        ]
        let bp = Qwen2Backprop(model: model)
        for variant in 0..<4 {
            var c = GRPOConfig(eosTokenId: eos)
            c.lossType = [.grpo, .bnpo, .drGRPO, .dapo][variant]
            c.rewardScaling = [.group, .batch, .none, .group][variant]
            c.maskTruncated = variant == 1
            c.maxCompletionLength = 4
            c.beta = variant == 2 ? 0 : 0.04
            let step = GRPOStep(backprop: bp, config: c)
            // "old" = log-probs under a perturbed adapter, so ratios differ from 1 (second iteration).
            let saved = a.tensors.values
            for i in a.tensors.values.indices { for j in a.tensors.values[i].indices { a.tensors.values[i][j] *= 0.9 } }
            let old = try step.logProbs(groups, adapter: a)
            a.tensors.values = saved
            let ref = try step.referenceLogProbs(groups, adapter: a)
            XCTAssertEqual(ref == nil, c.beta == 0)
            let g = a.makeGradients()
            let res = try step.run(groups, adapter: a, gradients: g, old: old, ref: ref)
            XCTAssertTrue(res.loss.isFinite)
            if c.beta == 0 { XCTAssertNil(res.perTokenKL); XCTAssertEqual(res.klMean, 0) }
            if c.maskTruncated { XCTAssertEqual(res.completionLengths[2], 0) }
            // The 0.9-scaled "old" adapter puts some ratios outside [0.8, 1.2]: both branches of the min are exercised.
            XCTAssertGreaterThan(res.clipRatio, 0, "some tokens must clip")
            XCTAssertLessThan(res.clipRatio, 1, "some tokens must not clip")
            if ProcessInfo.processInfo.environment["SENTIO_VERBOSE"] == "1" { print("variant \(variant): clip ratio \(res.clipRatio), loss \(res.loss)") }
            var analytic: [Float] = [], numeric: [Float] = []
            for ti in [1, 6, 13, 27] {
                let orig = a.tensors.values[ti]
                var v = orig
                let idx = [1, v.count / 3, v.count - 2]
                numeric += finiteDifference(&v, indices: idx) { x in
                    a.tensors.values[ti] = x; defer { a.tensors.values[ti] = orig }
                    return Double(try! step.run(groups, adapter: a, gradients: a.makeGradients(), old: old, ref: ref).loss)
                }
                analytic += idx.map { g.values[ti][$0] }
            }
            XCTAssertClose(analytic, numeric, rel: 5e-3, "GRPO variant \(variant) (\(c.lossType), \(c.rewardScaling))")
        }
    }

    func testOneIterationWithoutOldEqualsOldIsCurrent() throws {
        let model = try TrainerFixtures.random(seed: 61)
        let a = try TrainerFixtures.randomAdapter(model, seed: 62)
        var rng = TestRNG(seed: 63)
        let groups = [GRPOGroup(prompt: rng.floats(3 * model.config.hiddenSize), completions: [[5, 2], [6, 7]], rewards: [1, 0])]
        let step = GRPOStep(backprop: Qwen2Backprop(model: model), config: GRPOConfig(eosTokenId: 2))
        let g1 = a.makeGradients(), g2 = a.makeGradients()
        let r1 = try step.run(groups, adapter: a, gradients: g1)
        let old = try step.logProbs(groups, adapter: a)
        let r2 = try step.run(groups, adapter: a, gradients: g2, old: old)
        XCTAssertEqual(r1.loss, r2.loss, accuracy: 1e-6)
        XCTAssertClose(g1.values.flatMap { $0 }, g2.values.flatMap { $0 }, rel: 1e-5, "ratio 1 with and without old log-probs")
        XCTAssertEqual(r2.clipRatio, 0)
    }

    func testAllTruncatedAndMaskedGroupContributesNothing() throws {
        let model = try TrainerFixtures.random(seed: 71)
        let a = try TrainerFixtures.randomAdapter(model, seed: 72)
        var rng = TestRNG(seed: 73)
        var c = GRPOConfig(eosTokenId: 2)
        c.maskTruncated = true
        let step = GRPOStep(backprop: Qwen2Backprop(model: model), config: c)
        let g = a.makeGradients()
        let res = try step.run([GRPOGroup(prompt: rng.floats(3 * model.config.hiddenSize), completions: [[5, 6], [7, 8]], rewards: [1, 0])],
                               adapter: a, gradients: g)
        XCTAssertEqual(res.loss, 0)
        XCTAssertEqual(res.tokens, 0)
        XCTAssertTrue(g.values.allSatisfy { $0.allSatisfy { $0 == 0 } })
    }
}

extension GRPOVariantTests {
    /// What data-parallel GRPO relies on: two groups with uneven token counts (9 and 8) run as one batch,
    /// or one group per "rank" with the global statistics (batch reward std, dapo normalizer = global
    /// tokens / 2) and the ranks' gradients averaged, give the same gradient bit for bit (each rank's
    /// weights are exactly 2x, every backward op is linear in them, and the sum of two is order-free)
    /// and the same Double loss and KL sum. bnpo normalizes per micro-batch (TRL's definition), so with
    /// uneven token counts its split differs: shown so the equalities above are not vacuous.
    func testGroupsSplitOverRanksMatchOneBatch() throws {
        let model = try TrainerFixtures.random(seed: 81)
        let a = try TrainerFixtures.randomAdapter(model, seed: 82)
        let h = model.config.hiddenSize
        var rng = TestRNG(seed: 83)
        let groups = [
            GRPOGroup(prompt: rng.floats(4 * h), completions: [[7, 8, 2, 0], [9, 2, 0, 0], [10, 11, 12, 13]], rewards: [1, 0, 2]),
            GRPOGroup(prompt: rng.floats(3 * h), completions: [[4, 2, 0, 0], [5, 6, 7, 2], [3, 2, 0, 0]], rewards: [0, 1, 1]),
        ]
        let bp = Qwen2Backprop(model: model)
        let allRewards = groups.flatMap(\.rewards)
        for (loss, scaling) in [(GRPOLossType.grpo, GRPORewardScaling.group), (.grpo, .batch), (.dapo, .batch), (.dapo, .group),
                                (.drGRPO, .none), (.bnpo, .group)] {
            var c = GRPOConfig(eosTokenId: 2)
            c.lossType = loss; c.rewardScaling = scaling; c.maxCompletionLength = 4
            let step = GRPOStep(backprop: bp, config: c)
            let ref = try step.referenceLogProbs(groups, adapter: a)
            let gw = a.makeGradients()
            let whole = try step.run(groups, adapter: a, gradients: gw, ref: ref)
            XCTAssertEqual(whole.tokens, 17)

            var split = c
            split.batchRewardStd = GRPOMath.meanStd(allRewards[...]).std
            split.tokenNormalizer = Double(whole.tokens) / 2
            step.config = split
            var sum = a.makeGradients().values.map { $0.map { _ in Float(0) } }
            var lossSum = 0.0, klSum = 0.0
            for (i, g) in groups.enumerated() {
                let gr = a.makeGradients()
                let r = try step.run([g], adapter: a, gradients: gr, ref: ref.map { [$0[i]] })
                for t in sum.indices { for j in sum[t].indices { sum[t][j] += gr.values[t][j] } }
                lossSum += r.preciseLoss; klSum += r.klSum
            }
            let averaged = sum.map { $0.map { $0 * 0.5 } }
            if loss == .bnpo {
                XCTAssertNotEqual(averaged, gw.values, "bnpo: the per-micro-batch normalizer should differ with 9 vs 8 tokens")
                continue
            }
            XCTAssertEqual(averaged, gw.values, "\(loss) \(scaling): split gradient differs")
            XCTAssertEqual(lossSum / 2, whole.preciseLoss, "\(loss) \(scaling): split loss differs")
            XCTAssertEqual(klSum, whole.klSum)
            XCTAssertGreaterThan(gw.values.flatMap { $0 }.map(abs).max() ?? 0, 0)
        }
    }
}
