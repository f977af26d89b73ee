// HumanOmniSchema: every tensor of an R1-Omni / HumanOmni-0.5B checkpoint (HumanOmniQwen2ForCausalLM in
// github.com/HumanMLLM/R1-Omni, humanomni/model/), in one place, for the converter and the loader:
//   Qwen2 LLM (tied head)            model.embed_tokens, model.layers.N.*, model.norm
//   SigLIP up to the selected layer  model.vision_tower.vision_tower.vision_model.*
//   Whisper encoder                  model.audio_tower.audio_tower.encoder.*
//   BERT encoder + gate              model.bert_model.*, model.bert_gate.{0,2}.*
//   all_in_one_small projector       model.mm_projector.*
//   audio projector (mlp2x_gelu)     model.audio_projector.{0,2}.*
// and the tensors a checkpoint carries but the model never reads (SigLIP post_layernorm / head and the
// layers after the selected one, Whisper's classification projector / classifier, BERT's pooler).
//
// HumanOmniConfig gathers the sizes: config.json (the Qwen2 keys plus mm_* keys) and the three tower
// configs, which a .sentio file embeds as vision_config.json, audio_config.json and bert_config.json.
import Foundation
import SentioCore

public struct HumanOmniConfig: Sendable, Equatable {
    public var llm: Qwen2Config
    public var vision: SigLIPConfig
    public var audio: WhisperEncoderConfig
    public var bert: BertConfig
    public var projector: VisionProjectorConfig
    /// mm_vision_select_layer (-2: output of the second-to-last SigLIP layer).
    public var selectLayer: Int
    /// Frames per clip (num_frames, 8).
    public var numFrames: Int
    /// mm_use_x_start_end: `<video>` is written `<vi_start><video><vi_end>` (and likewise for audio).
    public var useStartEnd: Bool
    /// Width of bert_gate's hidden layer (the reference hard-codes 3584).
    public var gateWidth: Int

    /// Embedded file names of the tower configs and the BERT vocabulary inside a .sentio file.
    public static let visionConfigFile = "vision_config.json"
    public static let audioConfigFile = "audio_config.json"
    public static let bertConfigFile = "bert_config.json"
    public static let bertVocabFile = "bert_vocab.txt"

    public init(llm: Qwen2Config, vision: SigLIPConfig, audio: WhisperEncoderConfig, bert: BertConfig,
                selectLayer: Int = -2, numFrames: Int = 8, useStartEnd: Bool = true, gateWidth: Int = BertGateSchema.referenceWidth) {
        self.llm = llm; self.vision = vision; self.audio = audio; self.bert = bert
        self.projector = VisionProjectorConfig(inputSize: vision.hiddenSize, hiddenSize: llm.hiddenSize)
        self.selectLayer = selectLayer; self.numFrames = numFrames; self.useStartEnd = useStartEnd; self.gateWidth = gateWidth
    }

    /// Visual tokens per clip (frames x (grid/2)^2: 8 x 49 = 392 for 224 / 16).
    public var videoTokens: Int { numFrames * ((vision.gridSize + 1) / 2) * ((vision.gridSize + 1) / 2) }
    /// Audio tokens per clip (encoder positions / 3: 500).
    public var audioTokens: Int { audio.maxSourcePositions / 3 }

    /// Parses config.json and the tower configs (each nil: the real tower's preset). Checks that the
    /// sizes fit together (mm_hidden_size = SigLIP width, audio_hidden_size = Whisper width) and that the
    /// projector types are the ones implemented.
    public static func parse(configJSON: String, vision: String?, audio: String?, bert: String?, source: String) throws -> HumanOmniConfig {
        func bad(_ m: String) -> SentioError { SentioError(.model, file: source, "HumanOmni config: \(m)") }
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(configJSON.utf8))) as? [String: Any] else {
            throw bad("config.json is not a JSON object")
        }
        let llm = try Qwen2Config.parse(configJSON, source: source)
        let v = try vision.map { try SigLIPConfig.parse(try towerObject($0, nested: "vision_config", source: source), source: source + " (vision tower)") }
            ?? .siglipBasePatch16_224
        let a = try audio.map { try WhisperEncoderConfig.parse($0, source: source + " (audio tower)") } ?? .whisperLargeV3
        let b = try bert.map { try BertConfig.parse($0, source: source + " (BERT)") } ?? .bertBaseUncased
        if let t = obj["mm_projector_type"] as? String, t != "all_in_one_small" {
            throw bad("mm_projector_type '\(t)' is not supported (all_in_one_small)")
        }
        if let t = obj["mm_audio_projector_type"] as? String, t != "mlp2x_gelu" {
            throw bad("mm_audio_projector_type '\(t)' is not supported (mlp2x_gelu)")
        }
        if let m = obj["mm_hidden_size"] as? Int, m != v.hiddenSize {
            throw bad("mm_hidden_size \(m) differs from the vision tower's hidden_size \(v.hiddenSize)")
        }
        if let m = obj["audio_hidden_size"] as? Int, m != a.dModel {
            throw bad("audio_hidden_size \(m) differs from the audio tower's d_model \(a.dModel)")
        }
        let frames = obj["num_frames"] as? Int ?? 8
        guard (1...1024).contains(frames) else { throw bad("num_frames \(frames) is out of range") }
        let sel = obj["mm_vision_select_layer"] as? Int ?? -2
        guard sel >= -v.numHiddenLayers, sel <= v.numHiddenLayers, sel != 0 else {
            throw bad("mm_vision_select_layer \(sel) does not name a SigLIP layer (\(v.numHiddenLayers) layers)")
        }
        let cfg = HumanOmniConfig(llm: llm, vision: v, audio: a, bert: b, selectLayer: sel, numFrames: frames,
                                  useStartEnd: obj["mm_use_x_start_end"] as? Bool ?? true)
        try cfg.projector.validate(source: source)
        return cfg
    }

    /// The configuration from config.json and a .sentio file's embedded tower configs (absent ones: presets).
    public static func parse(configJSON: String, files: [String: Data], source: String) throws -> HumanOmniConfig {
        func text(_ k: String) -> String? { files[k].map { String(decoding: $0, as: UTF8.self) } }
        return try parse(configJSON: configJSON, vision: text(visionConfigFile), audio: text(audioConfigFile),
                         bert: text(bertConfigFile), source: source)
    }

    /// A tower config.json; when it is a full model config (SiglipConfig) its `nested` sub-config is used,
    /// as SiglipVisionModel.from_pretrained does.
    static func towerObject(_ json: String, nested: String, source: String) throws -> String {
        guard let obj = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else {
            throw SentioError(.model, file: source, "tower config is not a JSON object")
        }
        if let sub = obj[nested] as? [String: Any] {
            return String(decoding: try JSONSerialization.data(withJSONObject: sub, options: [.sortedKeys]), as: UTF8.self)
        }
        return json
    }
}

