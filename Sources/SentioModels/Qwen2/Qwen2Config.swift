// Qwen2Config: the language model's hyper-parameters, decoded from a Hugging Face config.json.
// Follows transformers' Qwen2Config (models/qwen2/configuration_qwen2.py); CodingKeys are the
// config.json names. HumanOmni/R1-Omni configs are Qwen2 configs with extra multimodal keys,
// which this type ignores.
import Foundation
import SentioCore

public struct Qwen2Config: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numKeyValueHeads: Int
    public var vocabSize: Int
    public var rmsNormEps: Float
    public var ropeTheta: Float
    public var maxPositionEmbeddings: Int
    public var tieWordEmbeddings: Bool
    public var bosTokenId: Int?
    public var eosTokenId: Int?
    /// "neox" (rotate-half, HF Qwen2) or "interleaved" (GGUF llama files whose Q/K rows are permuted).
    public var ropeStyle: String?
    /// Whether q/k/v projections carry a bias (true for Qwen2; false for llama-architecture files).
    public var attentionBias: Bool?
    public var modelType: String?

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case vocabSize = "vocab_size"
        case rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta"
        case maxPositionEmbeddings = "max_position_embeddings"
        case tieWordEmbeddings = "tie_word_embeddings"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case ropeStyle = "sentio_rope_style"
        case attentionBias = "attention_bias"
        case modelType = "model_type"
    }

    private enum RopeParametersKey: String, CodingKey {
        case ropeParameters = "rope_parameters"
        case ropeTheta = "rope_theta"
    }

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numKeyValueHeads: Int, vocabSize: Int, rmsNormEps: Float = 1e-6, ropeTheta: Float = 1e6,
                maxPositionEmbeddings: Int = 32768, tieWordEmbeddings: Bool = true, bosTokenId: Int? = nil,
                eosTokenId: Int? = nil, ropeStyle: String? = nil, attentionBias: Bool? = true, modelType: String? = "qwen2") {
        self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.numKeyValueHeads = numKeyValueHeads; self.vocabSize = vocabSize
        self.rmsNormEps = rmsNormEps; self.ropeTheta = ropeTheta; self.maxPositionEmbeddings = maxPositionEmbeddings
        self.tieWordEmbeddings = tieWordEmbeddings; self.bosTokenId = bosTokenId; self.eosTokenId = eosTokenId
        self.ropeStyle = ropeStyle; self.attentionBias = attentionBias; self.modelType = modelType
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        rmsNormEps = try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6
        // transformers 5 writes rope_theta inside "rope_parameters"; older configs keep it at the top level.
        let nested = try decoder.container(keyedBy: RopeParametersKey.self)
        let ropeParameters = try? nested.nestedContainer(keyedBy: RopeParametersKey.self, forKey: .ropeParameters)
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta)
            ?? ropeParameters?.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? 10000
        maxPositionEmbeddings = try c.decodeIfPresent(Int.self, forKey: .maxPositionEmbeddings) ?? 32768
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        // eos may be a list in some configs: take the first.
        bosTokenId = try? c.decodeIfPresent(Int.self, forKey: .bosTokenId)
        if let e = try? c.decodeIfPresent(Int.self, forKey: .eosTokenId) { eosTokenId = e }
        else { eosTokenId = (try? c.decodeIfPresent([Int].self, forKey: .eosTokenId))??.first }
        ropeStyle = try c.decodeIfPresent(String.self, forKey: .ropeStyle)
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias)
        modelType = try c.decodeIfPresent(String.self, forKey: .modelType)
    }

    public var headDim: Int { hiddenSize / numAttentionHeads }
    public var kvDim: Int { numKeyValueHeads * headDim }
    public var hasQKVBias: Bool { attentionBias ?? (modelType != "llama") }

    public func validate(source: String) throws {
        func bad(_ m: String) -> SentioError { configError(source, m) }
        try checkSizes([("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
                       ("num_hidden_layers", numHiddenLayers), ("num_attention_heads", numAttentionHeads),
                       ("num_key_value_heads", numKeyValueHeads), ("vocab_size", vocabSize)], in: 1...(1 << 20), source: source)
        if hiddenSize % numAttentionHeads != 0 { throw bad("hidden_size \(hiddenSize) is not divisible by \(numAttentionHeads) heads") }
        if numAttentionHeads % numKeyValueHeads != 0 { throw bad("\(numAttentionHeads) heads are not a multiple of \(numKeyValueHeads) KV heads") }
        if headDim % 2 != 0 { throw bad("head_dim \(headDim) is odd") }
        if !(rmsNormEps > 0) || !(ropeTheta > 0) { throw bad("rms_norm_eps and rope_theta must be positive") }
    }
}

extension Qwen2Config: ValidatedConfig {
    public static var configName: String { "Qwen2" }
}
