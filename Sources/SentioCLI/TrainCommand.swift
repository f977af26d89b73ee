// `sentio train grpo|sft|toy`: fine-tuning runs. Option resolution (defaults < --config file < flags),
// validation, the data order, checkpoints/--resume, logs and plots live in SentioTrainer/Infra; this
// file maps flags to option keys and hands the run to the Trainer.
import ArgumentParser
import Foundation
import SentioCore
import SentioKernels
import SentioRuntime
import SentioTrainer

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fine-tune with LoRA: GRPO (R1-Omni's RLVR recipe) or SFT; `toy` checks the training machinery.",
        subcommands: [TrainGRPO.self, TrainSFT.self, TrainToy.self])
}

/// Options shared by grpo and sft. All optional: a flag that is not given leaves the config file's
/// value (or the default) in place.
struct CommonTrainOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Base model (.sentio)") var model: String?
    @Option(help: "Training data: R1-Omni JSON (video + conversations)") var data: String?
    @Option(help: "Output folder (checkpoints, log.jsonl, samples.jsonl, plots/)") var out: String?
    @Option(help: "Config file (JSON object or `key = value` lines; keys are these flags' names). Flags override it.") var config: String?
    @Option(help: "Learning rate (default 1e-5)") var lr: Double?
    @Option(help: "LR schedule: constant, constant_with_warmup, linear, cosine (default linear)") var schedule: String?
    @Option(help: "Warmup steps (default 0)") var warmupSteps: Int?
    @Option(help: "AdamW weight decay (default 0)") var weightDecay: Double?
    @Option(help: "Gradient clipping: global norm (default 1.0; 0 = off)") var maxGradNorm: Double?
    @Option(help: "LoRA rank (default 8)") var loraR: Int?
    @Option(help: "LoRA alpha (default 16)") var loraAlpha: Double?
    @Option(help: "LoRA dropout (default 0)") var loraDropout: Double?
    @Option(help: "LoRA target modules, comma-separated (default q,k,v,o,gate,up,down _proj)") var loraTargets: String?
    @Option(help: "rsLoRA scaling alpha/sqrt(r): true or false") var rslora: String?
    @Option(help: "Prompts per micro-batch on each rank (default 1)") var batchSize: Int?
    @Option(help: "Micro-batches per optimizer step (default 1)") var gradientAccumulation: Int?
    @Option(help: "Optimizer steps (or --epochs)") var steps: Int?
    @Option(help: "Passes over the data (or --steps)") var epochs: Double?
    @Option(help: "Checkpoint every N steps (default 50)") var saveEvery: Int?
    @Option(help: "Checkpoints to keep (default 3; 0 = all)") var keepCheckpoints: Int?
    @Option(help: "Log sample completions every N steps (default 10)") var sampleEvery: Int?
    @Option(help: "Seed: data order, sampling, LoRA init (default 42)") var seed: UInt64?
    @Option(name: .shortAndLong, help: "Threads (default: all cores)") var threads: Int?
    @Flag(help: "Keep the model's weights in the file mapping instead of copying them into huge-page memory (ranks on one machine share the page cache; slower decode)") var mmap = false
    @Flag(help: "Continue the run in --out from its latest checkpoint") var resume = false
    @Flag(help: "Print the resolved options as JSON and exit") var dryRun = false

    var flags: [String: String] {
        var f: [String: String] = [:]
        f["model"] = model; f["data"] = data; f["out"] = out
        f["lr"] = lr.map { "\($0)" }; f["schedule"] = schedule; f["warmup-steps"] = warmupSteps.map(String.init)
        f["weight-decay"] = weightDecay.map { "\($0)" }; f["max-grad-norm"] = maxGradNorm.map { "\($0)" }
        f["lora-r"] = loraR.map(String.init); f["lora-alpha"] = loraAlpha.map { "\($0)" }
        f["lora-dropout"] = loraDropout.map { "\($0)" }; f["lora-targets"] = loraTargets; f["rslora"] = rslora
        f["batch-size"] = batchSize.map(String.init); f["gradient-accumulation"] = gradientAccumulation.map(String.init)
        f["steps"] = steps.map(String.init); f["epochs"] = epochs.map { "\($0)" }
        f["save-every"] = saveEvery.map(String.init); f["keep-checkpoints"] = keepCheckpoints.map(String.init)
        f["sample-every"] = sampleEvery.map(String.init); f["seed"] = seed.map(String.init)
        f["threads"] = threads.map(String.init)
        if mmap { f["mmap"] = "true" }
        return f
    }

    func resolve(_ mode: TrainRunOptions.Mode, extra: [String: String]) throws -> TrainRunOptions {
        var cfg: [String: String] = [:]
        if let config { cfg = try TrainRunOptions.parseConfigFile(URL(fileURLWithPath: config)) }
        return try TrainRunOptions.resolve(mode: mode, config: cfg, configSource: config,
                                           flags: flags.merging(extra) { a, _ in a })
    }
}

