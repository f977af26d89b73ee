// The training loop: for each optimizer step, every rank runs its micro-batches through the stepper,
// gradients are averaged over micro-batches and ranks (all-reduce), clipped by global norm, and AdamW
// applies the scheduled learning rate. Rank 0 appends the log line, writes samples, checkpoints and
// plots. See DataOrder.swift for which samples a step sees and Checkpoint.swift for what a resume
// restores; together they make a resumed run continue bit for bit (same data order, same RNG).
//
//   OUT/log.jsonl  OUT/samples.jsonl  OUT/plots/*.svg  OUT/checkpoints/step-NNNNNN/  OUT/checkpoints/latest
import Foundation
import SentioCore
import SentioRuntime

public struct TrainSummary: Sendable {
    /// Steps done when the run returned, and the step it started from (non-zero after a resume).
    public var step: Int
    public var startStep: Int
    public var lastRecord: StepRecord?
    public var out: URL
}

public final class Trainer<S: TrainingStepper> {
    public let stepper: S
    public let config: TrainerConfig
    public let out: URL
    public let collective: Collective
    public let order: DataOrder
    /// Free-form run settings stored in each checkpoint's state.json.
    public var run: [String: String]
    /// Console progress on stderr (rank 0).
    public var showProgress = true
    /// Called on every rank after each step (tests, integration).
    public var onStep: ((StepRecord) -> Void)?

    public var checkpointRoot: URL { out.appendingPathComponent("checkpoints") }
    public var logURL: URL { out.appendingPathComponent("log.jsonl") }
    public var samplesURL: URL { out.appendingPathComponent("samples.jsonl") }
    public var plotsURL: URL { out.appendingPathComponent("plots") }

    public init(stepper: S, dataCount: Int, config: TrainerConfig, out: URL,
                collective: Collective = SingleProcess(), run: [String: String] = [:]) throws {
        try config.validate()
        self.stepper = stepper
        self.config = config
        self.out = out
        self.collective = collective
        self.run = run
        order = try DataOrder(count: dataCount, seed: config.seed, microBatch: config.microBatch,
                              accumulation: config.gradientAccumulation, worldSize: collective.size, shuffle: config.shuffle)
    }

    private var isWriter: Bool { collective.rank == 0 }

