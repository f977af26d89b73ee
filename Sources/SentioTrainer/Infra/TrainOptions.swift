// The options of `sentio train grpo|sft`, resolved from three layers (later wins):
//   1. built-in defaults (R1-Omni's GRPO preset, spec section 7, with LoRA defaults)
//   2. the --config file (JSON object, or TOML-ish `key = value` lines)
//   3. flags given on the command line
// Keys are the flag names without dashes' prefix ("num-generations"; "num_generations" also accepted).
// Every value is parsed and checked here, so a bad config file and a bad flag give the same error.
import Foundation
import SentioCore

public struct TrainRunOptions: Codable, Equatable, Sendable {
    public enum Mode: String, Codable, Sendable { case grpo, sft }
    public enum LossType: String, Codable, Sendable, CaseIterable { case grpo, bnpo, drGRPO = "dr_grpo", dapo }
    public enum RewardScaling: String, Codable, Sendable, CaseIterable { case group, batch, none }

    public var mode: Mode
    public var model = ""
    public var data = ""
    public var out = ""
    // LoRA
    public var loraR = 8
    public var loraAlpha = 16.0
    public var loraDropout = 0.0
    public var loraTargets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    public var rslora = false
    // Optimization
    public var lr = 1e-5
    public var schedule = LRSchedule.Kind.linear
    public var warmupSteps = 0
    public var weightDecay = 0.0
    public var maxGradNorm = 1.0
    public var batchSize = 1
    public var gradientAccumulation = 1
    public var steps: Int?
    public var epochs: Double?
    public var saveEvery = 50
    public var keepCheckpoints = 3
    public var sampleEvery = 10
    public var seed: UInt64 = 42
    public var threads = 0
    /// Keep the model's weights in the file mapping instead of copying them into huge-page memory (processes of
    /// a data-parallel run on one machine then share one page-cache copy; decode is slower).
    public var mmap = false
    // GRPO (spec section 7 preset)
    public var numGenerations = 8
    public var maxNewTokens = 512
    public var temperature = 1.0
    public var topK = 50
    public var topP = 1.0
    public var beta = 0.04
    public var epsilonLow = 0.2
    public var epsilonHigh = 0.2
    public var iterations = 1
    public var lossType = LossType.grpo
    public var rewardScaling = RewardScaling.group
    public var maskTruncated = false
    public var rewards = ["accuracy", "format"]
    public var rewardWeights: [Double]?

    public init(mode: Mode) {
        self.mode = mode
        if mode == .sft { maxNewTokens = 0 }
    }

    static let commonKeys: Set<String> = [
        "model", "data", "out", "lora-r", "lora-alpha", "lora-dropout", "lora-targets", "rslora", "lr", "schedule",
        "warmup-steps", "weight-decay", "max-grad-norm", "batch-size", "gradient-accumulation", "steps", "epochs",
        "save-every", "keep-checkpoints", "sample-every", "seed", "threads", "mmap",
    ]
    static let grpoKeys: Set<String> = [
        "num-generations", "max-new-tokens", "temperature", "top-k", "top-p", "beta", "epsilon-low", "epsilon-high",
        "iterations", "loss-type", "reward-scaling", "mask-truncated", "rewards", "reward-weights",
    ]
    public var keys: Set<String> { mode == .grpo ? Self.commonKeys.union(Self.grpoKeys) : Self.commonKeys }

    /// Defaults, then `config`, then `flags`; validated.
    public static func resolve(mode: Mode, config: [String: String] = [:], configSource: String? = nil,
                               flags: [String: String]) throws -> TrainRunOptions {
        var o = TrainRunOptions(mode: mode)
        for (k, v) in config.sorted(by: { $0.key < $1.key }) { try o.set(k, v, source: configSource ?? "config") }
        for (k, v) in flags.sorted(by: { $0.key < $1.key }) { try o.set(k, v, source: "--" + normalize(k)) }
        // An explicit --steps on the command line overrides epochs from the config file, and vice versa.
        if flags.keys.map(normalize).contains("steps") && !flags.keys.map(normalize).contains("epochs") { o.epochs = nil }
        if flags.keys.map(normalize).contains("epochs") && !flags.keys.map(normalize).contains("steps") { o.steps = nil }
        try o.validate()
        return o
    }

    static func normalize(_ key: String) -> String {
        var k = key
        while k.hasPrefix("-") { k.removeFirst() }
        return k.replacingOccurrences(of: "_", with: "-").lowercased()
    }

