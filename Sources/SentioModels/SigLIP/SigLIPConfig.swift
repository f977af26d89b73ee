// SigLIPConfig: the SigLIP vision tower's hyper-parameters, decoded from a Hugging Face config.json.
// Follows transformers' SiglipVisionConfig (models/siglip/configuration_siglip.py); CodingKeys are the
// config.json names and missing keys take SiglipVisionConfig's defaults (which are the base model's).
import Foundation
import SentioCore

public struct SigLIPConfig: Codable, Sendable, Equatable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var numChannels: Int
    public var imageSize: Int
    public var patchSize: Int
    public var layerNormEps: Float
    public var hiddenAct: String

    enum CodingKeys: String, CodingKey {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numChannels = "num_channels"
        case imageSize = "image_size"
        case patchSize = "patch_size"
        case layerNormEps = "layer_norm_eps"
        case hiddenAct = "hidden_act"
    }

    public init(hiddenSize: Int, intermediateSize: Int, numHiddenLayers: Int, numAttentionHeads: Int,
                numChannels: Int = 3, imageSize: Int = 224, patchSize: Int = 16, layerNormEps: Float = 1e-6,
                hiddenAct: String = "gelu_pytorch_tanh") {
        self.hiddenSize = hiddenSize; self.intermediateSize = intermediateSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.numChannels = numChannels; self.imageSize = imageSize
        self.patchSize = patchSize; self.layerNormEps = layerNormEps; self.hiddenAct = hiddenAct
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SigLIPConfig.siglipBasePatch16_224
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize) ?? d.hiddenSize
        intermediateSize = try c.decodeIfPresent(Int.self, forKey: .intermediateSize) ?? d.intermediateSize
        numHiddenLayers = try c.decodeIfPresent(Int.self, forKey: .numHiddenLayers) ?? d.numHiddenLayers
        numAttentionHeads = try c.decodeIfPresent(Int.self, forKey: .numAttentionHeads) ?? d.numAttentionHeads
        numChannels = try c.decodeIfPresent(Int.self, forKey: .numChannels) ?? d.numChannels
        imageSize = try c.decodeIfPresent(Int.self, forKey: .imageSize) ?? d.imageSize
        patchSize = try c.decodeIfPresent(Int.self, forKey: .patchSize) ?? d.patchSize
        layerNormEps = try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? d.layerNormEps
        hiddenAct = try c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? d.hiddenAct
    }

    /// google/siglip-base-patch16-224 (the tower R1-Omni uses).
    public static let siglipBasePatch16_224 = SigLIPConfig(hiddenSize: 768, intermediateSize: 3072, numHiddenLayers: 12,
                                                           numAttentionHeads: 12)

    public var headDim: Int { hiddenSize / numAttentionHeads }
    /// Patches per side (14 for 224 / 16) and per image (196).
    public var gridSize: Int { imageSize / patchSize }
    public var numPatches: Int { gridSize * gridSize }

    public func validate(source: String) throws {
        func bad(_ m: String) -> SentioError { configError(source, m) }
        try checkSizes([("hidden_size", hiddenSize), ("intermediate_size", intermediateSize), ("num_hidden_layers", numHiddenLayers),
                       ("num_attention_heads", numAttentionHeads), ("num_channels", numChannels), ("image_size", imageSize),
                       ("patch_size", patchSize)], in: 1...(1 << 16), source: source)
        if hiddenSize % numAttentionHeads != 0 { throw bad("hidden_size \(hiddenSize) is not divisible by \(numAttentionHeads) heads") }
        if imageSize % patchSize != 0 { throw bad("image_size \(imageSize) is not a multiple of patch_size \(patchSize)") }
        if hiddenAct != "gelu_pytorch_tanh" && hiddenAct != "gelu_new" { throw bad("hidden_act '\(hiddenAct)' is not supported (tanh GELU only)") }
        if !(layerNormEps > 0) { throw bad("layer_norm_eps must be positive") }
    }
}

extension SigLIPConfig: ValidatedConfig {
    public static var configName: String { "SigLIP vision" }
}
