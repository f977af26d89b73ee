// What one micro-batch reports (the GRPO/SFT stepper fills it) and what one optimizer step logs.
// StepStats holds sums so micro-batches and ranks merge by addition (and all-reduce as one buffer);
// StepRecord is the JSONL log line made from the merged sums.
import Foundation

public struct StepStats: Equatable, Sendable {
    /// Micro-batches merged (the loss is the mean over them, as the gradient is).
    public var microBatches = 0
    public var loss = 0.0
    /// Sum of the per-token KL and number of clipped tokens over the `policyTokens` tokens of the policy
    /// loss: KL and clip ratio are token means over the whole step, however it is split into micro-batches.
    public var klSum = 0.0
    public var clippedTokens = 0
    public var policyTokens = 0
    /// Completions and their token counts.
    public var completions = 0
    public var completionTokens = 0
    /// Tokens processed (prompt + completions, forward and backward), for tokens/s.
    public var tokens = 0
    /// Per reward (in `rewardNames` order) and the weighted total: sum and sum of squares over completions.
    public var rewardNames: [String] = []
    public var rewardSums: [Double] = []
    public var rewardSquares: [Double] = []
    public var totalSum = 0.0
    public var totalSquares = 0.0
    /// Groups (G completions of one prompt) and how many had all-equal rewards (zero advantage).
    public var groups = 0
    public var zeroStdGroups = 0
    /// A few completions to log (not all-reduced: rank 0's).
    public var samples: [SampleCompletion] = []

    public init() {}

    /// One micro-batch: `rewards[i]` are completion i's reward values (in `rewardNames` order),
    /// `totals[i]` its weighted total; consecutive runs of `groupSize` completions are one group.
    public init(loss: Double, klSum: Double = 0, clippedTokens: Int = 0, policyTokens: Int = 0, rewardNames: [String],
                rewards: [[Double]], totals: [Double], completionLengths: [Int], groupSize: Int, tokens: Int,
                samples: [SampleCompletion] = []) {
        microBatches = 1
        self.loss = loss; self.klSum = klSum; self.clippedTokens = clippedTokens; self.policyTokens = policyTokens
        completions = totals.count
        completionTokens = completionLengths.reduce(0, +)
        self.tokens = tokens
        self.rewardNames = rewardNames
        rewardSums = rewardNames.indices.map { k in rewards.reduce(0) { $0 + $1[k] } }
        rewardSquares = rewardNames.indices.map { k in rewards.reduce(0) { $0 + $1[k] * $1[k] } }
        totalSum = totals.reduce(0, +)
        totalSquares = totals.reduce(0) { $0 + $1 * $1 }
        if groupSize > 0 {
            var g = 0
            while g + groupSize <= totals.count {
                let group = totals[g ..< g + groupSize]
                groups += 1
                if group.allSatisfy({ $0 == group.first! }) { zeroStdGroups += 1 }
                g += groupSize
            }
        }
        self.samples = samples
    }

    public mutating func merge(_ o: StepStats) {
        if rewardNames.isEmpty {
            rewardNames = o.rewardNames
            rewardSums = [Double](repeating: 0, count: o.rewardNames.count)
            rewardSquares = rewardSums
        }
        microBatches += o.microBatches
        loss += o.loss; klSum += o.klSum; clippedTokens += o.clippedTokens; policyTokens += o.policyTokens
        completions += o.completions; completionTokens += o.completionTokens; tokens += o.tokens
        for k in rewardSums.indices where k < o.rewardSums.count {
            rewardSums[k] += o.rewardSums[k]; rewardSquares[k] += o.rewardSquares[k]
        }
        totalSum += o.totalSum; totalSquares += o.totalSquares
        groups += o.groups; zeroStdGroups += o.zeroStdGroups
        samples += o.samples
    }

    /// The numbers as one buffer for an all-reduce (sum), and back.
    public var packed: [Double] {
        [Double(microBatches), loss, klSum, Double(clippedTokens), Double(policyTokens), Double(completions),
         Double(completionTokens), Double(tokens), totalSum, totalSquares, Double(groups), Double(zeroStdGroups)]
            + rewardSums + rewardSquares
    }

