// Per-modality contribution (`sentio recognize --explain`): the clip is run three times, as is, with its audio
// replaced by silence and with its frames blanked, and for each variant we report the greedy answer and the
// probability the model gives to the ORIGINAL answer under that variant's inputs.
//
// - silent audio: a waveform of zeros of the clip's length (its log-mel is the floor value everywhere, the same
//   input the reference builds when a clip has no decodable audio).
// - blanked frames: the 8 sampled frames replaced by black frames (RGB 0,0,0) of the same size, sent through the
//   same preprocessing (resize, x/255, (x-0.5)/0.5: every pixel value -1; in training mode the grey square
//   padding stays). The gate only reads the instruction, so its weights do not change.
// - answer span: the original output's tokens from the first one holding text after "<answer>" (a token such as
//   ">s" that ends the tag and starts the label is included) up to and including the one that completes
//   "</answer>": the label, split over however many tokens, and the closing tag. Without an <answer> tag the span is the whole output, stop token included.
// - its probability under a variant: teacher forcing. The variant's prompt embeddings followed by the original
//   output tokens go through the LLM once; the span's log-probability is the sum over its tokens of log softmax
//   of the logits at the position before each token. Raw model probabilities: no repetition penalty.
import Foundation
import SentioCore
import SentioKernels
import SentioMedia
import SentioModels
import SentioTokenizers

public struct ModalityVariant: Sendable, Codable, Equatable {
    /// "original", "silent_audio" or "blank_frames".
    public var name: String
    public var output: String
    public var answer: String?
    public var label: String?
    public var generatedTokenIDs: [Int32]
    /// log P(original answer span | this variant's inputs), natural log.
    public var answerLogProb: Double
    /// exp(answerLogProb).
    public var answerProbability: Double
    /// answerLogProb minus the original's (0 for the original).
    public var deltaLogProb: Double
    /// True when this variant's greedy label differs from the original's.
    public var answerChanged: Bool

    enum CodingKeys: String, CodingKey {
        case name, output, answer, label
        case generatedTokenIDs = "generated_token_ids", answerLogProb = "answer_logprob", answerProbability = "answer_probability"
        case deltaLogProb = "delta_logprob", answerChanged = "answer_changed"
    }
}

public struct ModalityExplanation: Sendable, Codable, Equatable {
    /// The original output's token range scored in every variant, and its text.
    public var spanStart: Int, spanEnd: Int
    public var spanText: String
    /// original, silent_audio, blank_frames.
    public var variants: [ModalityVariant]
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case variants, seconds
        case spanStart = "span_start", spanEnd = "span_end", spanText = "span_text"
    }
}

extension EmotionRecognizer {
    /// Runs the three variants of a clip (see the file comment).
    public func explain(clip url: URL, instruction: String = OmniModel.defaultInstruction, mode: PromptMode = .inference,
                        maxTokens: Int = 2048) throws -> ModalityExplanation {
        try recognizeExplained(clip: url, instruction: instruction, mode: mode, maxTokens: maxTokens).explanation
    }

    /// The plain recognize result of a clip and its explanation from the same passes: the original variant IS the
    /// plain run (same frames, audio, prompt and greedy decoding), so `--explain` costs two more tower passes and
    /// two more generations, plus the teacher-forced scoring, instead of a whole second recognize.
    public func recognizeExplained(clip url: URL, instruction: String = OmniModel.defaultInstruction, mode: PromptMode = .inference,
                                   maxTokens: Int = 2048, onText: ((String) -> Void)? = nil)
        throws -> (result: OmniResult, warnings: [String], explanation: ModalityExplanation) {
        let t0 = Date()
        let sampled = try VideoDecoder.sampleFrames(url, count: config.numFrames)
        let (wave, warning) = try AudioDecoder.decodeMono16k(url)
        let decodeSeconds = Date().timeIntervalSince(t0)
        let blank = sampled.frames.map { RGBFrame(width: $0.width, height: $0.height, pixels: [UInt8](repeating: 0, count: $0.pixels.count)) }
        let silence = [Float](repeating: 0, count: max(wave.count, 1))
        var (r, ex) = try explainCore(frames: sampled.frames, waveform16k: wave, blankFrames: blank, silentWaveform: silence,
                                      instruction: instruction, mode: mode, maxTokens: maxTokens, onText: onText)
        r.timings.preprocess += decodeSeconds
        ex.seconds = Date().timeIntervalSince(t0)
        return (r, sampled.warnings + (warning.map { [$0] } ?? []), ex)
    }