func printResolved(_ o: TrainRunOptions) throws {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    FileHandle.standardOutput.write(try e.encode(o))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

struct TrainGRPO: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grpo",
        abstract: "GRPO with LoRA on an R1-Omni dataset (spec section 7 preset by default).",
        discussion: """
        Precedence: built-in defaults < --config file < command-line flags. The config file is a JSON object \
        or `key = value` lines with the flags' names as keys (`num-generations = 8` or `"num_generations": 8`).

        Writes OUT/log.jsonl (one line per step: loss, reward mean/std per reward, KL, completion length, clip \
        ratio, share of zero-std groups, tokens/s, step time, peak RSS), OUT/samples.jsonl, OUT/plots/*.svg and \
        OUT/checkpoints/step-N/ (adapter, optimizer state, data position; atomic). After a crash or kill -9, \
        the same command with --resume continues from the latest checkpoint with the same data order and RNG.

        Under `mpirun -n N sentio train grpo ...` each rank rolls out its own prompts (seeded by their place \
        in the global batch); batch reward scaling, dapo's token count, gradients and logged statistics \
        are all-reduced, so N ranks with --batch-size B step like one process with --batch-size N*B \
        (bnpo, normalized per micro-batch, like one process with --gradient-accumulation N). \
        Rank 0 writes OUT.
        """)
    @OptionGroup var common: CommonTrainOptions
    @Option(help: "Completions per prompt, G (default 8)") var numGenerations: Int?
    @Option(help: "Maximum new tokens per completion (default 512)") var maxNewTokens: Int?
    @Option(help: "Sampling temperature (default 1.0)") var temperature: Double?
    @Option(help: "Top-k (default 50; 0 = off)") var topK: Int?
    @Option(help: "Top-p (default 1.0)") var topP: Double?
    @Option(help: "KL coefficient (default 0.04; 0 = no reference pass)") var beta: Double?
    @Option(help: "Clipping epsilon below 1 (default 0.2; used with --iterations > 1)") var epsilonLow: Double?
    @Option(help: "Clipping epsilon above 1 (default 0.2)") var epsilonHigh: Double?
    @Option(help: "Updates per batch of rollouts (default 1)") var iterations: Int?
    @Option(help: "Loss aggregation: grpo, bnpo, dr_grpo, dapo (default grpo)") var lossType: String?
    @Option(help: "Reward scaling: group, batch, none (default group)") var rewardScaling: String?
    @Option(help: "Mask completions that hit --max-new-tokens: true or false") var maskTruncated: String?
    @Option(help: "Rewards, comma-separated (default accuracy,format)") var rewards: String?
    @Option(help: "Reward weights, comma-separated (default 1 each)") var rewardWeights: String?

    func run() throws {
        try runReportingErrors {
            var extra: [String: String] = [:]
            extra["num-generations"] = numGenerations.map(String.init); extra["max-new-tokens"] = maxNewTokens.map(String.init)
            extra["temperature"] = temperature.map { "\($0)" }; extra["top-k"] = topK.map(String.init)
            extra["top-p"] = topP.map { "\($0)" }; extra["beta"] = beta.map { "\($0)" }
            extra["epsilon-low"] = epsilonLow.map { "\($0)" }; extra["epsilon-high"] = epsilonHigh.map { "\($0)" }
            extra["iterations"] = iterations.map(String.init); extra["loss-type"] = lossType
            extra["reward-scaling"] = rewardScaling; extra["mask-truncated"] = maskTruncated
            extra["rewards"] = rewards; extra["reward-weights"] = rewardWeights
            let o = try common.resolve(.grpo, extra: extra)
            if common.dryRun { try printResolved(o); return }
            try runLanguageModelTraining(o, resume: common.resume)
        }
    }
}

struct TrainSFT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sft",
        abstract: "Supervised fine-tuning with LoRA (the cold start): cross-entropy on the assistant's <think>/<answer> text.")
    @OptionGroup var common: CommonTrainOptions

    func run() throws {
        try runReportingErrors {
            let o = try common.resolve(.sft, extra: [:])
            if common.dryRun { try printResolved(o); return }
            try runLanguageModelTraining(o, resume: common.resume)
        }
    }
}

/// Loads the data and the model's stepper and runs the loop. The GRPO/SFT steppers (LoRA forward and
/// backward) are built in SentioTrainer beside Infra; `makeStepper` is where they plug in.
func runLanguageModelTraining(_ o: TrainRunOptions, resume: Bool) throws {
    let dataset = try EmotionDataset(contentsOf: URL(fileURLWithPath: o.data))
    for w in dataset.warnings { stderr("sentio: warning: \(o.data): \(w)\n") }
    let data = try TrainingData(dataset)
    let modelURL = URL(fileURLWithPath: o.model)
    guard FileManager.default.fileExists(atPath: modelURL.path) else { throw SentioError(.io, file: modelURL.path, "model file not found") }
    if o.threads > 0 { ThreadPool.shared = ThreadPool(threads: o.threads) }
    try Collectives.run { collective in
        let config = try o.trainerConfig(datasetCount: data.samples.count, worldSize: collective.size)
        let stepper = try makeStepper(o, data: data)
        try runTrainer(stepper, count: data.samples.count, config: config, out: URL(fileURLWithPath: o.out),
                       collective: collective, resume: resume, run: ["mode": o.mode.rawValue, "model": o.model, "data": o.data])
    }
}

