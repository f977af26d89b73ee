// WhisperSchema: tensor names of the Whisper encoder (transformers' WhisperEncoder module tree) under a
// checkpoint prefix: R1-Omni `model.audio_tower.audio_tower.encoder.`, a plain HF Whisper `model.encoder.`.
//   conv1.weight [d, mels, 3] conv1.bias [d]    conv2.weight [d, d, 3] conv2.bias [d]
//   embed_positions.weight [1500, d] (sinusoids, stored)
//   layers.N.self_attn.{q,v,out}_proj.{weight [d, d], bias [d]}, layers.N.self_attn.k_proj.weight (no bias)
//   layers.N.self_attn_layer_norm.{weight,bias}, layers.N.fc1 [ffn, d] (+bias), layers.N.fc2 [d, ffn] (+bias),
//   layers.N.final_layer_norm.{weight,bias}, layer_norm.{weight,bias}
import SentioCore

public enum WhisperSchema {
    /// R1-Omni / HumanOmni's encoder prefix.
    public static let r1OmniPrefix = "model.audio_tower.audio_tower.encoder."
    /// A Hugging Face WhisperModel / WhisperForConditionalGeneration encoder.
    public static let hfPrefix = "model.encoder."

    public static func conv1Weight(_ p: String) -> String { p + "conv1.weight" }
    public static func conv1Bias(_ p: String) -> String { p + "conv1.bias" }
    public static func conv2Weight(_ p: String) -> String { p + "conv2.weight" }
    public static func conv2Bias(_ p: String) -> String { p + "conv2.bias" }
    public static func positions(_ p: String) -> String { p + "embed_positions.weight" }
    public static func finalNorm(_ p: String, _ part: String) -> String { p + "layer_norm." + part }
    public static func layer(_ p: String, _ i: Int) -> String { p + "layers.\(i)." }

    /// Every tensor the encoder needs, with its shape and role. q/k/out/fc1/fc2 are `encoderLinear` (q8 stores them
    /// q8r for the int8 tiles); v_proj stays `linear` (Q8_0 at q8): on real Whisper-base weights int8 activations
    /// in v_proj alone moved the encoder output by 3.9 % rms, more than the other five together (docs/BENCHMARKS.md).
    public static func tensors(_ c: WhisperEncoderConfig, prefix p: String) -> [TensorSpec] {
        let d = c.dModel, f = c.encoderFfnDim
        var out = [
            TensorSpec(conv1Weight(p), [d, c.numMelBins, 3], .conv), TensorSpec(conv1Bias(p), [d], .bias),
            TensorSpec(conv2Weight(p), [d, d, 3], .conv), TensorSpec(conv2Bias(p), [d], .bias),
            TensorSpec(positions(p), [c.maxSourcePositions, d], .position),
        ]
        for i in 0..<c.encoderLayers {
            let l = layer(p, i)
            out += [
                TensorSpec(l + "self_attn_layer_norm.weight", [d], .norm), TensorSpec(l + "self_attn_layer_norm.bias", [d], .norm),
                TensorSpec(l + "self_attn.q_proj.weight", [d, d], .encoderLinear), TensorSpec(l + "self_attn.q_proj.bias", [d], .bias),
                TensorSpec(l + "self_attn.k_proj.weight", [d, d], .encoderLinear),
                TensorSpec(l + "self_attn.v_proj.weight", [d, d], .linear), TensorSpec(l + "self_attn.v_proj.bias", [d], .bias),
                TensorSpec(l + "self_attn.out_proj.weight", [d, d], .encoderLinear), TensorSpec(l + "self_attn.out_proj.bias", [d], .bias),
                TensorSpec(l + "final_layer_norm.weight", [d], .norm), TensorSpec(l + "final_layer_norm.bias", [d], .norm),
                TensorSpec(l + "fc1.weight", [f, d], .encoderLinear), TensorSpec(l + "fc1.bias", [f], .bias),
                TensorSpec(l + "fc2.weight", [d, f], .encoderLinear), TensorSpec(l + "fc2.bias", [d], .bias),
            ]
        }
        out += [TensorSpec(finalNorm(p, "weight"), [d], .norm), TensorSpec(finalNorm(p, "bias"), [d], .norm)]
        return out
    }

    /// Tensor-name prefixes present in an R1-Omni checkpoint beside the encoder but never used: the
    /// WhisperForAudioClassification head (`projector`, `classifier`). `towerPrefix` is the encoder prefix
    /// without its trailing `encoder.`.
    public static func unusedPrefixes(towerPrefix: String = "model.audio_tower.audio_tower.") -> [String] {
        [towerPrefix + "projector.", towerPrefix + "classifier."]
    }
}