    /// The explanation from decoded inputs; `blankFrames` / `silentWaveform` are the replacements to use.
    public func explain(frames: [RGBFrame], waveform16k: [Float], blankFrames: [RGBFrame], silentWaveform: [Float],
                        instruction: String = OmniModel.defaultInstruction, mode: PromptMode = .inference,
                        maxTokens: Int = 2048) throws -> ModalityExplanation {
        let t0 = Date()
        var ex = try explainCore(frames: frames, waveform16k: waveform16k, blankFrames: blankFrames, silentWaveform: silentWaveform,
                                 instruction: instruction, mode: mode, maxTokens: maxTokens, onText: nil).1
        ex.seconds = Date().timeIntervalSince(t0)
        return ex
    }

    func explainCore(frames: [RGBFrame], waveform16k: [Float], blankFrames: [RGBFrame], silentWaveform: [Float],
                     instruction: String, mode: PromptMode, maxTokens: Int,
                     onText: ((String) -> Void)?) throws -> (OmniResult, ModalityExplanation) {
        var tm = OmniTimings()
        var t = Date()
        func lap() -> Double { let n = Date(); defer { t = n }; return n.timeIntervalSince(t) }
        let mels = LogMel(mels: config.audio.numMelBins)
        let threads = max(1, pool.threadCount)
        let bertIDs = bertTokenizer.encode(OmniModel.userText(instruction, mode: mode), maxLength: config.bert.maxPositionEmbeddings)
        let pixelsA = try pixels(frames: frames, mode: mode)
        tm.preprocess = lap()
        let melA = mels.compute(waveform16k, threads: threads)
        tm.mel = lap()
        let visA = try model.encodeVideo(pixels: pixelsA, bertIDs: bertIDs, pool: pool)
        tm.siglip = visA.siglipSeconds; tm.projectorBertGate = visA.projectorSeconds
        let audA = try model.encodeAudio(mel: melA, pool: pool)
        tm.whisper = audA.whisperSeconds; tm.audioProjector = audA.projectorSeconds
        _ = lap()
        let ids = model.promptIDs(tokenizer: tokenizer, instruction: instruction, mode: mode)
        let embA = try model.assemble(ids: ids, video: visA.tokens, audio: audA.tokens)
        tm.assemble = lap()
        let genA = try generate(embeddings: embA, maxTokens: maxTokens, onText: onText)
        tm.prefill = genA.prefillSeconds; tm.decode = genA.decodeSeconds
        let (think, answer) = Self.parse(genA.text)
        let result = OmniResult(promptIDs: ids, sequenceLength: embA.count / config.llm.hiddenSize, generatedTokens: genA.tokens,
                                text: genA.text, think: think, answer: answer, gate: visA.gate, stoppedAtEOS: genA.stopped, timings: tm)

        let videoB = try model.encodeVideo(pixels: pixels(frames: blankFrames, mode: mode), bertIDs: bertIDs, pool: pool).tokens
        let audioB = try model.encodeAudio(mel: mels.compute(silentWaveform, threads: threads), pool: pool).tokens
        let inputs = [("original", embA),
                      ("silent_audio", try model.assemble(ids: ids, video: visA.tokens, audio: audioB)),
                      ("blank_frames", try model.assemble(ids: ids, video: videoB, audio: audA.tokens))]
        var gens: [Generated] = [genA]
        for (_, emb) in inputs.dropFirst() { gens.append(try generate(embeddings: emb, maxTokens: maxTokens)) }
        let span = answerSpan(genA.tokens)
        let scored = Array(genA.tokens[..<span.upperBound])
        var variants: [ModalityVariant] = []
        var base = 0.0
        for (i, (name, emb)) in inputs.enumerated() {
            let lp = try tokenLogProbs(embeddings: emb, continuation: scored)
            let s = lp[span].reduce(0, +)
            if i == 0 { base = s }
            let g = gens[i]
            let ans = Self.parse(g.text).answer
            let label = EmotionLabels.label(for: ans)
            variants.append(ModalityVariant(name: name, output: g.text, answer: ans, label: label, generatedTokenIDs: g.tokens,
                                            answerLogProb: s, answerProbability: exp(s), deltaLogProb: s - base,
                                            answerChanged: i > 0 && (label ?? ans) != (variants[0].label ?? variants[0].answer)))
        }
        let spanText = tokenizer.decode(scored[span].filter { !stopTokens.contains($0) }, skipSpecial: true)
        return (result, ModalityExplanation(spanStart: span.lowerBound, spanEnd: span.upperBound, spanText: spanText,
                                            variants: variants, seconds: 0))
    }

