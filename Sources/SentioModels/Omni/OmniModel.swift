// OmniModel: R1-Omni / HumanOmni-0.5B assembled from its components (HumanOmniQwen2ForCausalLM in
// github.com/HumanMLLM/R1-Omni, humanomni/model/humanomni_arch.py: encode_images_or_videos,
// prepare_inputs_labels_for_multimodal; humanomni/__init__.py: mm_infer; the GRPO prompt of
// src/r1-v/src/open_r1/trainer/humanOmni_grpo_trainer.py), R1-OMNI-SPEC sections 3-7:
//
//   pixels [F, 3, 224, 224] -> SigLIP (layer select) [F*196, Cv]
//        -> all_in_one_small branches video/body/face, each [F*49, H]
//   instruction -> WordPiece ids -> BERT [CLS] [Cb] -> bert_gate -> p [3]
//        fused video tokens = p0*video + p1*body + p2*face                      [392, H]
//   log-mel [128, 3000] -> Whisper encoder [1500, Ca] -> avg-pool 3 [500, Ca] -> audio projector [500, H]
//   prompt -> split at <video> (-201) / <audio> (-202), chunks tokenized separately
//   embeddings: text | 392 video rows | text | 500 audio rows | text  -> Qwen2 (1-D positions)
//
// Every component holds views into one WeightSource, so the same code runs f32, q8 and q4 files.
import Foundation
import SentioCore
import SentioKernels
import SentioTokenizers

/// Which prompt R1-Omni is given.
public enum PromptMode: String, Sendable, CaseIterable, Codable {
    /// mm_infer's prompt: Qwen2 chat template with its default system prompt, user content
    /// `<video>\n<audio>\n` + instruction (the markers then written `<vi_start><video><vi_end>` etc.).
    case inference
    /// The GRPO trainer's prompt (spec section 7): the user turn starts with the Qwen2-VL tokens
    /// `<|vision_start|><|video_pad|><|vision_end|>`, then the markers, then the question, a newline and the
    /// format sentence. Frames are padded to a square (FramePreprocessMode.training) by the caller.
    case training
}

public final class OmniModel: @unchecked Sendable {
    public static let videoSentinel: Int32 = -201
    public static let audioSentinel: Int32 = -202
    /// The instruction R1-Omni's inference.py uses (two spaces after the question mark).
    public static let defaultInstruction = "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters is the most obvious to you?  Output the thinking process in <think> </think> and final emotion in <answer> </answer> tags."
    /// The question and format sentence of the GRPO training prompt.
    public static let defaultQuestion = "As an emotional recognition expert; throughout the video, which emotion conveyed by the characters is the most obvious to you?"
    public static let formatSentence = "Output the thinking process in <think> </think> and final emotion in <answer> </answer> tags."

    public let config: HumanOmniConfig
    public let llm: Qwen2Model
    public let siglip: SigLIPEncoder
    public let projector: VisionProjector
    public let bert: BertEncoder
    public let gate: BertGate
    public let audio: AudioPath
    public let source: WeightSource

    public init(config: HumanOmniConfig, source: WeightSource, maxRows: Int = 512) throws {
        self.config = config
        self.source = source
        llm = try Qwen2Model(config: config.llm, source: source, maxRows: maxRows)
        siglip = try SigLIPEncoder(config: config.vision, source: source, prefix: HumanOmniSchema.visionPrefix,
                                   selectLayer: config.selectLayer)
        projector = try VisionProjector(config: config.projector, source: source, prefix: HumanOmniSchema.projectorPrefix)
        bert = try BertEncoder(config: config.bert, source: source, prefix: HumanOmniSchema.bertPrefix)
        gate = try BertGate(bertHidden: config.bert.hiddenSize, source: source, prefix: HumanOmniSchema.gatePrefix,
                            width: config.gateWidth)
        audio = try AudioPath(whisper: config.audio, hidden: config.llm.hiddenSize, source: source,
                              encoderPrefix: HumanOmniSchema.audioPrefix, projectorPrefix: HumanOmniSchema.audioProjectorPrefix)
    }

    // MARK: - Towers

    public struct VisualOutput: Sendable {
        /// Fused visual tokens [videoTokens, H].
        public var tokens: [Float]
        /// Gate logits and probabilities (video, body, face).
        public var gateLogits: [Float], gate: [Float]
        /// Seconds in SigLIP, and in the projector branches + BERT + gate + fusion.
        public var siglipSeconds: Double, projectorSeconds: Double
    }