    public mutating func unpack(_ p: [Double]) {
        microBatches = Int(p[0]); loss = p[1]; klSum = p[2]; clippedTokens = Int(p[3]); policyTokens = Int(p[4])
        completions = Int(p[5]); completionTokens = Int(p[6]); tokens = Int(p[7])
        totalSum = p[8]; totalSquares = p[9]; groups = Int(p[10]); zeroStdGroups = Int(p[11])
        let n = rewardNames.count
        rewardSums = Array(p[12 ..< 12 + n]); rewardSquares = Array(p[12 + n ..< 12 + 2 * n])
    }
}

public struct SampleCompletion: Codable, Equatable, Sendable {
    public var label: String
    public var completion: String
    public var reward: Double
    public init(label: String, completion: String, reward: Double) {
        self.label = label; self.completion = completion; self.reward = reward
    }
}

/// Mean and unbiased standard deviation from a sum and sum of squares over n values.
public func meanStd(sum: Double, squares: Double, count n: Int) -> (mean: Double, std: Double) {
    guard n > 0 else { return (0, 0) }
    let mean = sum / Double(n)
    guard n > 1 else { return (mean, 0) }
    return (mean, max(0, (squares - Double(n) * mean * mean) / Double(n - 1)).squareRoot())
}

/// One line of log.jsonl. Timing fields (step_time_s, tokens_per_s, peak_rss_mib) differ between
/// runs; everything else is a function of the seed and the data.
public struct StepRecord: Codable, Equatable, Sendable {
    public struct RewardStat: Codable, Equatable, Sendable { public var mean: Double; public var std: Double }
    public var step: Int
    public var epoch: Int
    public var lr: Double
    public var loss: Double
    public var gradNorm: Double
    public var kl: Double
    public var reward: Double
    public var rewardStd: Double
    public var rewards: [String: RewardStat]
    public var completionLength: Double
    public var clipRatio: Double
    public var fracZeroStdGroups: Double
    public var tokensPerS: Double
    public var stepTimeS: Double
    public var peakRSSMiB: Double

    enum CodingKeys: String, CodingKey {
        case step, epoch, lr, loss, kl, reward, rewards
        case gradNorm = "grad_norm", rewardStd = "reward_std", completionLength = "completion_length"
        case clipRatio = "clip_ratio", fracZeroStdGroups = "frac_zero_std_groups", tokensPerS = "tokens_per_s"
        case stepTimeS = "step_time_s", peakRSSMiB = "peak_rss_mib"
    }

    public init(step: Int, epoch: Int, lr: Double, gradNorm: Double, stats s: StepStats, stepTime: Double, peakRSS: Int) {
        self.step = step; self.epoch = epoch; self.lr = lr; self.gradNorm = gradNorm
        let mb = Double(max(1, s.microBatches))
        loss = s.loss / mb
        kl = s.policyTokens > 0 ? s.klSum / Double(s.policyTokens) : 0
        clipRatio = s.policyTokens > 0 ? Double(s.clippedTokens) / Double(s.policyTokens) : 0
        let t = meanStd(sum: s.totalSum, squares: s.totalSquares, count: s.completions)
        reward = t.mean; rewardStd = t.std
        var r: [String: RewardStat] = [:]
        for (k, name) in s.rewardNames.enumerated() {
            let m = meanStd(sum: s.rewardSums[k], squares: s.rewardSquares[k], count: s.completions)
            r[name] = RewardStat(mean: m.mean, std: m.std)
        }
        rewards = r
        completionLength = s.completions > 0 ? Double(s.completionTokens) / Double(s.completions) : 0
        fracZeroStdGroups = s.groups > 0 ? Double(s.zeroStdGroups) / Double(s.groups) : 0
        stepTimeS = stepTime
        tokensPerS = stepTime > 0 ? Double(s.tokens) / stepTime : 0
        peakRSSMiB = Double(peakRSS) / 1048576
    }

    /// The record without its timing fields (for comparing runs).
    public var withoutTiming: StepRecord {
        var r = self
        r.tokensPerS = 0; r.stepTimeS = 0; r.peakRSSMiB = 0
        return r
    }
}