    /// The tokens of `generated` that spell the answer (see the file comment).
    public func answerSpan(_ generated: [Int32]) -> Range<Int> {
        var start: Int?
        var openEnd = 0
        for k in 1...max(1, generated.count) where k <= generated.count {
            let text = tokenizer.decode(Array(generated[..<k]), skipSpecial: true)
            if start == nil, let r = text.range(of: "<answer>") {
                openEnd = text.distance(from: text.startIndex, to: r.upperBound)
                // A token that finishes the tag and starts the label (">s") belongs to the span.
                start = text.count > openEnd ? k - 1 : k
                if text.dropFirst(openEnd).contains("</answer>") { return (k - 1)..<k }
            } else if let s = start {
                let tail = text.dropFirst(openEnd)
                if tail.contains("</answer>") { return s..<k }
            }
        }
        if let s = start, s < generated.count { return s..<generated.count }
        return 0..<generated.count
    }

    /// log P(continuation[i] | prompt embeddings, continuation[..<i]) for every i (natural log, raw logits, no
    /// penalty). The prompt is prefilled in chunks of maxRows (Generator.prefill); the continuation goes through in chunks of up to
    /// 32 rows with logits for every row.
    public func tokenLogProbs(embeddings: [Float], continuation: [Int32]) throws -> [Double] {
        let lm = model.llm, h = lm.config.hiddenSize, V = lm.config.vocabSize
        guard embeddings.count % h == 0, embeddings.count > 0 else { throw SentioError(.argument, "R1-Omni: empty or ragged input embeddings") }
        guard !continuation.isEmpty else { return [] }
        let n = embeddings.count / h
        let cache = KVCacheLayout(config: lm.config, dtype: kvDType).makeCache()
        var last = [Float](repeating: 0, count: V)
        try embeddings.withUnsafeBufferPointer { e in
            try last.withUnsafeMutableBufferPointer { lg in
                try Generator.prefill(lm, embeddings: e.baseAddress!, rows: n, cache: cache, logits: lg.baseAddress!, pool: pool)
            }
        }
        func logSoftmax(_ row: UnsafeBufferPointer<Float>, at t: Int32) -> Double {
            var mx = -Double.infinity
            for v in row { mx = max(mx, Double(v)) }
            var s = 0.0
            for v in row { s += Foundation.exp(Double(v) - mx) }
            return Double(row[Int(t)]) - mx - Foundation.log(s)
        }
        var out: [Double] = []
        out.reserveCapacity(continuation.count)
        for t in continuation where t < 0 || Int(t) >= V {
            throw SentioError(.argument, "token id \(t) outside the vocabulary of \(V)")
        }
        out.append(last.withUnsafeBufferPointer { logSoftmax($0, at: continuation[0]) })
        // Rows fed: continuation[0 ..< count-1]; the logits at row j score continuation[j+1].
        let chunk = max(1, min(32, lm.maxRows))
        var j = 0
        var x = [Float](repeating: 0, count: chunk * h)
        var logits = [Float](repeating: 0, count: chunk * V)
        while j < continuation.count - 1 {
            let k = min(chunk, continuation.count - 1 - j)
            try x.withUnsafeMutableBufferPointer { try lm.embed(Array(continuation[j..<(j + k)]), into: $0.baseAddress!) }
            try x.withUnsafeBufferPointer { xb in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try lm.forward(input: xb.baseAddress!, segments: [SequenceSegment(cache: cache, count: k)],
                                   logitRows: .all, logits: lg.baseAddress!, pool: pool)
                }
            }
            logits.withUnsafeBufferPointer { lg in
                for r in 0..<k {
                    out.append(logSoftmax(UnsafeBufferPointer(rebasing: lg[(r * V)..<((r + 1) * V)]), at: continuation[j + r + 1]))
                }
            }
            j += k
        }
        return out
    }
}
