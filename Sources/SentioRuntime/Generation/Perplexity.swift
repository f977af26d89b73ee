// Perplexity over a token stream, as llama-perplexity computes it: the text is cut into windows of
// `ctx` tokens, each evaluated from an empty cache, and only the second half of each window is scored
// (every scored token then has at least ctx/2 tokens of context).
//
// Each scored position can be recorded (target id, the top-K log-probabilities) so that two runs,
// e.g. f32 and q4 weights, can be compared: top-1 agreement and KL(base || other), where KL is
// summed over the base's top K plus one "rest of the vocabulary" bucket (exact when K covers the mass).
import Foundation
import SentioCore
import SentioKernels
import SentioModels

public struct PositionRecord: Sendable {
    public var target: Int32
    public var targetLogprob: Float
    public var ids: [Int32]        // top-K ids, most likely first
    public var logprobs: [Float]   // their log-probabilities
}

public struct PerplexityResult: Sendable {
    public var perplexity: Double
    public var meanNLL: Double
    public var scored: Int
    public var windows: Int
    public var records: [PositionRecord]
    /// Against a base run (same text and ctx): mean KL(base || this), share of positions with equal top-1.
    public var klToBase: Double?
    public var top1AgreementWithBase: Double?
    public var seconds: Double
}

public enum Perplexity {
    public static func run(_ lm: LanguageModel, tokens: [Int32], ctx: Int, topK: Int = 32, base: [PositionRecord]? = nil,
                           kv: KVCacheLayout.KVDType = .f16, importance: ImportanceCollector? = nil,
                           pool: ThreadPool = .shared, progress: ((Int, Int) -> Void)? = nil) throws -> PerplexityResult {
        guard ctx >= 4 else { throw SentioError(.argument, "ctx must be at least 4") }
        let windows = tokens.count / ctx
        guard windows > 0 else { throw SentioError(.argument, "the text has \(tokens.count) tokens, fewer than one window of \(ctx)") }
        let V = lm.config.vocabSize, h = lm.config.hiddenSize, m = lm.model
        let t0 = Date()
        var nll = 0.0, scored = 0
        var records: [PositionRecord] = []
        var kl = 0.0, agree = 0
        let chunk = m.maxRows
        var logits = [Float](repeating: 0, count: chunk * V)
        var emb = [Float](repeating: 0, count: chunk * h)
        // With a collector: it is the model's linear hook for the run (restored after), and it gets the
        // output head's input rows (the final-norm hidden states) of every window.
        var headIn = [Float](repeating: 0, count: importance == nil ? 0 : chunk * h)
        let savedHook = m.linearHook
        if let importance { m.linearHook = importance }
        defer { if importance != nil { m.linearHook = savedHook } }
        for w in 0..<windows {
            progress?(w, windows)
            let win = Array(tokens[(w * ctx)..<((w + 1) * ctx)])
            let cache = lm.newCache(dtype: kv)
            var start = 0
            while start < ctx {
                let n = min(chunk, ctx - start)
                try emb.withUnsafeMutableBufferPointer { try m.embed(Array(win[start..<(start + n)]), into: $0.baseAddress!) }
                try emb.withUnsafeBufferPointer { e in
                    try logits.withUnsafeMutableBufferPointer { lg in
                        try headIn.withUnsafeMutableBufferPointer { hi in
                            try m.forward(input: e.baseAddress!, segments: [SequenceSegment(cache: cache, count: n)],
                                          logitRows: .all, logits: lg.baseAddress!, hiddenOut: importance == nil ? nil : hi.baseAddress, pool: pool)
                            importance?.addHeadInput(hi.baseAddress!, rows: n)
                        }
                    }
                }
                logits.withUnsafeMutableBufferPointer { all in
                for r in 0..<n {
                    let pos = start + r              // predicts win[pos + 1]
                    guard pos >= ctx / 2, pos + 1 < ctx else { continue }
                    let row = UnsafeMutableBufferPointer(rebasing: all[(r * V)..<((r + 1) * V)])
                    let lse = logSumExp(row)
                    let target = win[pos + 1]
                    let tlp = row[Int(target)] - lse
                    nll -= Double(tlp)
                    let top = Ops.topK(row.baseAddress!, count: V, k: topK)
                    let rec = PositionRecord(target: target, targetLogprob: tlp, ids: top.map { Int32($0.index) }, logprobs: top.map { $0.value - lse })
                    if let base {
                        let b = base[scored]
                        if b.ids.first == rec.ids.first { agree += 1 }
                        var k = 0.0, pb = 0.0, pq = 0.0
                        for (id, lb) in zip(b.ids, b.logprobs) {
                            let lq = Double(row[Int(id)] - lse)
                            let p = exp(Double(lb))
                            k += p * (Double(lb) - lq)
                            pb += p; pq += exp(lq)
                        }
                        let restB = max(1 - pb, 1e-12), restQ = max(1 - pq, 1e-12)
                        k += restB * log(restB / restQ)
                        kl += k
                    }
                    records.append(rec)
                    scored += 1
                }
                }
                start += n
            }
        }
        progress?(windows, windows)
        if let base, base.count != scored {
            throw SentioError(.argument, "the base run scored \(base.count) positions, this one \(scored): use the same text and --ctx")
        }
        let mean = nll / Double(max(scored, 1))
        return PerplexityResult(perplexity: exp(mean), meanNLL: mean, scored: scored, windows: windows, records: records,
                                klToBase: base == nil ? nil : kl / Double(scored),
                                top1AgreementWithBase: base == nil ? nil : Double(agree) / Double(scored),
                                seconds: Date().timeIntervalSince(t0))
    }

