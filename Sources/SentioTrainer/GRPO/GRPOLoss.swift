// GRPO as R1-Omni trains it (spec section 7) and the common variants (TRL's GRPOTrainer options).
//
// R1-Omni preset: advantages A = (r − mean_G) / (std_G + 1e-4) with the unbiased std; per-token loss
// −(exp(logp − stopgrad(logp))·A − β·KL), KL = exp(ref − logp) − (ref − logp) − 1 (k3), β = 0.04;
// mask = completion tokens through the first eos; mean over a sequence's tokens, then over sequences.
// Variants: clipping (ratio = exp(logp − old) clipped to [1 − εlow, 1 + εhigh], per-token loss
// −min(ratio·A, clip(ratio)·A)), aggregation grpo / bnpo / dr_grpo / dapo, reward scaling
// group / batch / none, β = 0 (no reference pass), masking truncated completions.
import Foundation
import SentioCore

public enum GRPOLossType: String, Sendable, CaseIterable {
    /// Mean over each sequence's tokens, then over sequences (R1-Omni, TRL "grpo").
    case grpo
    /// Sum over all tokens / number of unmasked tokens in the batch.
    case bnpo
    /// Sum over all tokens / (sequences × max completion length).
    case drGRPO = "dr_grpo"
    /// Sum over all tokens / number of unmasked tokens across the global batch (all ranks and
    /// accumulation steps). `tokenNormalizer` carries that count into a micro-batch; without it, the
    /// same as bnpo.
    case dapo
}

public enum GRPORewardScaling: String, Sendable, CaseIterable {
    case group, batch, none
}

public struct GRPOConfig: Sendable, Equatable {
    public var beta: Float = 0.04
    public var epsilonLow: Float = 0.2
    public var epsilonHigh: Float = 0.2
    public var lossType: GRPOLossType = .grpo
    public var rewardScaling: GRPORewardScaling = .group
    /// Added to the std in the advantage denominator.
    public var stdEpsilon: Float = 1e-4
    /// Truncated completions (no eos) get a zero mask.
    public var maskTruncated = false
    public var eosTokenId: Int32
    /// Max new tokens (the dr_grpo normalizer).
    public var maxCompletionLength: Int = 512
    /// dapo: this micro-batch's normalizer, the global batch's unmasked tokens divided by its number of
    /// micro-batches (the loop averages the micro-batches' gradients, so the step's gradient is
    /// Σ tokens / global tokens). nil: this batch's unmasked tokens.
    public var tokenNormalizer: Double? = nil
    /// batch scaling: the std over the global batch's rewards (all ranks and accumulation steps).
    /// nil: the std over this batch's rewards.
    public var batchRewardStd: Double? = nil

    public init(eosTokenId: Int32) { self.eosTokenId = eosTokenId }

    /// The R1-Omni preset (spec section 7).
    public static func r1Omni(eosTokenId: Int32 = 151645) -> GRPOConfig { GRPOConfig(eosTokenId: eosTokenId) }
}

public enum GRPOMath {
    /// Advantages for rewards laid out in groups of `groupSize` consecutive completions.
    /// group: (r − mean_g)/(std_g + ε); batch: (r − mean_g)/(std_batch + ε); none: r − mean_g.
    /// std is unbiased (n − 1); a group of one has std 0 as torch would give NaN: we use 0.
    /// `batchStd` replaces the std over `rewards` for batch scaling (data-parallel: the global batch's).
    public static func advantages(rewards: [Float], groupSize: Int, scaling: GRPORewardScaling, epsilon: Float,
                                  batchStd: Double? = nil) throws -> [Float] {
        guard groupSize >= 1, rewards.count % groupSize == 0 else {
            throw SentioError(.argument, "\(rewards.count) rewards are not whole groups of \(groupSize)")
        }
        let batchStd = batchStd ?? meanStd(rewards[...]).std
        var out = [Float](repeating: 0, count: rewards.count)
        for g in stride(from: 0, to: rewards.count, by: groupSize) {
            let (m, s) = meanStd(rewards[g..<(g + groupSize)])
            for i in g..<(g + groupSize) {
                let d = Double(rewards[i]) - m
                switch scaling {
                case .group: out[i] = Float(d / (s + Double(epsilon)))
                case .batch: out[i] = Float(d / (batchStd + Double(epsilon)))
                case .none: out[i] = Float(d)
                }
            }
        }
        return out
    }

    /// Mean and unbiased std (two passes, in Double) of rewards; std 0 for fewer than two.
    public static func meanStd(_ x: ArraySlice<Float>) -> (mean: Double, std: Double) {
        guard !x.isEmpty else { return (0, 0) }
        let n = Double(x.count), m = x.reduce(0.0) { $0 + Double($1) } / n
        guard x.count > 1 else { return (m, 0) }
        let v = x.reduce(0.0) { $0 + (Double($1) - m) * (Double($1) - m) } / (n - 1)
        return (m, v.squareRoot())
    }

    /// Completion mask: 1 through the first eos; all 1 without eos (0 with maskTruncated).
    public static func completionMask(_ ids: [Int32], eos: Int32, maskTruncated: Bool) -> [Float] {
        if let e = ids.firstIndex(of: eos) { return (0..<ids.count).map { $0 <= e ? 1 : 0 } }
        return [Float](repeating: maskTruncated ? 0 : 1, count: ids.count)
    }

    /// k3 estimator of KL(policy ‖ ref) per token.
    @inline(__always) public static func kl(logp: Float, ref: Float) -> Float {
        let d = ref - logp
        return expf(d) - d - 1
    }

    /// Per-token loss and its derivative d loss / d logp (before aggregation weights).
    /// old: the log-prob at sampling time (nil: logp itself, one iteration). Returns (loss, grad, clipped).
    public static func tokenLoss(logp: Float, old: Float?, ref: Float?, advantage a: Float, config c: GRPOConfig)
        -> (loss: Float, grad: Float, clipped: Bool) {
        let ratio = old.map { expf(logp - $0) } ?? 1
        let lo = 1 - c.epsilonLow, hi = 1 + c.epsilonHigh
        let clippedRatio = min(max(ratio, lo), hi)
        let l1 = ratio * a, l2 = clippedRatio * a
        // −min(l1, l2): the clipped branch (constant in logp) is taken when it is strictly smaller.
        let clipActive = l2 < l1
        var loss = -min(l1, l2)
        var grad: Float = clipActive ? 0 : -a * ratio
        if let ref, c.beta != 0 {
            loss += c.beta * kl(logp: logp, ref: ref)
            grad += c.beta * (1 - expf(ref - logp))
        }
        return (loss, grad, clipActive)
    }

    /// Aggregation weights per token (loss = Σ weight · per-token loss) for masks of a batch.
    public static func weights(masks: [[Float]], config c: GRPOConfig) -> [[Float]] {
        let total = masks.reduce(0) { $0 + $1.reduce(0, +) }
        switch c.lossType {
        case .grpo:
            let b = Float(masks.count)
            return masks.map { m in let s = max(m.reduce(0, +), 1); return m.map { $0 / s / b } }
        case .bnpo:
            return masks.map { m in m.map { $0 / max(total, 1) } }
        case .dapo:
            let t = c.tokenNormalizer.map { Float($0) } ?? total
            return masks.map { m in m.map { $0 / max(t, 1) } }
        case .drGRPO:
            let d = Float(masks.count * c.maxCompletionLength)
            return masks.map { m in m.map { $0 / d } }
        }
    }
}
