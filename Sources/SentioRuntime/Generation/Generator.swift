// Generator: prompt in, tokens out, for one sequence: chunked prefill into a KV cache, then
// token-by-token decode with a sampler, stop tokens and stop strings, streaming text to a callback.
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
    public init(maxTokens: Int = 256, sampling: SamplingOptions = .greedy, stopTokens: Set<Int32> = [], stopStrings: [String] = []) {
        self.maxTokens = maxTokens; self.sampling = sampling; self.stopTokens = stopTokens; self.stopStrings = stopStrings
    }
}

public struct GenerationResult: Sendable {
    public enum StopReason: String, Sendable, Codable { case stopToken = "stop_token", stopString = "stop_string", maxTokens = "max_tokens" }
    public var promptTokens: [Int32]
    public var generatedTokens: [Int32]
    public var text: String
    public var stopReason: StopReason
    public var prefillSeconds: Double
    public var decodeSeconds: Double
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
        let m = lm.model, h = m.config.hiddenSize
        var start = 0
        while start < n {
            let k = min(m.maxRows, n - start)
            let last = start + k == n
            try m.forward(input: embeddings + start * h, segments: [SequenceSegment(cache: cache, count: k)],
                          logitRows: last ? .lastOfEachSegment : .none, logits: last ? logits : nil, pool: pool)
            start += k
        }
    }

    public func prefill(tokens: [Int32], cache: KVStore, logits: UnsafeMutablePointer<Float>) throws {
        let h = lm.config.hiddenSize
        var emb = [Float](repeating: 0, count: tokens.count * h)
        try emb.withUnsafeMutableBufferPointer { try lm.model.embed(tokens, into: $0.baseAddress!) }
        try emb.withUnsafeBufferPointer { try prefill(embeddings: $0.baseAddress!, rows: tokens.count, cache: cache, logits: logits) }
    }

    /// Generates from `prompt` token ids. `onText` receives text as it becomes complete UTF-8.
    public func generate(prompt: [Int32], options: GenerationOptions, onText: ((String) -> Void)? = nil) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw SentioError(.argument, "empty prompt") }
        let V = lm.config.vocabSize, h = lm.config.hiddenSize
        let cache = lm.newCache(dtype: options.kvDType)
        var logits = [Float](repeating: 0, count: V)
        let t0 = Date()
        try logits.withUnsafeMutableBufferPointer { try prefill(tokens: prompt, cache: cache, logits: $0.baseAddress!) }
        let t1 = Date()
        var sampler = Sampler(options.sampling)
        var stream = StreamingDecoder(tokenizer: lm.tokenizer, skipSpecial: true)
        var history = prompt
        var out: [Int32] = []
        var text = ""
        var reason = GenerationResult.StopReason.maxTokens
        var x = [Float](repeating: 0, count: h)
        while out.count < options.maxTokens {
            let next = logits.withUnsafeMutableBufferPointer { sampler.sample($0, history: history) }
            out.append(next); history.append(next)
            if options.stopTokens.contains(next) { reason = .stopToken; break }
            let piece = stream.append(next)
            text += piece
            if !piece.isEmpty { onText?(piece) }
            if let s = options.stopStrings.first(where: { text.contains($0) }) {
                text = String(text[..<text.range(of: s)!.lowerBound])
                reason = .stopString
                break
            }
            if out.count == options.maxTokens { break }
            try x.withUnsafeMutableBufferPointer { try lm.model.embed([next], into: $0.baseAddress!) }
            try x.withUnsafeBufferPointer { xb in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try lm.model.forward(input: xb.baseAddress!, segments: [SequenceSegment(cache: cache, count: 1)],
                                         logitRows: .lastOfEachSegment, logits: lg.baseAddress!, pool: pool)
                }
            }
        }
        if reason == .maxTokens || reason == .stopToken {
            let tail = stream.finish()
            text += tail
            if !tail.isEmpty { onText?(tail) }
        }
        let t2 = Date()
        return GenerationResult(promptTokens: prompt, generatedTokens: out, text: text, stopReason: reason,
                                prefillSeconds: t1.timeIntervalSince(t0), decodeSeconds: t2.timeIntervalSince(t1))
    }
}
