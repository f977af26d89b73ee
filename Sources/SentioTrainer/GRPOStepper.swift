// GRPOStepper: R1-Omni's RLVR step as a TrainingStepper. Per prompt of the micro-batch:
//   1. prompt rows (PolicyModel: frozen encoders through the EncoderCache, or the text prompt)
//   2. prefill once with the adapter applied, fork the cache G times, one batched decode (temperature,
//      top-k, top-p; stop at eos), each sequence seeded from the prompt's own generator
//      (sampleRNG of its position in the global batch: the same on one process and on N ranks)
//   3. rewards (RewardSet on the decoded completions against the sample's label)
//   4. GRPOStep: reference pass (adapter disabled) when beta > 0, then the policy's forward/backward
// With iterations > 1 the rollouts, their log-probs at sampling time (the "old" policy) and the
// reference log-probs are kept for the batch's later updates.
//
// Global batch statistics: before an optimizer step's micro-batches run, `prepare` rolls all of this
// rank's micro-batches out and all-reduces, when the options need them, the rewards of the whole
// global batch (each slot's in its own place of a zero buffer, so the sum is a gather and every rank
// holds the same vector in slot order) and its unmasked token count. Reward scaling "batch" takes the
// std of that vector and dapo divides by that count, so a step on N ranks, with gradient accumulation,
// or as one micro-batch computes the same advantages and normalizers. bnpo stays per micro-batch
// (TRL's definition: "normalized over the local batch").
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
    /// This step's rollouts by slot (from `prepare`) and the global statistics they were reduced to.
    private var pending: [Int: Rollout] = [:]
    private var global: (batchStd: Double?, tokenNormalizer: Double?) = (nil, nil)

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

    /// Samples G completions for each sample of the batch and scores them. Sample i's sequences are
    /// seeded from sampleRNG(seed, step, slot × batch size + i).
    func roll(_ batch: [Int], context: StepContext) throws -> Rollout {
        let o = options
        var groups: [GRPOGroup] = [], values: [[Double]] = [], totals: [Double] = [], texts: [String] = []
        for (i, idx) in batch.enumerated() {
            guard data.samples.indices.contains(idx) else { throw SentioError(.argument, "sample index \(idx) is outside the dataset") }
            let s = data.samples[idx]
            let prompt = try policy.prompt(for: s)
            var rng = context.sampleRNG(index: i, microBatch: batch.count)
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

    /// The micro-batch's rollouts: kept from the batch's first update (iterations > 1), or new.
    func rollout(_ batch: [Int], context: StepContext) throws -> Rollout {
        if context.iteration > 0, let kept = rollouts[context.slot], kept.batch == batch { return kept }
        return try roll(batch, context: context)
    }

    func unmaskedTokens(_ r: Rollout) -> Int {
        let c = options.grpo
        return r.groups.reduce(0) { n, g in
            n + g.completions.reduce(0) { $0 + Int(GRPOMath.completionMask($1, eos: c.eosTokenId, maskTruncated: c.maskTruncated).reduce(0, +)) }
        }
    }

    public func prepare(_ microBatches: [MicroBatch], collective: Collective) throws {
        pending = [:]
        global = (nil, nil)
        for mb in microBatches { pending[mb.context.slot] = try rollout(mb.indices, context: mb.context) }
        let c = options.grpo
        guard c.rewardScaling == .batch || c.lossType == .dapo, let micro = microBatches.first?.indices.count else { return }
        // [unmasked tokens, rewards of slot 0, slot 1, ...]: every slot writes only its own range, so the
        // sum over ranks is exact (x + 0) and equals one process's reward vector of the whole batch.
        let slots = microBatches.count * collective.size, perSlot = micro * options.numGenerations
        var buf = [Double](repeating: 0, count: 1 + slots * perSlot)
        for mb in microBatches {
            guard let r = pending[mb.context.slot], mb.context.slot < slots, mb.indices.count == micro else {
                throw SentioError(.argument, "GRPO: micro-batch slot \(mb.context.slot) does not fit a global batch of \(slots) slots of \(micro)")
            }
            buf[0] += Double(unmaskedTokens(r))
            for (k, v) in r.groups.flatMap(\.rewards).enumerated() { buf[1 + mb.context.slot * perSlot + k] = Double(v) }
        }
        try collective.allReduceSum(&buf)
        if c.rewardScaling == .batch { global.batchStd = GRPOMath.meanStd(buf[1...].map(Float.init)[...]).std }
        // The loop averages the micro-batches' gradients: each divides by (global tokens / micro-batches).
        if c.lossType == .dapo { global.tokenNormalizer = max(1, buf[0]) / Double(slots) }
    }

    /// One micro-batch's loss and gradients. Without `prepare` (a direct call) the micro-batch is its own
    /// global batch. `rng` is not used: rollouts and dropout draw from per-sample generators.
    public func step(batch: [Int], context: StepContext, rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats) {
        var r: Rollout
        var cfg = options.grpo
        if let p = pending[context.slot], p.batch == batch {
            r = p
            pending[context.slot] = nil
            cfg.batchRewardStd = global.batchStd
            cfg.tokenNormalizer = global.tokenNormalizer
        } else {
            r = try rollout(batch, context: context)
        }
        let g = options.numGenerations
        step.config = cfg
        let grads = adapter.makeGradients()
        let dropoutSeeds = batch.indices.map { i -> UInt64 in
            var d = context.sampleRNG(index: i, microBatch: batch.count, stream: 1)
            return d.next()
        }
        let res = try step.run(r.groups, adapter: adapter, gradients: grads, old: r.old, ref: r.ref, groupDropoutSeeds: dropoutSeeds)
        if context.iterations > 1 {
            if context.iteration == 0 {
                // The policy before this batch's first update is the "old" policy of its later updates.
                r.old = regroup(res.logps, g)
                r.ref = res.refLogps.map { regroup($0, g) }
                rollouts[context.slot] = r
            }
            if context.iteration == context.iterations - 1 { rollouts[context.slot] = nil }
        }
        let promptRows = r.groups.reduce(0) { $0 + $1.prompt.count / policy.llm.config.hiddenSize }
        var samples: [SampleCompletion] = []
        for i in 0..<min(options.samplesPerStep, r.texts.count) {
            samples.append(SampleCompletion(label: data.samples[batch[i / g]].label, completion: r.texts[i], reward: r.totals[i]))
        }
        let stats = StepStats(loss: res.preciseLoss, klSum: res.klSum, clippedTokens: res.clippedTokens, policyTokens: res.tokens,
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
