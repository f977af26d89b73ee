// SigLIPSchema: tensor names of the SigLIP vision tower (transformers' SiglipVisionModel layout) under a
// checkpoint prefix. In HumanOmni / R1-Omni checkpoints the prefix is
// "model.vision_tower.vision_tower.vision_model.". Only the layers up to the selected one are needed;
// `post_layernorm`, the attention-pooling `head` and the layers after the selected one are unused.
import SentioCore

public enum SigLIPSchema {
    public static let humanOmniPrefix = "model.vision_tower.vision_tower.vision_model."

    public static func patchWeight(_ p: String) -> String { p + "embeddings.patch_embedding.weight" }
    public static func patchBias(_ p: String) -> String { p + "embeddings.patch_embedding.bias" }
    public static func positions(_ p: String) -> String { p + "embeddings.position_embedding.weight" }
    public static func layer(_ p: String, _ i: Int) -> String { p + "encoder.layers.\(i)." }

    /// Layers 0..<count are run to produce the features of `selectLayer` (negative: from the end, as
    /// HumanOmni's mm_vision_select_layer; hidden_states[k] is the output of layer k-1, hidden_states[0] the embeddings).
    public static func layersNeeded(_ c: SigLIPConfig, selectLayer: Int) -> Int {
        let k = selectLayer < 0 ? c.numHiddenLayers + 1 + selectLayer : selectLayer
        return max(0, min(c.numHiddenLayers, k))
    }

    /// Every tensor the encoder reads (shapes in PyTorch layout).
    public static func tensors(_ c: SigLIPConfig, prefix p: String = humanOmniPrefix, selectLayer: Int = -2) -> [TensorSpec] {
        let h = c.hiddenSize, f = c.intermediateSize, ps = c.patchSize
        var out = [TensorSpec(patchWeight(p), [h, c.numChannels, ps, ps], .conv),
                   TensorSpec(patchBias(p), [h], .bias),
                   TensorSpec(positions(p), [c.numPatches, h], .position)]
        for i in 0..<layersNeeded(c, selectLayer: selectLayer) {
            let l = layer(p, i)
            for n in ["layer_norm1.", "layer_norm2."] {
                out.append(TensorSpec(l + n + "weight", [h], .norm)); out.append(TensorSpec(l + n + "bias", [h], .norm))
            }
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                out.append(TensorSpec(l + "self_attn.\(proj).weight", [h, h], .linear))
                out.append(TensorSpec(l + "self_attn.\(proj).bias", [h], .bias))
            }
            out.append(TensorSpec(l + "mlp.fc1.weight", [f, h], .linear)); out.append(TensorSpec(l + "mlp.fc1.bias", [f], .bias))
            out.append(TensorSpec(l + "mlp.fc2.weight", [h, f], .linear)); out.append(TensorSpec(l + "mlp.fc2.bias", [h], .bias))
        }
        return out
    }

    /// Name prefixes of checkpoint tensors the encoder never reads (the converter drops and lists them).
    public static func unusedPrefixes(_ c: SigLIPConfig, prefix p: String = humanOmniPrefix, selectLayer: Int = -2) -> [String] {
        var out = [p + "post_layernorm.", p + "head."]
        for i in layersNeeded(c, selectLayer: selectLayer)..<c.numHiddenLayers { out.append(layer(p, i)) }
        return out
    }
}
