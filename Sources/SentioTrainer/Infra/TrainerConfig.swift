// The settings of the training loop (not of the model or the GRPO loss: those belong to the stepper).
import SentioCore

public struct TrainerConfig: Codable, Equatable, Sendable {
    /// Optimizer steps in the run.
    public var steps: Int
    /// Samples (prompts) per micro-batch on each rank, and micro-batches summed per optimizer step.
    public var microBatch: Int = 1
    public var gradientAccumulation: Int = 1
    /// Optimizer steps per global batch (GRPO's num_iterations; the data advances every `iterations` steps).
    public var iterations: Int = 1
    public var lr: Double = 1e-5
    public var schedule: LRSchedule.Kind = .linear
    public var warmupSteps: Int = 0
    public var adamw = AdamWConfig()
    /// Global-norm clipping (<= 0: off).
    public var maxGradNorm: Double = 1
    /// Checkpoint every N steps (and at the end); keep the newest `keepCheckpoints` (<= 0: all).
    public var saveEvery: Int = 50
    public var keepCheckpoints: Int = 3
    /// Write the stepper's sample completions every N steps (0: never).
    public var sampleEvery: Int = 10
    /// Redraw the SVG plots every N steps (0: only with checkpoints and at the end).
    public var plotEvery: Int = 0
    public var seed: UInt64 = 42
    public var shuffle: Bool = true

    public init(steps: Int) { self.steps = steps }

    enum CodingKeys: String, CodingKey {
        case steps, microBatch, gradientAccumulation, iterations, lr, schedule, warmupSteps, adamw, maxGradNorm
        case saveEvery, keepCheckpoints, sampleEvery, plotEvery, seed, shuffle
    }

    /// Settings missing from a checkpoint written by an older version take their defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decode(Int.self, forKey: .steps)
        let d = TrainerConfig(steps: steps)
        microBatch = try c.decodeIfPresent(Int.self, forKey: .microBatch) ?? d.microBatch
        gradientAccumulation = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulation) ?? d.gradientAccumulation
        iterations = try c.decodeIfPresent(Int.self, forKey: .iterations) ?? d.iterations
        lr = try c.decodeIfPresent(Double.self, forKey: .lr) ?? d.lr
        schedule = try c.decodeIfPresent(LRSchedule.Kind.self, forKey: .schedule) ?? d.schedule
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? d.warmupSteps
        adamw = try c.decodeIfPresent(AdamWConfig.self, forKey: .adamw) ?? d.adamw
        maxGradNorm = try c.decodeIfPresent(Double.self, forKey: .maxGradNorm) ?? d.maxGradNorm
        saveEvery = try c.decodeIfPresent(Int.self, forKey: .saveEvery) ?? d.saveEvery
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints) ?? d.keepCheckpoints
        sampleEvery = try c.decodeIfPresent(Int.self, forKey: .sampleEvery) ?? d.sampleEvery
        plotEvery = try c.decodeIfPresent(Int.self, forKey: .plotEvery) ?? d.plotEvery
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        shuffle = try c.decodeIfPresent(Bool.self, forKey: .shuffle) ?? d.shuffle
    }

    public func validate() throws {
        func check(_ ok: Bool, _ msg: String) throws { if !ok { throw SentioError(.argument, msg) } }
        try check(steps > 0, "steps must be positive (got \(steps))")
        try check(microBatch > 0, "micro-batch must be positive (got \(microBatch))")
        try check(iterations > 0, "iterations must be positive (got \(iterations))")
        try check(steps % iterations == 0, "steps (\(steps)) must be a multiple of iterations (\(iterations)): each batch gets all its updates")
        try check(saveEvery % iterations == 0, "save-every (\(saveEvery)) must be a multiple of iterations (\(iterations)): checkpoints fall between batches")
        try check(gradientAccumulation > 0, "gradient accumulation must be positive (got \(gradientAccumulation))")
        try check(lr > 0 && lr.isFinite, "learning rate must be a positive number (got \(lr))")
        try check(warmupSteps >= 0 && warmupSteps <= steps, "warmup steps must be in 0...\(steps) (got \(warmupSteps))")
        try check(adamw.beta1 >= 0 && adamw.beta1 < 1 && adamw.beta2 >= 0 && adamw.beta2 < 1, "AdamW betas must be in [0, 1)")
        try check(adamw.eps > 0, "AdamW eps must be positive")
        try check(adamw.weightDecay >= 0, "weight decay must not be negative")
        try check(saveEvery > 0, "save-every must be positive (got \(saveEvery))")
        try check(sampleEvery >= 0 && plotEvery >= 0, "sample/plot intervals must not be negative")
    }
}
