// BatchGenerator: B sequences decode together. Each step is one forward pass with B segments of one
// row (Qwen2Model.forward), so every weight matrix is read once for all B sequences (the quantized
// Linear reads each weight row once per call for any n: the GEMV kernel for n <= 8 loops over the
// activation rows inside its 4-row weight tile, the tile GEMM beyond). Every sequence has its own
// cache, sampler (options + seed), stop tokens/strings and length limit; a sequence that finishes
// drops out of the next steps.
//
// GRPO rollouts: `generate(from: prompt, count: G, options:)` forks the prompt's cache G times
// (copy-on-write: the prompt's blocks are shared) and samples G continuations with seeds seed+i.
import Foundation
import SentioCore
import SentioKernels
import SentioModels
import SentioTokenizers

public final class BatchGenerator {
    public let model: Qwen2Model
    public let tokenizer: BPETokenizer
    public let pool: ThreadPool

    public init(model: Qwen2Model, tokenizer: BPETokenizer, pool: ThreadPool = .shared) {
        self.model = model; self.tokenizer = tokenizer; self.pool = pool
    }

    public convenience init(_ lm: LanguageModel, pool: ThreadPool = .shared) {
        self.init(model: lm.model, tokenizer: lm.tokenizer, pool: pool)
    }

    /// One sequence to decode: its cache (positions already prefilled), the next-token logits after them,
    /// the prompt ids (for the repetition penalty and the result) and its options.
    public struct Sequence {
        public var cache: any KVCache
        public var logits: [Float]
        public var prompt: [Int32]
        public var options: GenerationOptions
        public init(cache: any KVCache, logits: [Float], prompt: [Int32], options: GenerationOptions) {
            self.cache = cache; self.logits = logits; self.prompt = prompt; self.options = options
        }
    }

    /// `count` continuations of one prompt, each on a copy-on-write fork of its cache; sequence i samples
    /// with seed `seeds[i]` (default: options.sampling.seed + i). The prompt cache itself is not modified.
    public func generate(from prompt: PromptCache, count: Int, options: GenerationOptions, seeds: [UInt64]? = nil,
                         onText: ((Int, String) -> Void)? = nil) throws -> [GenerationResult] {
        guard count > 0 else { return [] }
        if let s = seeds, s.count != count { throw SentioError(.argument, "\(s.count) seeds for \(count) sequences") }
        let opts = (0..<count).map { i -> GenerationOptions in
            var o = options
            o.sampling.seed = seeds?[i] ?? options.sampling.seed &+ UInt64(i)
            return o
        }
        return try generate(from: prompt, options: opts, onText: onText)
    }

    /// One continuation per entry of `options`, each on a fork of the prompt's cache.
    public func generate(from prompt: PromptCache, options: [GenerationOptions],
                         onText: ((Int, String) -> Void)? = nil) throws -> [GenerationResult] {
        guard prompt.logits.count == model.config.vocabSize else {
            throw SentioError(.argument, "the prompt cache holds no next-token logits (\(prompt.logits.count) values)")
        }
        let seqs = options.map { Sequence(cache: prompt.cache.fork(), logits: prompt.logits, prompt: prompt.tokens, options: $0) }
        return try run(seqs, onText: onText)
    }

