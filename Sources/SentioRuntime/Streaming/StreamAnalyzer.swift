// What `watch` runs on each frame and each window. `StreamAnalyzer` splits the work in two: `frameFeatures`
// runs on one frame as soon as it arrives (the result is cached and shared by every window that samples the
// frame), `analyze` runs once per window on the cached features of its frames and the window's audio.
//
// OmniStreamAnalyzer is R1-Omni's split: per frame, SigLIP and the per-frame projector parts
// (VisionProjector.frameParts); per window, the frame-mixing projector part, the gate fusion (the BERT gate
// reads only the instruction, so it is computed once), log-mel of the window's audio padded to 30 s,
// Whisper, the audio projector, then the LLM. The text before the <video> placeholder (system turn and
// the start of the user turn) is prefilled once into a KV cache; each window forks it (copy-on-write) and
// prefills only its own rows: video tokens, the text between, audio tokens and the prompt's tail.
import Foundation
import SentioCore
import SentioKernels
import SentioMedia
import SentioModels
import SentioTokenizers

/// Per-window outputs of an analyzer.
public struct WindowAnalysis: Sendable {
    public var text: String
    public var think: String?
    public var answer: String?
    /// Gate probabilities (video, body, face).
    public var gate: [Float]
    public var generatedTokens: [Int32]
    public var stoppedAtEOS: Bool
    /// Seconds per window stage: "projector", "mel", "whisper", "audio_projector", "assemble", "prefill", "decode".
    public var seconds: [String: Double]
    public init(text: String, think: String?, answer: String?, gate: [Float], generatedTokens: [Int32], stoppedAtEOS: Bool,
                seconds: [String: Double]) {
        self.text = text; self.think = think; self.answer = answer; self.gate = gate
        self.generatedTokens = generatedTokens; self.stoppedAtEOS = stoppedAtEOS; self.seconds = seconds
    }
}

public protocol StreamAnalyzer: AnyObject, Sendable {
    associatedtype Features: Sendable
    /// Frames a window gives the model.
    var framesPerWindow: Int { get }
    /// Model-ready pixels of a decoded frame. Called on the decoding thread.
    func pixels(_ frame: RGBFrame) throws -> [Float]
    /// The per-frame part of the work, with the seconds it took per stage ("siglip", "projector_frame").
    func frameFeatures(pixels: [Float]) throws -> (Features, [String: Double])
    /// The per-window part: features of the window's sampled frames in order, and its 16 kHz mono audio.
    func analyze(frames: [Features], audio16k: [Float]) throws -> WindowAnalysis
}

public final class OmniStreamAnalyzer: StreamAnalyzer, @unchecked Sendable {
    public let recognizer: EmotionRecognizer
    public let instruction: String
    public let mode: PromptMode
    public let maxTokens: Int
    /// Prompt ids (sentinels in place) and the number of them before the video placeholder.
    public let promptIDs: [Int32]
    public let prefixTokens: Int
    public let gate: [Float]
    /// Seconds spent once: BERT + gate, and the prefix prefill.
    public let setupSeconds: [String: Double]
    private let prefixCache: PagedKVCache
    private let logMel: LogMel

    public init(recognizer: EmotionRecognizer, instruction: String = OmniModel.defaultInstruction,
                mode: PromptMode = .inference, maxTokens: Int = 256) throws {
        self.recognizer = recognizer
        self.instruction = instruction
        self.mode = mode
        self.maxTokens = maxTokens
        let m = recognizer.model, pool = recognizer.pool
        var t = Date()
        func lap() -> Double { let n = Date(); defer { t = n }; return n.timeIntervalSince(t) }
        let bertIDs = recognizer.bertTokenizer.encode(OmniModel.userText(instruction, mode: mode),
                                                      maxLength: m.config.bert.maxPositionEmbeddings)
        gate = try m.gate(cls: try m.bert.cls(ids: bertIDs, pool: pool), pool: pool).p
        let gateSeconds = lap()
        let ids = m.promptIDs(tokenizer: recognizer.tokenizer, instruction: instruction, mode: mode)
        promptIDs = ids
        guard let vi = ids.firstIndex(of: OmniModel.videoSentinel),
              ids.filter({ $0 == OmniModel.videoSentinel }).count == 1 else {
            throw SentioError(.argument, "watch: the prompt must hold exactly one <video> placeholder")
        }
        prefixTokens = vi
        let lm = m.llm, h = lm.config.hiddenSize
        prefixCache = PagedKVCache(layout: KVCacheLayout(config: lm.config, dtype: recognizer.kvDType))
        if vi > 0 {
            var rows = [Float](repeating: 0, count: vi * h)
            try rows.withUnsafeMutableBufferPointer { try lm.embed(Array(ids[..<vi]), into: $0.baseAddress!) }
            try Self.prefill(lm, rows: rows, cache: prefixCache, logits: nil, pool: pool)
        }
        setupSeconds = ["bert_gate": gateSeconds, "prefix_prefill": lap()]
        logMel = LogMel(mels: m.config.audio.numMelBins)
    }

