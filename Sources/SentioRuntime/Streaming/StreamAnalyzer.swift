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
    /// Seconds spent once: BERT + gate. The prompt text before the video is prefilled once by the
    /// recognizer's prefix cache (EmotionRecognizer.reusePrefix) and forked for every window.
    public let setupSeconds: [String: Double]
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
        setupSeconds = ["bert_gate": gateSeconds]
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
        let m = recognizer.model, pool = recognizer.pool
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
        lap("assemble")
        // The same generation as `recognize` (prefix fork, greedy or the recognizer's sampling options).
        let g = try recognizer.generate(embeddings: all, promptIDs: promptIDs, maxTokens: maxTokens)
        s["prefill"] = g.prefillSeconds; s["decode"] = g.decodeSeconds
        let (think, answer) = EmotionRecognizer.parse(g.text)
        return WindowAnalysis(text: g.text, think: think, answer: answer, gate: gate, generatedTokens: g.tokens,
                              stoppedAtEOS: g.stopped, seconds: s)
    }
}