    /// Decodes all sequences together until each stops. Results in input order.
    public func run(_ sequences: [Sequence], onText: ((Int, String) -> Void)? = nil) throws -> [GenerationResult] {
        let V = model.config.vocabSize, h = model.config.hiddenSize
        for s in sequences where s.logits.count != V {
            throw SentioError(.argument, "sequence logits have \(s.logits.count) values, the vocabulary \(V)")
        }
        let t0 = Date()
        var states = sequences.enumerated().map { i, s in
            DecodeState(options: s.options, tokenizer: tokenizer,
                        history: s.options.penalizePrompt ? s.prompt : [],
                        onText: onText.map { f in { f(i, $0) } })
        }
        var finishedAt = [Double](repeating: 0, count: sequences.count)
        // First tokens from the given logits.
        var pending: [(seq: Int, token: Int32)] = []
        for i in sequences.indices {
            var lg = sequences[i].logits
            if let t = lg.withUnsafeMutableBufferPointer({ states[i].step($0) }) { pending.append((i, t)) }
            else { finishedAt[i] = Date().timeIntervalSince(t0) }
        }
        let maxB = max(1, model.maxRows)
        var x = [Float](), logits = [Float]()
        while !pending.isEmpty {
            var next: [(seq: Int, token: Int32)] = []
            var from = 0
            while from < pending.count {
                let chunk = pending[from..<min(pending.count, from + maxB)]
                let b = chunk.count
                if x.count < b * h { x = [Float](repeating: 0, count: b * h) }
                if logits.count < b * V { logits = [Float](repeating: 0, count: b * V) }
                try x.withUnsafeMutableBufferPointer { xb in
                    try model.embed(chunk.map { $0.token }, into: xb.baseAddress!)
                    try logits.withUnsafeMutableBufferPointer { lg in
                        try model.forward(input: xb.baseAddress!,
                                          segments: chunk.map { SequenceSegment(cache: sequences[$0.seq].cache, count: 1) },
                                          logitRows: .lastOfEachSegment, logits: lg.baseAddress!, pool: pool)
                    }
                }
                logits.withUnsafeMutableBufferPointer { lg in
                    for (j, p) in chunk.enumerated() {
                        let row = UnsafeMutableBufferPointer(rebasing: lg[(j * V)..<((j + 1) * V)])
                        if let t = states[p.seq].step(row) { next.append((p.seq, t)) }
                        else { finishedAt[p.seq] = Date().timeIntervalSince(t0) }
                    }
                }
                from += b
            }
            pending = next
        }
        return sequences.indices.map { i in
            var s = states[i]
            s.finish()
            return GenerationResult(promptTokens: sequences[i].prompt, generatedTokens: s.out, text: s.text,
                                    stopReason: s.reason, prefillSeconds: 0, decodeSeconds: finishedAt[i],
                                    tokenLogprobs: s.logprobs)
        }
    }
}

/// One sequence's sampling and stopping state.
struct DecodeState {
    let options: GenerationOptions
    var sampler: Sampler
    var stream: StreamingDecoder
    var history: [Int32]
    var out: [Int32] = []
    var logprobs: [Float] = []
    var text = ""
    var reason = GenerationResult.StopReason.maxTokens
    var done = false
    let onText: ((String) -> Void)?

    init(options: GenerationOptions, tokenizer: BPETokenizer, history: [Int32], onText: ((String) -> Void)?) {
        self.options = options
        sampler = Sampler(options.sampling)
        stream = StreamingDecoder(tokenizer: tokenizer, skipSpecial: true)
        self.history = history
        self.onText = onText
    }

    /// Samples the next token from `logits` (modified in place). Returns the token to feed the model
    /// next, or nil when the sequence has finished (this token, if any, was its last).
    mutating func step(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32? {
        if done || options.maxTokens <= 0 { done = true; return nil }
        var lse: Float = 0
        var raw: [Float]? = nil
        if options.logprobs {
            lse = Self.logSumExp(logits)
            if options.sampling.repetitionPenalty != 1 { raw = Array(logits) }   // sample() penalizes in place
        }
        let next = sampler.sample(logits, history: history)
        if options.logprobs { logprobs.append((raw?[Int(next)] ?? logits[Int(next)]) - lse) }
        out.append(next); history.append(next)
        if options.stopTokens.contains(next) { reason = .stopToken; done = true; return nil }
        let piece = stream.append(next)
        text += piece
        if !piece.isEmpty { onText?(piece) }
        if let s = options.stopStrings.first(where: { text.contains($0) }), let r = text.range(of: s) {
            text = String(text[..<r.lowerBound])
            reason = .stopString
            done = true
            return nil
        }
        if out.count >= options.maxTokens { done = true; return nil }
        return next
    }

    /// Flushes held-back bytes (not after a stop string, whose text was cut).
    mutating func finish() {
        if reason != .stopString {
            let tail = stream.finish()
            text += tail
            if !tail.isEmpty { onText?(tail) }
        }
    }

    static func logSumExp(_ x: UnsafeMutableBufferPointer<Float>) -> Float {
        var m = -Float.infinity
        for v in x { m = Swift.max(m, v) }
        var s: Double = 0
        for v in x { s += Double(expf(v - m)) }
        return m + Float(Foundation.log(s))
    }
}