public enum HumanOmniSchema {
    public static let visionPrefix = SigLIPSchema.humanOmniPrefix
    public static let audioPrefix = WhisperSchema.r1OmniPrefix
    public static let bertPrefix = BertSchema.humanOmniPrefix
    public static let gatePrefix = BertGateSchema.humanOmniPrefix
    public static let projectorPrefix = VisionProjectorSchema.humanOmniPrefix
    public static let audioProjectorPrefix = AudioProjectorSchema.r1OmniPrefix

    /// The parts of the model, for per-component reports (parameters and bytes).
    public enum Component: String, CaseIterable, Sendable {
        case llm, vision, audio, bert, gate, visionProjector = "vision_projector", audioProjector = "audio_projector"
    }

    /// Which component a tensor name belongs to (nil: not an R1-Omni tensor).
    public static func component(of name: String) -> Component? {
        if name.hasPrefix(visionPrefix) || name.hasPrefix("model.vision_tower.") { return .vision }
        if name.hasPrefix("model.audio_tower.") { return .audio }
        if name.hasPrefix(bertPrefix) { return .bert }
        if name.hasPrefix(gatePrefix) { return .gate }
        if name.hasPrefix(projectorPrefix) { return .visionProjector }
        if name.hasPrefix(audioProjectorPrefix) { return .audioProjector }
        if name.hasPrefix("model.") || name.hasPrefix("lm_head.") { return .llm }
        return nil
    }

    /// Every tensor the model reads, per component.
    public static func tensors(_ c: HumanOmniConfig, component: Component) -> [TensorSpec] {
        switch component {
        case .llm: return Qwen2Schema.tensors(c.llm)
        case .vision: return SigLIPSchema.tensors(c.vision, prefix: visionPrefix, selectLayer: c.selectLayer)
        case .audio: return WhisperSchema.tensors(c.audio, prefix: audioPrefix)
        case .bert: return BertSchema.tensors(c.bert, prefix: bertPrefix)
        case .gate: return BertGateSchema.tensors(bertHidden: c.bert.hiddenSize, width: c.gateWidth, prefix: gatePrefix)
        case .visionProjector: return VisionProjectorSchema.tensors(c.projector, prefix: projectorPrefix)
        case .audioProjector: return AudioProjectorSchema.tensors(inputDim: c.audio.dModel, hidden: c.llm.hiddenSize, prefix: audioProjectorPrefix)
        }
    }

    /// Every tensor the model reads (the LLM first, then the towers).
    public static func tensors(_ c: HumanOmniConfig) -> [TensorSpec] {
        Component.allCases.flatMap { tensors(c, component: $0) }
    }

    /// Name prefixes of tensors present in R1-Omni checkpoints that the model never reads.
    public static func unusedPrefixes(_ c: HumanOmniConfig) -> [String] {
        SigLIPSchema.unusedPrefixes(c.vision, prefix: visionPrefix, selectLayer: c.selectLayer)
            + WhisperSchema.unusedPrefixes() + BertSchema.unusedPrefixes(prefix: bertPrefix)
    }

    /// True when `name` is one of the known-unused tensors.
    public static func isKnownUnused(_ name: String, _ c: HumanOmniConfig) -> Bool {
        unusedPrefixes(c).contains { name.hasPrefix($0) }
    }
}
