// Qwen2Schema: the tensor names of a Qwen2 language model (Hugging Face layout) and the GGUF names
// llama.cpp's converter gives them. The single source of tensor names for converter and loader.
import SentioCore

public enum Qwen2Schema {
    public static let embed = "model.embed_tokens.weight"
    public static let finalNorm = "model.norm.weight"
    public static let lmHead = "lm_head.weight"

    public enum Proj: String, CaseIterable, Sendable {
        case q = "self_attn.q_proj", k = "self_attn.k_proj", v = "self_attn.v_proj", o = "self_attn.o_proj"
        case gate = "mlp.gate_proj", up = "mlp.up_proj", down = "mlp.down_proj"
    }

    public static func layer(_ i: Int) -> String { "model.layers.\(i)." }
    public static func weight(_ i: Int, _ p: Proj) -> String { layer(i) + p.rawValue + ".weight" }
    public static func bias(_ i: Int, _ p: Proj) -> String { layer(i) + p.rawValue + ".bias" }
    public static func inputNorm(_ i: Int) -> String { layer(i) + "input_layernorm.weight" }
    public static func postNorm(_ i: Int) -> String { layer(i) + "post_attention_layernorm.weight" }

    /// Whether `name` is one of a Qwen2 model's tensors (also inside an R1-Omni file, whose other towers
    /// have other prefixes): the weights decode reads every token, which loaders keep resident.
    public static func isModelTensor(_ name: String) -> Bool {
        name.hasPrefix("model.layers.") || name == embed || name == finalNorm || name == lmHead
    }

    /// Every tensor the loader needs, with its shape and role.
    public static func tensors(_ c: Qwen2Config) -> [TensorSpec] {
        let h = c.hiddenSize, kv = c.kvDim, f = c.intermediateSize
        var out = [TensorSpec(embed, [c.vocabSize, h], .embedding)]
        for i in 0..<c.numHiddenLayers {
            out.append(TensorSpec(inputNorm(i), [h], .norm))
            out.append(TensorSpec(weight(i, .q), [h, h], .linear))
            out.append(TensorSpec(weight(i, .k), [kv, h], .linear))
            out.append(TensorSpec(weight(i, .v), [kv, h], .linear))
            if c.hasQKVBias {
                out.append(TensorSpec(bias(i, .q), [h], .bias))
                out.append(TensorSpec(bias(i, .k), [kv], .bias))
                out.append(TensorSpec(bias(i, .v), [kv], .bias))
            }
            out.append(TensorSpec(weight(i, .o), [h, h], .linear))
            out.append(TensorSpec(postNorm(i), [h], .norm))
            out.append(TensorSpec(weight(i, .gate), [f, h], .linear))
            out.append(TensorSpec(weight(i, .up), [f, h], .linear))
            out.append(TensorSpec(weight(i, .down), [h, f], .linear))
        }
        out.append(TensorSpec(finalNorm, [h], .norm))
        if !c.tieWordEmbeddings { out.append(TensorSpec(lmHead, [c.vocabSize, h], .outputHead)) }
        return out
    }

    /// Maps a llama.cpp GGUF tensor name (qwen2 / llama architectures) to its Hugging Face name.
    public static func hfName(fromGGUF name: String) -> String? {
        switch name {
        case "token_embd.weight": return embed
        case "output_norm.weight": return finalNorm
        case "output.weight": return lmHead
        default: break
        }
        let parts = name.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let i = Int(parts[1]) else { return nil }
        let kind = parts[3]   // weight | bias
        let p: String
        switch parts[2] {
        case "attn_norm": return inputNorm(i)
        case "ffn_norm": return postNorm(i)
        case "attn_q": p = Proj.q.rawValue
        case "attn_k": p = Proj.k.rawValue
        case "attn_v": p = Proj.v.rawValue
        case "attn_output": p = Proj.o.rawValue
        case "ffn_gate": p = Proj.gate.rawValue
        case "ffn_up": p = Proj.up.rawValue
        case "ffn_down": p = Proj.down.rawValue
        default: return nil
        }
        return layer(i) + p + "." + kind
    }
}