    public var framesPerWindow: Int { recognizer.config.numFrames }

    public func pixels(_ frame: RGBFrame) throws -> [Float] {
        ImagePreprocessor.pixelValues(frame, mode: mode == .training ? .training : .inference)
    }

    public func frameFeatures(pixels: [Float]) throws -> (VisionProjector.FrameParts, [String: Double]) {
        let m = recognizer.model, pool = recognizer.pool
        let t0 = Date()
        let f = try m.siglip.forward(pixels: pixels, frames: 1, pool: pool)
        let t1 = Date()
        let parts = try m.projector.frameParts(features: f, pool: pool)
        return (parts, ["siglip": t1.timeIntervalSince(t0), "projector_frame": Date().timeIntervalSince(t1)])
    }

    public func analyze(frames: [VisionProjector.FrameParts], audio16k: [Float]) throws -> WindowAnalysis {
        let m = recognizer.model, pool = recognizer.pool, lm = m.llm, h = lm.config.hiddenSize
        guard frames.count == framesPerWindow else {
            throw SentioError(.argument, "watch: a window needs \(framesPerWindow) frames, got \(frames.count)")
        }
        var s: [String: Double] = [:]
        var t = Date()
        func lap(_ k: String) { let n = Date(); s[k, default: 0] += n.timeIntervalSince(t); t = n }
        let video = try VisionProjector.fuse(try m.projector.branches(frameParts: frames, pool: pool), p: gate)
        lap("projector")
        let mel = logMel.compute(audio16k, threads: max(1, pool.threadCount))
        lap("mel")
        let aud = try m.encodeAudio(mel: mel, pool: pool)
        s["whisper"] = aud.whisperSeconds; s["audio_projector"] = aud.projectorSeconds
        t = Date()
        let all = try m.assemble(ids: promptIDs, video: video, audio: aud.tokens)
        let rows = Array(all[(prefixTokens * h)...])
        lap("assemble")
        let cache = prefixCache.fork()
        var logits = [Float](repeating: 0, count: lm.config.vocabSize)
        try logits.withUnsafeMutableBufferPointer { try Self.prefill(lm, rows: rows, cache: cache, logits: $0.baseAddress!, pool: pool) }
        lap("prefill")
        let g = try decode(cache: cache, logits: &logits)
        lap("decode")
        let (think, answer) = EmotionRecognizer.parse(g.text)
        return WindowAnalysis(text: g.text, think: think, answer: answer, gate: gate, generatedTokens: g.tokens,
                              stoppedAtEOS: g.stopped, seconds: s)
    }

    /// Appends rows [n, H] to `cache` in chunks of maxRows; the last row's logits go to `logits` when given.
    static func prefill(_ lm: Qwen2Model, rows: [Float], cache: PagedKVCache, logits: UnsafeMutablePointer<Float>?,
                        pool: ThreadPool) throws {
        let h = lm.config.hiddenSize, n = rows.count / h
        try rows.withUnsafeBufferPointer { e in
            var start = 0
            while start < n {
                let k = min(lm.maxRows, n - start), last = start + k == n
                let want = last && logits != nil
                try lm.forward(input: e.baseAddress! + start * h, segments: [SequenceSegment(cache: cache, count: k)],
                               logitRows: want ? .lastOfEachSegment : .none, logits: want ? logits : nil, pool: pool)
                start += k
            }
        }
    }

    /// Greedy (the recognizer's sampling options) decoding from the logits of the last prefilled row until a
    /// stop token or maxTokens, as EmotionRecognizer.generate does after its prefill.
    func decode(cache: PagedKVCache, logits: inout [Float]) throws -> (tokens: [Int32], text: String, stopped: Bool) {
        let lm = recognizer.model.llm, h = lm.config.hiddenSize, pool = recognizer.pool
        var sampler = Sampler(recognizer.sampling)
        var out: [Int32] = []
        var stopped = false
        var x = [Float](repeating: 0, count: h)
        while out.count < maxTokens {
            let next = logits.withUnsafeMutableBufferPointer { sampler.sample($0, history: out) }
            out.append(next)
            if recognizer.stopTokens.contains(next) { stopped = true; break }
            if out.count == maxTokens { break }
            try x.withUnsafeMutableBufferPointer { try lm.embed([next], into: $0.baseAddress!) }
            try x.withUnsafeBufferPointer { xb in
                try logits.withUnsafeMutableBufferPointer { lg in
                    try lm.forward(input: xb.baseAddress!, segments: [SequenceSegment(cache: cache, count: 1)],
                                   logitRows: .lastOfEachSegment, logits: lg.baseAddress!, pool: pool)
                }
            }
        }
        let body = out.filter { !recognizer.stopTokens.contains($0) }
        let text = recognizer.tokenizer.decode(body, skipSpecial: true).trimmingCharacters(in: .whitespacesAndNewlines)
        return (out, text, stopped)
    }
}