    /// Fused visual tokens of pixels [frames, 3, S, S] (normalized to [-1, 1]) gated by the BERT ids of the instruction.
    public func encodeVideo(pixels: [Float], bertIDs: [Int32], pool: ThreadPool = .shared) throws -> VisualOutput {
        let per = config.vision.numChannels * config.vision.imageSize * config.vision.imageSize
        guard per > 0, pixels.count % per == 0, pixels.count / per == config.numFrames else {
            throw SentioError(.argument, "R1-Omni: \(pixels.count) pixel values are not \(config.numFrames) frames of "
                              + "\(config.vision.numChannels)x\(config.vision.imageSize)x\(config.vision.imageSize)")
        }
        let t0 = Date()
        let features = try siglip.forward(pixels: pixels, frames: config.numFrames, pool: pool)
        let t1 = Date()
        let branches = try projector.branches(features: features, frames: config.numFrames, pool: pool)
        let g = try gate(cls: try bert.cls(ids: bertIDs, pool: pool), pool: pool)
        let fused = try VisionProjector.fuse(branches, p: g.p)
        return VisualOutput(tokens: fused, gateLogits: g.logits, gate: g.p, siglipSeconds: t1.timeIntervalSince(t0),
                            projectorSeconds: Date().timeIntervalSince(t1))
    }

    public struct AudioOutput: Sendable {
        /// Audio tokens [audioTokens, H].
        public var tokens: [Float]
        public var whisperSeconds: Double, projectorSeconds: Double
    }

    /// Audio tokens of a log-mel [mels, 3000].
    public func encodeAudio(mel: [Float], pool: ThreadPool = .shared) throws -> AudioOutput {
        let t0 = Date()
        let enc = try audio.encoder.encode(mel: mel, pool: pool)
        let t1 = Date()
        let pooled = AudioProjector.pool3(enc, channels: config.audio.dModel)
        let tokens = try audio.projector.project(pooled, pool: pool)
        return AudioOutput(tokens: tokens, whisperSeconds: t1.timeIntervalSince(t0), projectorSeconds: Date().timeIntervalSince(t1))
    }

    // MARK: - Prompt

    /// The user text after the modality markers: the instruction (inference), or question + newline +
    /// format sentence (training). This is also what BERT reads for the gate.
    public static func userText(_ instruction: String, mode: PromptMode) -> String {
        switch mode {
        case .inference: return instruction
        case .training: return instruction + "\n" + formatSentence
        }
    }

    /// The rendered prompt string, with `<video>` / `<audio>` placeholders (wrapped in their start/end
    /// markers when mm_use_x_start_end is set) still in it.
    public func promptText(instruction: String, mode: PromptMode) -> String {
        let content = "<video>\n<audio>\n" + Self.userText(instruction, mode: mode)
        let parts: [ChatMessage.Part] = mode == .training ? [.video, .text(content)] : [.text(content)]
        var s = ChatMLTemplate.render([ChatMessage(role: "user", parts: parts)])
        if config.useStartEnd {
            s = s.replacingOccurrences(of: "<video>", with: "<vi_start><video><vi_end>")
                 .replacingOccurrences(of: "<audio>", with: "<au_start><audio><au_end>")
        }
        return s
    }

    /// Prompt ids with the sentinels -201 (video) and -202 (audio); text between them tokenized chunk by chunk.
    public func promptIDs(tokenizer: BPETokenizer, instruction: String, mode: PromptMode) -> [Int32] {
        tokenizer.tokenizeMultimodal(promptText(instruction: instruction, mode: mode),
                                     sentinels: ["<video>": Self.videoSentinel, "<audio>": Self.audioSentinel])
    }

    /// Rows of the spliced sequence for these ids.
    public func sequenceLength(_ ids: [Int32]) -> Int {
        ids.reduce(0) { $0 + ($1 == Self.videoSentinel ? config.videoTokens : $1 == Self.audioSentinel ? config.audioTokens : 1) }
    }

    /// The LLM input [sequenceLength, H]: text rows from embed_tokens, each sentinel replaced by its token rows.
    public func assemble(ids: [Int32], video: [Float], audio: [Float]) throws -> [Float] {
        let h = config.llm.hiddenSize
        guard video.count == config.videoTokens * h, audio.count == config.audioTokens * h else {
            throw SentioError(.argument, "R1-Omni: video/audio tokens have \(video.count)/\(audio.count) values, expected "
                              + "\(config.videoTokens)x\(h) / \(config.audioTokens)x\(h)")
        }
        guard ids.filter({ $0 == Self.videoSentinel }).count <= 1, ids.filter({ $0 == Self.audioSentinel }).count <= 1 else {
            throw SentioError(.argument, "R1-Omni: the prompt holds more than one <video> or <audio> placeholder")
        }
        var out = [Float](repeating: 0, count: sequenceLength(ids) * h)
        try out.withUnsafeMutableBufferPointer { o in
            var row = 0, i = 0
            while i < ids.count {
                if ids[i] == Self.videoSentinel || ids[i] == Self.audioSentinel {
                    let src = ids[i] == Self.videoSentinel ? video : audio
                    src.withUnsafeBufferPointer { s in (o.baseAddress! + row * h).update(from: s.baseAddress!, count: s.count) }
                    row += src.count / h
                    i += 1
                } else {
                    var j = i
                    while j < ids.count, ids[j] >= 0 { j += 1 }
                    guard j > i else { throw SentioError(.argument, "R1-Omni: unknown sentinel id \(ids[i]) in the prompt") }
                    try llm.embed(Array(ids[i..<j]), into: o.baseAddress! + row * h)
                    row += j - i
                    i = j
                }
            }
        }
        return out
    }
}
