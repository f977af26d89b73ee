// GRPOStep: one GRPO loss / gradient evaluation over groups of completions, on Qwen2Backprop.
// Each group (one prompt, G completions) is one tree batch: the prompt rows are the shared prefix and
// each completion a branch, so the prompt is run once per group. Only tokens inside a completion's mask
// are run (tokens after the first eos cannot influence masked-in ones: attention is causal).
// Each group's gradient and loss sums are formed on their own and then added to the batch's, so a
// batch's result is the same sequence of additions however its groups are split over micro-batches or
// ranks (the data-parallel test compares two ranks with one process bit for bit).
import Foundation
import SentioCore
import SentioKernels
import SentioModels

/// One prompt and its sampled completions with their rewards.
public struct GRPOGroup: Sendable {
    /// [P, hidden] prompt rows: token embeddings, or the spliced omni sequence (text + video + audio rows).
    public var prompt: [Float]
    /// G completions (token ids, as sampled; may run past the first eos with padding).
    public var completions: [[Int32]]
    /// Summed reward of each completion.
    public var rewards: [Float]
    public init(prompt: [Float], completions: [[Int32]], rewards: [Float]) {
        self.prompt = prompt; self.completions = completions; self.rewards = rewards
    }
}

/// What one step computed. Per-sequence arrays are in group order, then completion order; per-token
/// arrays have the completion's full length with 0 outside the mask.
public struct GRPOStepResult: Sendable {
    public var loss: Float
    /// The loss as summed (Double, group by group) before rounding to Float: what the trainer logs.
    public var preciseLoss: Double
    public var advantages: [Float]
    public var masks: [[Float]]
    public var logps: [[Float]]
    public var refLogps: [[Float]]?
    public var perTokenKL: [[Float]]?
    public var perTokenLoss: [[Float]]
    /// Masked mean of the per-token KL (0 when beta is 0), and the masked sum it is the mean of.
    public var klMean: Float
    public var klSum: Double
    /// Share of masked tokens whose ratio was clipped, and their number.
    public var clipRatio: Float
    public var clippedTokens: Int
    public var completionLengths: [Int]
    public var rewardMean: Float
    public var rewardStd: Float
    /// Share of groups whose rewards are all equal (zero advantage: no signal).
    public var zeroStdGroupShare: Float
    public var tokens: Int
}

public final class GRPOStep: @unchecked Sendable {
    public let backprop: Qwen2Backprop
    public var config: GRPOConfig

    public init(backprop: Qwen2Backprop, config: GRPOConfig) {
        self.backprop = backprop; self.config = config
    }

    var model: Qwen2Model { backprop.model }

    /// The tree batch of one group: prefix = prompt, branch g = embed(completion g[0 ..< len − 1]);
    /// target j of completion g is predicted by the last prompt row (j = 0) or branch row j − 1.
    public func batch(for group: GRPOGroup, masks: [[Float]]) throws -> TrainBatch {
        let h = model.config.hiddenSize
        guard group.prompt.count % h == 0, group.prompt.count >= h else {
            throw SentioError(.argument, "a GRPO prompt needs at least one row of width \(h)")
        }
        let p = group.prompt.count / h
        var b = TrainBatch(hidden: h, prefix: group.prompt, targets: [])
        var start = p
        for (g, ids) in group.completions.enumerated() {
            let len = Int(masks[g].reduce(0, +))
            let inputs = Array(ids.prefix(max(0, len - 1)))
            var rows = [Float](repeating: 0, count: inputs.count * h)
            if !inputs.isEmpty { try rows.withUnsafeMutableBufferPointer { try model.embed(inputs, into: $0.baseAddress!) } }
            b.branches.append(rows)
            for j in 0..<len { b.targets.append(LogProbTarget(row: j == 0 ? p - 1 : start + j - 1, token: ids[j])) }
            start += inputs.count
        }
        return b
    }

    func masks(_ group: GRPOGroup) -> [[Float]] {
        group.completions.map { GRPOMath.completionMask($0, eos: config.eosTokenId, maskTruncated: config.maskTruncated) }
    }

    /// Scatters per-target values back to [completion][token] (0 outside the mask).
    func unflatten(_ v: [Float], _ group: GRPOGroup, _ masks: [[Float]]) -> [[Float]] {
        var out: [[Float]] = [], t = 0
        for (g, ids) in group.completions.enumerated() {
            var row = [Float](repeating: 0, count: ids.count)
            for j in 0..<Int(masks[g].reduce(0, +)) { row[j] = v[t]; t += 1 }
            out.append(row)
        }
        return out
    }

    /// Log-probs of every group's completions under `adapter` (disabled: the reference = the base model).
    public func logProbs(_ groups: [GRPOGroup], adapter: LoRAAdapter?, disabled: Bool = false) throws -> [[[Float]]] {
        let was = adapter?.enabled ?? false
        if disabled { adapter?.enabled = false }
        defer { adapter?.enabled = was }
        return try groups.map { g in
            let m = masks(g)
            return unflatten(try backprop.logProbs(try batch(for: g, masks: m), adapter: disabled ? nil : adapter), g, m)
        }
    }