    /// Sets one option from its text form; `source` names where it came from in errors.
    public mutating func set(_ rawKey: String, _ value: String, source: String) throws {
        let key = Self.normalize(rawKey)
        guard keys.contains(key) else {
            let hint = Self.grpoKeys.contains(key) ? " (a GRPO option; this is `train \(mode.rawValue)`)" : ""
            throw SentioError(.argument, file: source, "unknown option \(key.debugDescription)\(hint)")
        }
        let v = value.trimmingCharacters(in: .whitespaces)
        func bad(_ what: String) -> SentioError { SentioError(.argument, file: source, "\(key): expected \(what), got \(v.debugDescription)") }
        func int() throws -> Int { guard let x = Int(v) else { throw bad("an integer") }; return x }
        func double() throws -> Double { guard let x = Double(v), x.isFinite else { throw bad("a number") }; return x }
        func bool() throws -> Bool {
            switch v.lowercased() { case "true", "1", "yes": return true; case "false", "0", "no": return false; default: throw bad("true or false") }
        }
        func list() -> [String] { v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
        func choice<T: RawRepresentable & CaseIterable>(_: T.Type) throws -> T where T.RawValue == String {
            guard let x = T(rawValue: v.lowercased()) else { throw bad("one of " + T.allCases.map(\.rawValue).joined(separator: ", ")) }
            return x
        }
        switch key {
        case "model": model = v
        case "data": data = v
        case "out": out = v
        case "lora-r": loraR = try int()
        case "lora-alpha": loraAlpha = try double()
        case "lora-dropout": loraDropout = try double()
        case "lora-targets": loraTargets = list()
        case "rslora": rslora = try bool()
        case "lr": lr = try double()
        case "schedule": schedule = try choice(LRSchedule.Kind.self)
        case "warmup-steps": warmupSteps = try int()
        case "weight-decay": weightDecay = try double()
        case "max-grad-norm": maxGradNorm = try double()
        case "batch-size": batchSize = try int()
        case "gradient-accumulation": gradientAccumulation = try int()
        case "steps": steps = try int()
        case "epochs": epochs = try double()
        case "save-every": saveEvery = try int()
        case "keep-checkpoints": keepCheckpoints = try int()
        case "sample-every": sampleEvery = try int()
        case "seed": guard let s = UInt64(v) else { throw bad("a non-negative integer") }; seed = s
        case "threads": threads = try int()
        case "mmap": mmap = try bool()
        case "num-generations": numGenerations = try int()
        case "max-new-tokens": maxNewTokens = try int()
        case "temperature": temperature = try double()
        case "top-k": topK = try int()
        case "top-p": topP = try double()
        case "beta": beta = try double()
        case "epsilon-low": epsilonLow = try double()
        case "epsilon-high": epsilonHigh = try double()
        case "iterations": iterations = try int()
        case "loss-type": lossType = try choice(LossType.self)
        case "reward-scaling": rewardScaling = try choice(RewardScaling.self)
        case "mask-truncated": maskTruncated = try bool()
        case "rewards": rewards = list()
        case "reward-weights":
            rewardWeights = try list().map { s in guard let x = Double(s), x.isFinite else { throw bad("comma-separated numbers") }; return x }
        default: throw SentioError(.argument, file: source, "unknown option \(key.debugDescription)")
        }
    }

    public func validate() throws {
        func check(_ ok: Bool, _ msg: String) throws { if !ok { throw SentioError(.argument, msg) } }
        try check(!model.isEmpty, "--model is required")
        try check(!data.isEmpty, "--data is required")
        try check(!out.isEmpty, "--out is required")
        try check(loraR > 0, "--lora-r must be positive (got \(loraR))")
        try check(loraAlpha > 0, "--lora-alpha must be positive (got \(loraAlpha))")
        try check(loraDropout >= 0 && loraDropout < 1, "--lora-dropout must be in [0, 1) (got \(loraDropout))")
        try check(!loraTargets.isEmpty, "--lora-targets must name at least one module")
        try check(steps != nil || epochs != nil, "give --steps or --epochs")
        try check(steps == nil || epochs == nil, "give --steps or --epochs, not both")
        if let s = steps { try check(s > 0, "--steps must be positive (got \(s))") }
        if let e = epochs { try check(e > 0, "--epochs must be positive (got \(e))") }
        try check(batchSize > 0, "--batch-size must be positive (got \(batchSize))")
        try check(threads >= 0, "--threads must not be negative")
        guard mode == .grpo else { return }
        try check(numGenerations >= 2, "--num-generations must be at least 2 (advantages compare completions within a group; got \(numGenerations))")
        try check(maxNewTokens > 0, "--max-new-tokens must be positive (got \(maxNewTokens))")
        try check(temperature > 0, "--temperature must be positive (got \(temperature))")
        try check(topK >= 0, "--top-k must not be negative")
        try check(topP > 0 && topP <= 1, "--top-p must be in (0, 1] (got \(topP))")
        try check(beta >= 0, "--beta must not be negative (0 skips the reference pass)")
        try check(epsilonLow >= 0 && epsilonHigh >= 0, "--epsilon-low/--epsilon-high must not be negative")
        try check(iterations > 0, "--iterations must be positive (got \(iterations))")
        try check(!rewards.isEmpty, "--rewards must name at least one reward")
        for r in rewards { try check(RewardSet.builtins[r] != nil, "unknown reward \(r.debugDescription) (known: \(RewardSet.builtins.keys.sorted().joined(separator: ", ")))") }
        if let w = rewardWeights { try check(w.count == rewards.count, "--reward-weights has \(w.count) values for \(rewards.count) rewards") }
    }

    /// The reward functions with their weights.
    public var rewardSet: RewardSet {
        RewardSet(rewards.enumerated().map { i, name in
            var r = RewardSet.builtins[name]!
            if let w = rewardWeights { r.weight = w[i] }
            return r
        })
    }

    /// The loop's settings for a dataset of `count` samples over `worldSize` ranks. With --epochs and
    /// --iterations N, each batch gets N optimizer steps.
    public func trainerConfig(datasetCount count: Int, worldSize: Int) throws -> TrainerConfig {
        let perStep = batchSize * gradientAccumulation * worldSize
        let batches = count / perStep
        guard batches > 0 else {
            throw SentioError(.argument, "the dataset has \(count) samples, fewer than one step's \(perStep) (batch \(batchSize) x accumulation \(gradientAccumulation) x \(worldSize) ranks)")
        }
        let its = mode == .grpo ? iterations : 1
        var c = TrainerConfig(steps: steps ?? max(1, Int((epochs ?? 1) * Double(batches))) * its)
        c.iterations = its
        c.microBatch = batchSize
        c.gradientAccumulation = gradientAccumulation
        c.lr = lr
        c.schedule = schedule
        c.warmupSteps = warmupSteps
        c.adamw = AdamWConfig(weightDecay: weightDecay)
        c.maxGradNorm = maxGradNorm
        c.saveEvery = (saveEvery + its - 1) / its * its   // checkpoints fall between batches
        c.keepCheckpoints = keepCheckpoints
        c.sampleEvery = sampleEvery
        c.seed = seed
        try c.validate()
        return c
    }

    /// Parses a config file: a JSON object, or `key = value` lines (`#` comments; values may be quoted;
    /// `[a, b]` lists). Values come back in text form for `set`.
    public static func parseConfigFile(_ url: URL) throws -> [String: String] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw SentioError(.io, file: url.path, "cannot read the config file") }
        guard data.count <= 1 << 20 else { throw SentioError(.format, file: url.path, "config file larger than 1 MiB") }
        let text = String(decoding: data, as: UTF8.self)
        if text.trimmingCharacters(in: .whitespacesAndNewlines).hasPrefix("{") {
            guard let obj = try? JSONDecoder().decode([String: ConfigJSONValue].self, from: data) else {
                throw SentioError(.format, file: url.path, "not a JSON object of strings, numbers, booleans and lists")
            }
            var out: [String: String] = [:]
            for (k, v) in obj { out[k] = v.text }
            return out
        }
        var out: [String: String] = [:]
        for (n, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = String(rawLine)
            if let hash = line.firstIndex(of: "#"), !line[..<hash].contains("\"") { line = String(line[..<hash]) }
            line = line.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw SentioError(.format, file: url.path, "line \(n + 1): expected key = value")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw SentioError(.format, file: url.path, "line \(n + 1): empty key") }
            if value.hasPrefix("[") {
                guard value.hasSuffix("]") else { throw SentioError(.format, file: url.path, "line \(n + 1): unterminated list") }
                value = value.dropFirst().dropLast().split(separator: ",")
                    .map { unquote($0.trimmingCharacters(in: .whitespaces)) }.joined(separator: ",")
            } else {
                if value.hasPrefix("\"") != value.hasSuffix("\"") || value == "\"" {
                    throw SentioError(.format, file: url.path, "line \(n + 1): unbalanced quotes")
                }
                value = unquote(value)
            }
            out[key] = value
        }
        return out
    }

    static func unquote(_ s: String) -> String {
        s.count >= 2 && s.hasPrefix("\"") && s.hasSuffix("\"") ? String(s.dropFirst().dropLast()) : s
    }
}

/// A config file's JSON value in text form (JSONDecoder keeps true apart from 1, unlike NSNumber).
enum ConfigJSONValue: Decodable {
    case text(String)
    case list([ConfigJSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .text(b ? "true" : "false") }
        else if let i = try? c.decode(Int.self) { self = .text(String(i)) }
        else if let d = try? c.decode(Double.self) { self = .text(String(d)) }
        else if let s = try? c.decode(String.self) { self = .text(s) }
        else { self = .list(try c.decode([ConfigJSONValue].self)) }
    }

    var text: String {
        switch self {
        case .text(let s): return s
        case .list(let a): return a.map(\.text).joined(separator: ",")
        }
    }
}
