// BertSchema: tensor names of a BERT encoder (transformers' BertModel layout) and of R1-Omni's instruction
// gate. In HumanOmni / R1-Omni checkpoints the prefixes are "model.bert_model." and "model.bert_gate.";
// the BERT pooler is present but unused.
import SentioCore

public enum BertSchema {
    public static let humanOmniPrefix = "model.bert_model."

    public static func wordEmbeddings(_ p: String) -> String { p + "embeddings.word_embeddings.weight" }
    public static func positionEmbeddings(_ p: String) -> String { p + "embeddings.position_embeddings.weight" }
    public static func tokenTypeEmbeddings(_ p: String) -> String { p + "embeddings.token_type_embeddings.weight" }
    public static func embeddingNorm(_ p: String) -> String { p + "embeddings.LayerNorm." }
    public static func layer(_ p: String, _ i: Int) -> String { p + "encoder.layer.\(i)." }

    public static func tensors(_ c: BertConfig, prefix p: String = humanOmniPrefix) -> [TensorSpec] {
        let h = c.hiddenSize, f = c.intermediateSize
        var out = [TensorSpec(wordEmbeddings(p), [c.vocabSize, h], .embedding),
                   TensorSpec(positionEmbeddings(p), [c.maxPositionEmbeddings, h], .position),
                   TensorSpec(tokenTypeEmbeddings(p), [c.typeVocabSize, h], .position),
                   TensorSpec(embeddingNorm(p) + "weight", [h], .norm), TensorSpec(embeddingNorm(p) + "bias", [h], .norm)]
        for i in 0..<c.numHiddenLayers {
            let l = layer(p, i)
            for (name, o, inp) in [("attention.self.query.", h, h), ("attention.self.key.", h, h), ("attention.self.value.", h, h),
                                   ("attention.output.dense.", h, h), ("intermediate.dense.", f, h), ("output.dense.", h, f)] {
                out.append(TensorSpec(l + name + "weight", [o, inp], .linear))
                out.append(TensorSpec(l + name + "bias", [o], .bias))
            }
            for n in ["attention.output.LayerNorm.", "output.LayerNorm."] {
                out.append(TensorSpec(l + n + "weight", [h], .norm)); out.append(TensorSpec(l + n + "bias", [h], .norm))
            }
        }
        return out
    }

    /// Name prefixes of checkpoint tensors the encoder never reads.
    public static func unusedPrefixes(prefix p: String = humanOmniPrefix) -> [String] { [p + "pooler."] }
}

/// R1-Omni's `bert_gate`: Linear(bert hidden, width) -> GELU(erf) -> Linear(width, branches) -> softmax.
/// The reference hard-codes width 3584 (Qwen2-7B's hidden size) whatever the LLM is.
public enum BertGateSchema {
    public static let humanOmniPrefix = "model.bert_gate."
    public static let referenceWidth = 3584
    public static let branches = 3

    public static func tensors(bertHidden: Int, width: Int = referenceWidth, prefix p: String = humanOmniPrefix) -> [TensorSpec] {
        [TensorSpec(p + "0.weight", [width, bertHidden], .linear), TensorSpec(p + "0.bias", [width], .bias),
         TensorSpec(p + "2.weight", [branches, width], .linear), TensorSpec(p + "2.bias", [branches], .bias)]
    }
}
