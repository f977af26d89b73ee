// What the training loop drives: a model plus loss (GRPO, SFT, or a toy) that computes gradients of
// its trainable tensors for one micro-batch. The loop owns everything around it: data order,
// accumulation, all-reduce, clipping, AdamW, schedule, checkpoints, logs and plots.
import Foundation
import SentioRuntime

/// Where a micro-batch sits in the run.
public struct StepContext: Sendable, Equatable {
    /// The optimizer step being computed (0-based).
    public var step: Int
    /// With several updates per batch of rollouts (GRPO's num_iterations, TrainerConfig.iterations):
    /// 0 on the step that sees a batch first (roll out here), then 1..<iterations on the steps that
    /// reuse it (reuse the rollouts and their log-probs as the "old" policy). Checkpoints fall only on
    /// batch boundaries, so a resumed run always starts at iteration 0.
    public var iteration: Int
    public var iterations: Int
    /// The micro-batch's slot in the global batch (accumulation step x world size + rank).
    public var slot: Int
    public var rank: Int
    public var worldSize: Int
    /// The run's seed (for generators that must not depend on the slot: `sampleRNG`).
    public var seed: UInt64 = 0
}

extension StepContext {
    /// `sampleRNG` of sample i of this context's micro-batch of `size` samples: global position slot × size + i.
    public func sampleRNG(index i: Int, microBatch size: Int, stream: UInt64 = 0) -> SentioRNG {
        SentioTrainer.sampleRNG(seed: seed, step: step, position: slot * size + i, stream: stream)
    }
}

/// One of this rank's micro-batches of an optimizer step.
public struct MicroBatch: Sendable, Equatable {
    /// Dataset indices; sample i sits at position `context.slot * indices.count + i` of the global batch.
    public var indices: [Int]
    public var context: StepContext
    public init(indices: [Int], context: StepContext) { self.indices = indices; self.context = context }
}

public protocol TrainingStepper: AnyObject {
    /// The trainable tensors. Names and shapes are fixed for the run; the loop sets new values after
    /// every update and on resume.
    var parameters: NamedTensors { get set }

    /// Forward and backward for one micro-batch at the current parameters. `batch` holds dataset
    /// indices; `rng` is this micro-batch's generator (sampling, dropout). Returns the gradient of the
    /// micro-batch's loss (same layout as `parameters`) and its statistics. The loop averages the
    /// gradients over micro-batches and ranks. `rng` depends only on (seed, step, slot).
    func step(batch: [Int], context: StepContext, rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats)

    /// Called on every rank once per optimizer step, before its `step` calls, with this rank's
    /// micro-batches in accumulation order. A stepper whose loss needs statistics of the whole global
    /// batch (GRPO: reward scaling "batch", dapo's token count) computes its part here and all-reduces
    /// it with `collective`; every rank must make the same collective calls. The default does nothing.
    func prepare(_ microBatches: [MicroBatch], collective: Collective) throws

    /// Extra files for a checkpoint folder (e.g. a PEFT adapter); the default writes nothing.
    func saveArtifacts(to directory: URL) throws
}

extension TrainingStepper {
    public func saveArtifacts(to directory: URL) throws {}
    public func prepare(_ microBatches: [MicroBatch], collective: Collective) throws {}
}