    /// Runs to `config.steps`. With `resume`, continues from OUT's latest checkpoint (or starts fresh
    /// when there is none); without it, refuses an OUT that already holds checkpoints.
    /// `stopAfter` returns after that step (simulates a kill at a step boundary in tests).
    @discardableResult
    public func train(resume: Bool, stopAfter: Int? = nil) throws -> TrainSummary {
        let schedule = LRSchedule(config.schedule, warmupSteps: config.warmupSteps, totalSteps: config.steps)
        var params = stepper.parameters
        var opt = AdamW(config: config.adamw, parameterCount: params.values.count)
        var step = 0
        var position = DataPosition()

        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        // Rank 0 decides between a fresh start and a resume and sends the starting point (checkpoint, or
        // the initial parameters) to every rank: ranks need no shared file system and start identical.
        var found: Checkpoint? = nil
        if isWriter {
            found = try Checkpoint.latest(root: checkpointRoot)
            if let ck = found, !resume {
                throw SentioError(.argument, file: out.path, "already holds a run (checkpoint \(ck.directory.lastPathComponent)); pass --resume to continue it or choose another output folder")
            }
            Checkpoint.removeTemporaries(root: checkpointRoot)
        }
        if collective.size > 1 {
            var payload: [UInt8] = []
            if isWriter { payload = found.map { [1] + $0.serialized() } ?? [0] + floatBytes(params.values) }
            try broadcastSized(&payload)
            if !isWriter {
                if payload.first == 1 {
                    found = try Checkpoint(serialized: Array(payload.dropFirst()), directory: checkpointRoot)
                } else {
                    guard payload.count == 1 + params.values.count * 4 else {
                        throw SentioError(.shape, "rank \(collective.rank): rank 0 has \((payload.count - 1) / 4) parameters, this rank \(params.values.count)")
                    }
                    params.values = floats(Array(payload.dropFirst()))
                    stepper.parameters = params
                }
            }
        }
        if let ck = found {
            try checkCompatible(ck.state, layout: params.layout)
            params = ck.parameters
            opt = ck.optimizer
            step = ck.state.step
            position = ck.state.data
            stepper.parameters = params
            if isWriter {
                try JSONLFile.truncate(logURL, toStep: step)
                try JSONLFile.truncate(samplesURL, toStep: step)
            }
        } else if isWriter {
            // A fresh run: logs from an earlier attempt that never reached a checkpoint are stale.
            try? FileManager.default.removeItem(at: logURL)
            try? FileManager.default.removeItem(at: samplesURL)
        }
        try collective.barrier()
        let startStep = step
        let log = isWriter ? try JSONLFile(logURL) : nil
        let samples = isWriter && config.sampleEvery > 0 ? try JSONLFile(samplesURL) : nil
        let bar = isWriter && showProgress ? TrainingProgress(total: config.steps, firstStep: step) : nil
        var last: StepRecord?
        var records = isWriter && FileManager.default.fileExists(atPath: logURL.path) ? try JSONLFile.read(logURL, as: StepRecord.self) : []

        while step < config.steps {
            let t0 = Date()
            let iteration = step % config.iterations
            let (global, pos) = order.globalBatch(at: position)
            var grads = NamedTensors(zeros: params.layout)
            var stats = StepStats()
            let micro = (0..<config.gradientAccumulation).map { a -> MicroBatch in
                let (indices, slot) = order.microBatch(global, accumulationStep: a, rank: collective.rank)
                return MicroBatch(indices: indices, context: StepContext(
                    step: step, iteration: iteration, iterations: config.iterations, slot: slot,
                    rank: collective.rank, worldSize: collective.size, seed: config.seed))
            }
            try stepper.prepare(micro, collective: collective)
            for mb in micro {
                var rng = microBatchRNG(seed: config.seed, step: step, slot: mb.context.slot)
                let (g, s) = try stepper.step(batch: mb.indices, context: mb.context, rng: &rng)
                guard g.layout == params.layout else {
                    throw SentioError(.shape, "the stepper's gradients do not have the parameters' layout")
                }
                for i in grads.values.indices { grads.values[i] += g.values[i] }
                stats.merge(s)
            }
            try collective.allReduceSum(&grads.values)
            let scale = 1 / Float(config.gradientAccumulation * collective.size)
            for i in grads.values.indices { grads.values[i] *= scale }
            var packed = stats.packed
            try collective.allReduceSum(&packed)
            stats.unpack(packed)

            let norm = GradientClipping.clipGlobalNorm(&grads.values, maxNorm: config.maxGradNorm)
            guard norm.isFinite else {
                // Stop before the update poisons the parameters; the last checkpoint stays the resume point.
                throw SentioError(.data, "step \(step + 1): the gradient norm is \(norm) (loss \(stats.loss / Double(max(1, stats.microBatches)))); nothing was updated, the last checkpoint is intact")
            }
            let lr = config.lr * schedule.multiplier(step: step)
            try opt.update(&params.values, gradients: grads.values, lr: lr)
            stepper.parameters = params
            step += 1
            position = iteration == config.iterations - 1 ? order.advance(pos) : pos

            let record = StepRecord(step: step, epoch: pos.epoch, lr: lr, gradNorm: norm, stats: stats,
                                    stepTime: Date().timeIntervalSince(t0), peakRSS: MachineInfo.peakRSS)
            last = record
            if isWriter {
                try log?.append(record)
                records.append(record)
                if let samples, step % config.sampleEvery == 0, !stats.samples.isEmpty {
                    try samples.append(SampleLogLine(step: step, samples: stats.samples))
                }
                bar?.update(record)
                let checkpointNow = step % config.saveEvery == 0 || step == config.steps
                if checkpointNow {
                    let state = TrainerState(step: step, optimizerStep: opt.step, data: position, seed: config.seed,
                                             schedule: schedule, config: config, tensorNames: params.layout.names,
                                             tensorShapes: params.layout.shapes, worldSize: collective.size, run: run)
                    try Checkpoint.write(root: checkpointRoot, state: state, parameters: params, optimizer: opt,
                                         extra: { try self.stepper.saveArtifacts(to: $0) })
                    Checkpoint.prune(root: checkpointRoot, keep: config.keepCheckpoints)
                }
                if checkpointNow || (config.plotEvery > 0 && step % config.plotEvery == 0) {
                    try TrainingPlots.write(records, to: try plotsFolder())
                }
            }
            onStep?(record)
            if let stopAfter, step >= stopAfter { break }
        }
        bar?.finish()
        try collective.barrier()
        return TrainSummary(step: step, startStep: startStep, lastRecord: last, out: out)
    }

    /// Broadcasts rank 0's bytes (any length) to every rank.
    private func broadcastSized(_ payload: inout [UInt8]) throws {
        var n = withUnsafeBytes(of: UInt64(payload.count).littleEndian) { Array($0) }
        try collective.broadcast(&n, root: 0)
        let count = Int(n.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        guard count <= 1 << 40 else { throw SentioError(.corrupt, "broadcast: implausible payload size \(count)") }
        if !isWriter { payload = [UInt8](repeating: 0, count: count) }
        try collective.broadcast(&payload, root: 0)
    }

    private func plotsFolder() throws -> URL {
        try FileManager.default.createDirectory(at: plotsURL, withIntermediateDirectories: true)
        return plotsURL
    }

    private func checkCompatible(_ s: TrainerState, layout: TensorLayout) throws {
        let where_ = checkpointRoot.path
        guard s.tensorNames == layout.names, s.tensorShapes == layout.shapes else {
            throw SentioError(.argument, file: where_, "the checkpoint's tensors differ from this model's trainable tensors (different LoRA settings?)")
        }
        guard s.seed == config.seed else {
            throw SentioError(.argument, file: where_, "the checkpoint was made with seed \(s.seed), this run has \(config.seed)")
        }
        let was = s.config.microBatch * s.config.gradientAccumulation * s.worldSize
        guard was == order.globalBatch, s.config.microBatch == config.microBatch else {
            throw SentioError(.argument, file: where_, "the checkpoint's batch (micro \(s.config.microBatch) x accumulation \(s.config.gradientAccumulation) x \(s.worldSize) ranks) differs from this run's (\(config.microBatch) x \(config.gradientAccumulation) x \(collective.size)); the data order would change")
        }
        guard s.config.iterations == config.iterations else {
            throw SentioError(.argument, file: where_, "the checkpoint was made with \(s.config.iterations) iterations per batch, this run has \(config.iterations)")
        }
        guard s.config.shuffle == config.shuffle else {
            throw SentioError(.argument, file: where_, "the checkpoint's shuffle setting differs from this run's")
        }
    }
}
