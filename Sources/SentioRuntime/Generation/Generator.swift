// Generator: prompt in, tokens out. Chunked prefill into a KV cache (giving a PromptCache), then
// decode with a sampler, stop tokens and stop strings, streaming text to a callback. Decoding is
// BatchGenerator's loop (a single sequence is a batch of one), so single, batched and R1-Omni
// generation share one implementation.
import Foundation
import SentioCore
import SentioKernels
import SentioModels
import SentioTokenizers

public struct GenerationOptions: Sendable {
    public var maxTokens: Int = 256
    public var sampling: SamplingOptions = .greedy
    public var stopTokens: Set<Int32> = []
    public var stopStrings: [String] = []
    public var kvDType: KVCacheLayout.KVDType = .f16
    /// Whether the repetition penalty also counts the prompt's ids (transformers' generate with input_ids
    /// does; with inputs_embeds, as R1-Omni runs, only generated ids count).
    public var penalizePrompt = true
    /// Record the log-probability of each generated token under the model's raw distribution (softmax
    /// of the logits, before penalty, temperature, top-k/top-p): what a GRPO trainer's ratio needs.
    public var logprobs = false
    public init(maxTokens: Int = 256, sampling: SamplingOptions = .greedy, stopTokens: Set<Int32> = [], stopStrings: [String] = []) {
        self.maxTokens = maxTokens; self.sampling = sampling; self.stopTokens = stopTokens; self.stopStrings = stopStrings
    }
}

public struct GenerationResult: Sendable {
    public enum StopReason: String, Sendable, Codable { case stopToken = "stop_token", stopString = "stop_string", maxTokens = "max_tokens" }
    public var promptTokens: [Int32]
    /// Generated ids (a stop token that ended generation included).
    public var generatedTokens: [Int32]
    public var text: String
    public var stopReason: StopReason
    public var prefillSeconds: Double
    /// From the start of decoding until this sequence finished.
    public var decodeSeconds: Double
    /// log p(token) per generated token (GenerationOptions.logprobs), else empty.
    public var tokenLogprobs: [Float] = []
    public var prefillTokensPerSecond: Double { prefillSeconds > 0 ? Double(promptTokens.count) / prefillSeconds : 0 }
    /// Decode speed over the tokens produced after the first (the first comes from the prefill's logits).
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(generatedTokens.count - 1, 0)) / decodeSeconds : 0 }
}

public final class Generator {
    public let lm: LanguageModel
    public let pool: ThreadPool

    public init(_ lm: LanguageModel, pool: ThreadPool = .shared) {
        self.lm = lm; self.pool = pool
    }

    /// Runs `rows` of input embeddings [n, hidden] through the model into `cache` in chunks of maxRows,
    /// leaving the last row's logits in `logits`.
    public func prefill(embeddings: UnsafePointer<Float>, rows n: Int, cache: KVStore, logits: UnsafeMutablePointer<Float>) throws {
        try Self.prefill(lm.model, embeddings: embeddings, rows: n, cache: cache, logits: logits, pool: pool)
    }

    public static func prefill(_ m: Qwen2Model, embeddings: UnsafePointer<Float>, rows n: Int, cache: KVStore,
                        logits: UnsafeMutablePointer<Float>?, pool: ThreadPool) throws {
        let h = m.config.hiddenSize
        var start = 0
        while start < n {
            let k = min(m.maxRows, n - start)
            let last = start + k == n
            try m.forward(input: embeddings + start * h, segments: [SequenceSegment(cache: cache, count: k)],
                          logitRows: last && logits != nil ? .lastOfEachSegment : .none, logits: last ? logits : nil, pool: pool)
            start += k
        }
    }

    public func prefill(tokens: [Int32], cache: KVStore, logits: UnsafeMutablePointer<Float>) throws {
        let h = lm.config.hiddenSize
        var emb = [Float](repeating: 0, count: tokens.count * h)
        try emb.withUnsafeMutableBufferPointer { try lm.model.embed(tokens, into: $0.baseAddress!) }
        try emb.withUnsafeBufferPointer { try prefill(embeddings: $0.baseAddress!, rows: tokens.count, cache: cache, logits: logits) }
    }

    /// Prefills `prompt` into a fresh cache of `kv`'s type: the PromptCache to fork for continuations,
    /// extend (`extend`), or save.
    public func prefill(prompt: [Int32], kv: KVCacheLayout.KVDType = .f16, modelChecksum: String = "") throws -> PromptCache {
        guard !prompt.isEmpty else { throw SentioError(.argument, "empty prompt") }
        let cache = lm.newCache(dtype: kv)
        var logits = [Float](repeating: 0, count: lm.config.vocabSize)
        try logits.withUnsafeMutableBufferPointer { try prefill(tokens: prompt, cache: cache, logits: $0.baseAddress!) }
        return PromptCache(tokens: prompt, cache: cache, logits: logits, modelChecksum: modelChecksum)
    }

    /// Appends `tokens` to a prompt cache (in place: fork first to keep the original), updating its logits.
    public func extend(_ p: inout PromptCache, with tokens: [Int32]) throws {
        guard !tokens.isEmpty else { return }
        if p.logits.count != lm.config.vocabSize { p.logits = [Float](repeating: 0, count: lm.config.vocabSize) }
        let c = p.cache
        try p.logits.withUnsafeMutableBufferPointer { try prefill(tokens: tokens, cache: c, logits: $0.baseAddress!) }
        if !p.tokens.isEmpty || c.length == tokens.count { p.tokens += tokens }
    }

    /// Generates from `prompt` token ids. `onText` receives text as it becomes complete UTF-8.
    public func generate(prompt: [Int32], options: GenerationOptions, onText: ((String) -> Void)? = nil) throws -> GenerationResult {
        let t0 = Date()
        let p = try prefill(prompt: prompt, kv: options.kvDType)
        let prefillSeconds = Date().timeIntervalSince(t0)
        var r = try BatchGenerator(lm, pool: pool).run(
            [BatchGenerator.Sequence(cache: p.cache, logits: p.logits, prompt: prompt, options: options)],
            onText: onText.map { f in { _, s in f(s) } })[0]
        r.prefillSeconds = prefillSeconds
        return r
    }
}