    static func logSumExp(_ x: UnsafeMutableBufferPointer<Float>) -> Float {
        var mx = -Float.infinity
        for v in x where v > mx { mx = v }
        var s: Double = 0
        for v in x { s += Double(expf(v - mx)) }
        return mx + Float(log(s))
    }

    // MARK: record files ("SPPL" magic, version 1, K, count, then per position: target, K ids, K log-probs)

    public static func write(_ records: [PositionRecord], to url: URL) throws {
        let k = records.first?.ids.count ?? 0
        var d = Data("SPPL".utf8)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        put(UInt32(1)); put(UInt32(k)); put(UInt64(records.count))
        for r in records {
            put(r.target); put(r.targetLogprob.bitPattern)
            for i in 0..<k { put(i < r.ids.count ? r.ids[i] : -1) }
            for i in 0..<k { put((i < r.logprobs.count ? r.logprobs[i] : -Float.infinity).bitPattern) }
        }
        try AtomicFile.write(d, to: url)
    }

    public static func read(_ url: URL) throws -> [PositionRecord] {
        let d = try Data(contentsOf: url)
        guard d.count >= 20, d.prefix(4) == Data("SPPL".utf8) else { throw SentioError(.format, file: url.path, "not a Sentio perplexity record file") }
        func u32(_ o: Int) -> UInt32 { d.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: o, as: UInt32.self) } }
        guard u32(4) == 1 else { throw SentioError(.unsupported, file: url.path, "record file version \(u32(4))") }
        let k = Int(u32(8))
        let n = d.withUnsafeBytes { Int(clamping: $0.loadUnaligned(fromByteOffset: 12, as: UInt64.self)) }
        let per = 8 + 8 * k
        guard k <= 1 << 16, n >= 0, n <= (d.count - 20) / max(per, 1), d.count == 20 + n * per else {
            throw SentioError(.corrupt, file: url.path, "record count \(n) x \(k) does not match the file size \(d.count)")
        }
        var out: [PositionRecord] = []
        out.reserveCapacity(n)
        var o = 20
        for _ in 0..<n {
            let t = Int32(bitPattern: u32(o)); o += 4
            let tl = Float(bitPattern: u32(o)); o += 4
            var ids: [Int32] = [], lps: [Float] = []
            for _ in 0..<k { ids.append(Int32(bitPattern: u32(o))); o += 4 }
            for _ in 0..<k { lps.append(Float(bitPattern: u32(o))); o += 4 }
            out.append(PositionRecord(target: t, targetLogprob: tl, ids: ids, logprobs: lps))
        }
        return out
    }
}
