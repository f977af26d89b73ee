// GRPOStepper: R1-Omni's RLVR step as a TrainingStepper. Per prompt of the micro-batch:
//   1. prompt rows (PolicyModel: frozen encoders through the EncoderCache, or the text prompt)
//   2. prefill once with the adapter applied, fork the cache G times, one batched decode (per-sequence
//      sampling seeded from the micro-batch RNG; temperature, top-k, top-p; stop at eos)
//   3. rewards (RewardSet on the decoded completions against the sample's label)
//   4. GRPOStep: reference pass (adapter disabled) when beta > 0, then the policy's forward/backward
// With iterations > 1 the rollouts, their log-probs at sampling time (the "old" policy) and the
// reference log-probs are kept for the batch's later updates.
// Data-parallel: reward scaling "batch" uses the std over all ranks' rewards and bnpo/dapo the token
// count over all ranks (both all-reduced here, one call per micro-batch on every rank).
import Foundation
import SentioCore
import SentioKernels
import SentioModels
import SentioRuntime

public struct GRPOStepperOptions: Sendable {
    public var numGenerations = 8
    public var maxNewTokens = 512
    public var temperature: Float = 1
    public var topK = 50
    public var topP: Float = 1
    public var grpo: GRPOConfig
    public var rewards: RewardSet = .r1omni
    public var samplesPerStep = 2
    public init(grpo: GRPOConfig) { self.grpo = grpo }

    public init(_ o: TrainRunOptions, eos: Int32) {
        var g = GRPOConfig(eosTokenId: eos)
        g.beta = Float(o.beta)
        g.epsilonLow = Float(o.epsilonLow)
        g.epsilonHigh = Float(o.epsilonHigh)
        g.lossType = GRPOLossType(rawValue: o.lossType.rawValue) ?? .grpo
        g.rewardScaling = GRPORewardScaling(rawValue: o.rewardScaling.rawValue) ?? .group
        g.maskTruncated = o.maskTruncated
        g.maxCompletionLength = o.maxNewTokens
        grpo = g
        numGenerations = o.numGenerations
        maxNewTokens = o.maxNewTokens
        temperature = Float(o.temperature)
        topK = o.topK
        topP = Float(o.topP)
        rewards = o.rewardSet
    }
}

public final class GRPOStepper: TrainingStepper {
    public let policy: PolicyModel
    public let adapter: LoRAAdapter
    public let data: TrainingData
    public var options: GRPOStepperOptions
    public let step: GRPOStep
    /// Set for data-parallel runs (batch reward scaling, bnpo/dapo token counts).
    public var collective: Collective?

    struct Rollout {
        var batch: [Int]
        var groups: [GRPOGroup]
        var values: [[Double]]
        var totals: [Double]
        var texts: [String]
        var old: [[[Float]]]?
        var ref: [[[Float]]]?
    }
    /// Rollouts of the current batch by micro-batch slot (iterations > 1).
    private var rollouts: [Int: Rollout] = [:]

    public init(policy: PolicyModel, adapter: LoRAAdapter, data: TrainingData, options: GRPOStepperOptions,
                recompute: Bool = true) {
        self.policy = policy; self.adapter = adapter; self.data = data; self.options = options
        step = GRPOStep(backprop: Qwen2Backprop(model: policy.llm, recompute: recompute, pool: policy.pool), config: options.grpo)
    }

    public var parameters: NamedTensors {
        get { adapter.namedTensors }
        set { adapter.namedTensors = newValue }
    }

    public func saveArtifacts(to directory: URL) throws {
        try PEFTFormat.save(adapter, to: directory.appendingPathComponent("adapter"))
    }

    /// Samples G completions for each sample of the batch and scores them.
    func roll(_ batch: [Int], rng: inout SentioRNG) throws -> Rollout {
        let o = options
        var groups: [GRPOGroup] = [], values: [[Double]] = [], totals: [Double] = [], texts: [String] = []
        for idx in batch {
            guard data.samples.indices.contains(idx) else { throw SentioError(.argument, "sample index \(idx) is outside the dataset") }
            let s = data.samples[idx]
            let prompt = try policy.prompt(for: s)
            let seeds = (0..<o.numGenerations).map { _ in rng.next() }
            let gen = try policy.rollout(prompt: prompt, adapter: adapter, seeds: seeds, maxNewTokens: o.maxNewTokens,
                                         sampling: SamplingOptions(temperature: o.temperature, topK: o.topK, topP: o.topP, seed: 0))
            let t = gen.map { policy.completionText($0.generatedTokens) }
            let sc = o.rewards.score(completions: t, label: s.label)
            values += sc.values; totals += sc.totals; texts += t
            groups.append(GRPOGroup(prompt: prompt, completions: gen.map(\.generatedTokens), rewards: sc.totals.map(Float.init)))
        }
        return Rollout(batch: batch, groups: groups, values: values, totals: totals, texts: texts)
    }