/// The GRPO or SFT stepper on the model: R1-Omni (clips through the frozen encoders, cached under
/// OUT/encoder-cache) or a plain Qwen2 LLM (text-only: the prompt is the dataset's human turn).
func makeStepper(_ o: TrainRunOptions, data: TrainingData) throws -> any TrainingStepper {
    let policy = try PolicyModel(url: URL(fileURLWithPath: o.model), mapWeights: o.mmap)
    if policy.kind == .omni {
        policy.encoderCache = try EncoderCache(directory: URL(fileURLWithPath: o.out).appendingPathComponent("encoder-cache"))
    }
    let adapter = try LoRAAdapter(config: o.loraConfig, model: policy.llm.config, seed: o.seed)
    switch o.mode {
    case .grpo:
        return GRPOStepper(policy: policy, adapter: adapter, data: data, options: GRPOStepperOptions(o, eos: policy.eosTokenId))
    case .sft:
        return try SFTStepper(policy: policy, adapter: adapter, data: data,
                              assistant: SFTStepper.assistantTurns(URL(fileURLWithPath: o.data)))
    }
}

func runTrainer<S: TrainingStepper>(_ stepper: S, count: Int, config: TrainerConfig, out: URL, collective: Collective,
                                    resume: Bool, run: [String: String]) throws {
    let t = try Trainer(stepper: stepper, dataCount: count, config: config, out: out, collective: collective, run: run)
    let summary = try t.train(resume: resume)
    if collective.rank == 0 {
        stderr("sentio: trained steps \(summary.startStep)..\(summary.step); log \(t.logURL.path)\n")
    }
}

struct TrainToy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "toy",
        abstract: "Self-check of the training machinery on a least-squares regression (data order, accumulation, MPI all-reduce, AdamW, checkpoints, --resume, logs, plots).",
        discussion: "Prints one JSON line per rank: steps done and the parameters (values and float bit patterns).")
    @Option(help: "Output folder") var out: String
    @Option(help: "Optimizer steps") var steps: Int = 20
    @Option(help: "Checkpoint every N steps") var saveEvery: Int = 5
    @Option(help: "Seed") var seed: UInt64 = 1
    @Option(help: "Learning rate") var lr: Double = 0.05
    @Option(help: "Input dimension") var dim: Int = 5
    @Option(help: "Samples") var count: Int = 64
    @Option(help: "Samples per micro-batch on each rank") var batchSize: Int = 4
    @Option(help: "Micro-batches per step") var gradientAccumulation: Int = 1
    @Option(help: "Input noise amplitude (drawn from the micro-batch RNG)") var noise: Double = 0.01
    @Option(help: "Sleep per step in milliseconds (kill tests)") var delayMs: Int = 0
    @Flag(help: "Continue from --out's latest checkpoint") var resume = false
    @Flag(help: "Instead of training: all-reduce, broadcast and barrier once and print the results") var checkCollective = false

    func run() throws {
        try runReportingErrors {
            try Collectives.run { collective in
            if checkCollective { try collectiveCheck(collective); return }
            let stepper = try LinearToyStepper(dimension: dim, count: count, dataSeed: seed, noise: Float(noise))
            stepper.delayMs = delayMs
            var c = TrainerConfig(steps: steps)
            c.microBatch = batchSize
            c.gradientAccumulation = gradientAccumulation
            c.lr = lr
            c.schedule = .cosine
            c.warmupSteps = min(2, steps)
            c.maxGradNorm = 1
            c.saveEvery = saveEvery
            c.sampleEvery = 5
            c.seed = seed
            let t = try Trainer(stepper: stepper, dataCount: count, config: c, out: URL(fileURLWithPath: out), collective: collective)
            let summary = try t.train(resume: resume)
            let p = stepper.parameters.values
            let line: [String: Any] = ["rank": collective.rank, "world_size": collective.size, "step": summary.step,
                                       "start_step": summary.startStep, "parameters": p.map(Double.init),
                                       "parameter_bits": p.map { String(format: "%08x", $0.bitPattern) }.joined(separator: " "),
                                       "distance_to_target": stepper.distanceToTarget]
            let d = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys])
            FileHandle.standardOutput.write(d + Data("\n".utf8))
            }
        }
    }

    func collectiveCheck(_ c: Collective) throws {
        var f: [Float] = (0..<5).map { Float(c.rank + 1) * Float($0 + 1) }
        try c.allReduceSum(&f)
        var d: [Double] = [Double(c.rank) + 0.5, 1e300]
        try c.allReduceSum(&d)
        var b: [UInt8] = c.rank == c.size - 1 ? Array("from-last".utf8) : [UInt8](repeating: 0, count: 9)
        try c.broadcast(&b, root: c.size - 1)
        try c.barrier()
        let line: [String: Any] = ["rank": c.rank, "size": c.size, "floats": f.map(Double.init), "doubles": d,
                                   "broadcast": String(decoding: b, as: UTF8.self)]
        FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]) + Data("\n".utf8))
    }
}