    /// The reference log-probs (adapters off), or nil when beta is 0.
    public func referenceLogProbs(_ groups: [GRPOGroup], adapter: LoRAAdapter) throws -> [[[Float]]]? {
        config.beta == 0 ? nil : try logProbs(groups, adapter: adapter, disabled: true)
    }

    /// Loss, statistics and gradients (added into `gradients`) for one batch of groups.
    /// `old`: log-probs at sampling time (for iterations after the first; nil: ratio 1, no clipping).
    /// `ref`: reference log-probs (computed here when nil and beta ≠ 0).
    /// LoRA dropout of group i is seeded with `groupDropoutSeeds[i]` when given, else `dropoutSeed + i`.
    public func run(_ groups: [GRPOGroup], adapter: LoRAAdapter, gradients: LoRATensors,
                    old: [[[Float]]]? = nil, ref: [[[Float]]]? = nil, dropoutSeed: UInt64 = 0,
                    groupDropoutSeeds: [UInt64]? = nil) throws -> GRPOStepResult {
        if let s = groupDropoutSeeds, s.count != groups.count {
            throw SentioError(.argument, "\(s.count) dropout seeds for \(groups.count) GRPO groups")
        }
        guard let gsize = groups.first?.completions.count, gsize > 0,
              groups.allSatisfy({ $0.completions.count == gsize && $0.rewards.count == gsize }) else {
            throw SentioError(.argument, "GRPO groups must all have the same number (> 0) of completions and rewards")
        }
        let c = config
        let allRewards = groups.flatMap(\.rewards)
        let adv = try GRPOMath.advantages(rewards: allRewards, groupSize: gsize, scaling: c.rewardScaling, epsilon: c.stdEpsilon,
                                          batchStd: c.batchRewardStd)
        let allMasks = groups.flatMap { masks($0) }
        let weights = GRPOMath.weights(masks: allMasks, config: c)
        let refs = try ref ?? referenceLogProbs(groups, adapter: adapter)

        var logps: [[Float]] = [], kls: [[Float]] = [], losses: [[Float]] = []
        var loss: Double = 0, klSum: Double = 0, clipped = 0, tokens = 0
        let groupGradients = groups.count > 1 ? adapter.makeGradients() : gradients
        for (gi, group) in groups.enumerated() {
            let m = masks(group)
            let b = try batch(for: group, masks: m)
            // target index -> (completion, token)
            var where_: [(Int, Int)] = []
            for (g, mk) in m.enumerated() { for j in 0..<Int(mk.reduce(0, +)) { where_.append((g, j)) } }
            var tokLoss = group.completions.map { [Float](repeating: 0, count: $0.count) }
            var tokKL = tokLoss
            if b.targets.isEmpty {   // every completion masked out (e.g. all truncated with maskTruncated)
                logps += tokLoss; kls += tokKL; losses += tokLoss
                continue
            }
            var groupLoss: Double = 0, groupKL: Double = 0
            if groupGradients !== gradients { groupGradients.zero() }
            try backprop.backward(b, adapter: adapter, gradients: groupGradients,
                                  dropoutSeed: groupDropoutSeeds?[gi] ?? dropoutSeed &+ UInt64(gi)) { t, logp in
                let (g, j) = where_[t]
                let s = gi * gsize + g
                let r = refs?[gi][g][j]
                let o = old?[gi][g][j]
                let tl = GRPOMath.tokenLoss(logp: logp, old: o, ref: r, advantage: adv[s], config: c)
                let w = weights[s][j]
                tokLoss[g][j] = tl.loss
                if let r { tokKL[g][j] = GRPOMath.kl(logp: logp, ref: r) }
                groupLoss += Double(w * tl.loss)
                groupKL += Double(tokKL[g][j])
                if tl.clipped { clipped += 1 }
                tokens += 1
                return w * tl.grad
            }.withUnsafeBufferPointer { lp in logps += unflatten(Array(lp), group, m) }
            loss += groupLoss
            klSum += groupKL
            if groupGradients !== gradients { gradients.add(groupGradients) }
            kls += tokKL
            losses += tokLoss
        }
        let lengths = allMasks.map { Int($0.reduce(0, +)) }
        let (rMean, rStd) = GRPOMath.meanStd(allRewards[...])   // the advantages' statistics, reported as Float
        let zeroStd = groups.filter { g in g.rewards.allSatisfy { $0 == g.rewards[0] } }.count
        return GRPOStepResult(
            loss: Float(loss), preciseLoss: loss, advantages: adv, masks: allMasks, logps: logps, refLogps: refs.map { $0.flatMap { $0 } },
            perTokenKL: refs == nil ? nil : kls, perTokenLoss: losses,
            klMean: tokens > 0 ? Float(klSum / Double(tokens)) : 0, klSum: klSum,
            clipRatio: tokens > 0 ? Float(clipped) / Float(tokens) : 0, clippedTokens: clipped,
            completionLengths: lengths, rewardMean: Float(rMean), rewardStd: Float(rStd),
            zeroStdGroupShare: Float(zeroStd) / Float(groups.count), tokens: tokens)
    }
}