    public func step(batch: [Int], context: StepContext, rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats) {
        var r: Rollout
        if context.iteration > 0, let kept = rollouts[context.slot], kept.batch == batch {
            r = kept
        } else {
            r = try roll(batch, rng: &rng)
        }
        var cfg = options.grpo
        var groups = r.groups
        let g = options.numGenerations
        if let c = collective, c.size > 1 {
            // Global statistics: rewards (n, sum, sum of squares) and unmasked tokens.
            let masks = groups.flatMap { gr in gr.completions.map { GRPOMath.completionMask($0, eos: cfg.eosTokenId, maskTruncated: cfg.maskTruncated) } }
            let all = groups.flatMap(\.rewards).map(Double.init)
            var buf: [Double] = [Double(all.count), all.reduce(0, +), all.reduce(0) { $0 + $1 * $1 },
                                 Double(masks.reduce(0) { $0 + Int($1.reduce(0, +)) })]
            try c.allReduceSum(&buf)
            if cfg.rewardScaling == .batch {
                // (r − mean_g)/(std_batch + ε) == (r' − mean_g(r')) with r' = r/(std_batch + ε): scale, then center only.
                let st = meanStd(sum: buf[1], squares: buf[2], count: Int(buf[0]))
                let f = 1 / (Float(st.std) + cfg.stdEpsilon)
                for i in groups.indices { groups[i].rewards = groups[i].rewards.map { $0 * f } }
                cfg.rewardScaling = .none
            }
            if cfg.lossType == .dapo {
                // The loop averages gradients over ranks; a global normalizer N_global/size per rank gives Σ/N_global.
                cfg.globalTokenCount = max(1, Int((buf[3] / Double(c.size)).rounded()))
            }
        }
        step.config = cfg
        let grads = adapter.makeGradients()
        let res = try step.run(groups, adapter: adapter, gradients: grads, old: r.old, ref: r.ref,
                               dropoutSeed: rng.next())
        if context.iterations > 1 {
            if context.iteration == 0 {
                // The policy before this batch's first update is the "old" policy of its later updates.
                r.old = regroup(res.logps, g)
                r.ref = res.refLogps.map { regroup($0, g) }
                rollouts[context.slot] = r
            }
            if context.iteration == context.iterations - 1 { rollouts[context.slot] = nil }
        }
        let promptRows = groups.reduce(0) { $0 + $1.prompt.count / policy.llm.config.hiddenSize }
        var samples: [SampleCompletion] = []
        for i in 0..<min(options.samplesPerStep, r.texts.count) {
            samples.append(SampleCompletion(label: data.samples[batch[i / g]].label, completion: r.texts[i], reward: r.totals[i]))
        }
        let stats = StepStats(loss: Double(res.loss), kl: Double(res.klMean), clipRatio: Double(res.clipRatio),
                              rewardNames: options.rewards.names, rewards: r.values, totals: r.totals,
                              completionLengths: res.completionLengths, groupSize: g,
                              tokens: promptRows + r.groups.reduce(0) { $0 + $1.completions.reduce(0) { $0 + $1.count } } + res.tokens,
                              samples: samples)
        return (try grads.named(), stats)
    }

    func regroup(_ perSeq: [[Float]], _ g: Int) -> [[[Float]]] {
        stride(from: 0, to: perSeq.count, by: g).map { Array(perSeq[$0 ..< min(perSeq.count, $0 + g)]) }
    }
}

/// SFT as a TrainingStepper: token-mean cross-entropy on the assistant's text (the dataset's gpt turn,
/// or `<answer>label</answer>` when the data has none) followed by <|im_end|>.
public final class SFTStepper: TrainingStepper {
    public let policy: PolicyModel
    public let adapter: LoRAAdapter
    public let data: TrainingData
    public let targets: [[Int32]]
    public let backprop: Qwen2Backprop

    /// `assistant[i]`: sample i's assistant text (nil: built from its label).
    public init(policy: PolicyModel, adapter: LoRAAdapter, data: TrainingData, assistant: [String?], recompute: Bool = true) throws {
        self.policy = policy; self.adapter = adapter; self.data = data
        backprop = Qwen2Backprop(model: policy.llm, recompute: recompute, pool: policy.pool)
        targets = try data.samples.enumerated().map { i, s in
            let text = (i < assistant.count ? assistant[i] : nil) ?? "<answer>\(s.label)</answer>"
            let ids = policy.tokenizer.encode(text, allowSpecial: true) + [policy.eosTokenId]
            guard ids.count > 1 else { throw SentioError(.data, "sample \(s.id): empty assistant text") }
            return ids
        }
    }

    public var parameters: NamedTensors {
        get { adapter.namedTensors }
        set { adapter.namedTensors = newValue }
    }

    public func saveArtifacts(to directory: URL) throws {
        try PEFTFormat.save(adapter, to: directory.appendingPathComponent("adapter"))
    }

    public func examples(_ batch: [Int]) throws -> [SFTExample] {
        try batch.map { SFTExample(prompt: try policy.prompt(for: data.samples[$0]), target: targets[$0]) }
    }

    public func step(batch: [Int], context: StepContext, rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats) {
        let ex = try examples(batch)
        let grads = adapter.makeGradients()
        let (loss, n) = try SFT.step(ex, backprop: backprop, adapter: adapter, gradients: grads, dropoutSeed: rng.next())
        var s = StepStats(loss: Double(loss), rewardNames: [], rewards: [], totals: [], completionLengths: [], groupSize: 0,
                          tokens: ex.reduce(0) { $0 + $1.prompt.count / policy.llm.config.hiddenSize } + n)
        s.completionTokens = n
        return (try grads.named(), s)
    }

    /// The assistant turn of each entry of an R1-Omni JSON file (nil for CSV or entries without one).
    public static func assistantTurns(_ url: URL) -> [String?] {
        guard let d = try? Data(contentsOf: url), let list = (try? JSONSerialization.jsonObject(with: d)) as? [Any] else { return [] }
        return list.map { item in
            guard let o = item as? [String: Any], let conv = o["conversations"] as? [[String: Any]] else { return nil }
            return conv.last { ["gpt", "assistant"].contains(($0["from"] as? String)?.lowercased() ?? "") }?["value"] as? String
        }
    }
}
