// What the training loop drives: a model plus loss (GRPO, SFT, or a toy) that computes gradients of
// its trainable tensors for one micro-batch. The loop owns everything around it: data order,
// accumulation, all-reduce, clipping, AdamW, schedule, checkpoints, logs and plots.
import Foundation
import SentioRuntime

public protocol TrainingStepper: AnyObject {
    /// The trainable tensors. Names and shapes are fixed for the run; the loop sets new values after
    /// every update and on resume.
    var parameters: NamedTensors { get set }

    /// Forward and backward for one micro-batch at the current parameters. `batch` holds dataset
    /// indices; `rng` is this micro-batch's generator (sampling, dropout). Returns the gradient of the
    /// micro-batch's loss (same layout as `parameters`) and its statistics. The loop averages the
    /// gradients over micro-batches and ranks.
    func step(batch: [Int], rng: inout SentioRNG) throws -> (gradients: NamedTensors, stats: StepStats)

    /// Extra files for a checkpoint folder (e.g. a PEFT adapter); the default writes nothing.
    func saveArtifacts(to directory: URL) throws
}

extension TrainingStepper {
    public func saveArtifacts(to directory: URL) throws {}
}
