// BertConfig: BERT encoder hyper-parameters, decoded from a Hugging Face config.json.
// Follows transformers' BertConfig (models/bert/configuration_bert.py); CodingKeys are the config.json
// names. R1-Omni's instruction gate uses bert-base-uncased (the preset below); its checkpoint folder
// may not carry the BERT config, so the preset is the fallback.
import Foundation
import SentioCore

public struct BertConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var vocabSize: Int
    public var maxPositionEmbeddings: Int
    public var typeVocabSize: Int
    public var layerNormEps: Float
    public var hiddenAct: String
    public var positionEmbeddingType: String

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case vocabSize = "vocab_size"
        case maxPositionEmbeddings = "max_position_embeddings"
        case typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps"
        case hiddenAct = "hidden_act"
        case positionEmbeddingType = "position_embedding_type"
    }

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                vocabSize: Int = 30522, maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2,
                layerNormEps: Float = 1e-12, hiddenAct: String = "gelu", positionEmbeddingType: String = "absolute") {
        self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.vocabSize = vocabSize; self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize; self.layerNormEps = layerNormEps; self.hiddenAct = hiddenAct
        self.positionEmbeddingType = positionEmbeddingType
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = BertConfig.bertBaseUncased
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        vocabSize = try c.decodeIfPresent(Int.self, forKey: .vocabSize) ?? d.vocabSize
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? d.maxPositionEmbeddings
        typeVocabSize = try c.decodeIfPresent(Int.self, forKey: .typeVocabSize) ?? d.typeVocabSize
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
        positionEmbeddingType = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? d.positionEmbeddingType
    }

    /// bert-base-uncased.
    public static let bertBaseUncased = BertConfig(hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12, numAttentionHeads: 12)

    public var headDim: Int { hiddenSize / numAttentionHeads }

    public func validate(source: String) throws {
        func bad(_ m: String) -> SentioError { configError(source, m) }
        try checkSizes([("hidden_size", hiddenSize), ("intermediate_size", intermediateSize), ("num_hidden_layers", numHiddenLayers),
                       ("num_attention_heads", numAttentionHeads), ("vocab_size", vocabSize),
                       ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize)], in: 1...(1 << 20), source: source)
        if hiddenSize % numAttentionHeads != 0 { throw bad("hidden_size \(hiddenSize) is not divisible by \(numAttentionHeads) heads") }
        if hiddenAct != "gelu" { throw bad("hidden_act '\(hiddenAct)' is not supported (erf GELU only)") }
        if positionEmbeddingType != "absolute" { throw bad("position_embedding_type '\(positionEmbeddingType)' is not supported") }
        if !(layerNormEps > 0) { throw bad("layer_norm_eps must be positive") }
    }
}

extension BertConfig: ValidatedConfig {
    public static var configName: String { "BERT" }
}
