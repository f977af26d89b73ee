// WhisperEncoderConfig: the audio encoder's hyper-parameters, decoded from a Hugging Face WhisperConfig
// (transformers models/whisper/configuration_whisper.py); CodingKeys are the config.json names. Decoder
// keys are ignored: R1-Omni uses the encoder only.
import Foundation
import SentioCore

public struct WhisperEncoderConfig: Codable, Sendable, Equatable {
    public var dModel: Int
    public var encoderLayers: Int
    public var encoderAttentionHeads: Int
    public var encoderFfnDim: Int
    public var numMelBins: Int
    /// Encoder positions = frames after conv2 (1500 for a 30 s window); the mel has 2x as many frames.
    public var maxSourcePositions: Int
    /// nn.LayerNorm default; Whisper does not configure it.
    public var layerNormEps: Float { 1e-5 }

    enum CodingKeys: String, CodingKey {
        case dModel = "d_model"
        case encoderLayers = "encoder_layers"
        case encoderAttentionHeads = "encoder_attention_heads"
        case encoderFfnDim = "encoder_ffn_dim"
        case numMelBins = "num_mel_bins"
        case maxSourcePositions = "max_source_positions"
    }

    public init(dModel: Int, encoderLayers: Int, encoderAttentionHeads: Int, encoderFfnDim: Int,
                numMelBins: Int, maxSourcePositions: Int = 1500) {
        self.dModel = dModel; self.encoderLayers = encoderLayers; self.encoderAttentionHeads = encoderAttentionHeads
        self.encoderFfnDim = encoderFfnDim; self.numMelBins = numMelBins; self.maxSourcePositions = maxSourcePositions
    }

    /// openai/whisper-large-v3 (R1-Omni's audio tower).
    public static let whisperLargeV3 = WhisperEncoderConfig(dModel: 1280, encoderLayers: 32, encoderAttentionHeads: 20,
                                                            encoderFfnDim: 5120, numMelBins: 128)
    /// openai/whisper-base (the real-weights oracle of the tests).
    public static let whisperBase = WhisperEncoderConfig(dModel: 512, encoderLayers: 6, encoderAttentionHeads: 8,
                                                         encoderFfnDim: 2048, numMelBins: 80)

    public var headDim: Int { dModel / encoderAttentionHeads }
    /// Mel frames the encoder takes (conv2 halves them).
    public var inputFrames: Int { 2 * maxSourcePositions }

    public func validate(source: String) throws {
        func bad(_ m: String) -> SentioError { configError(source, m) }
        try checkSizes([("d_model", dModel), ("encoder_layers", encoderLayers), ("encoder_attention_heads", encoderAttentionHeads),
                       ("encoder_ffn_dim", encoderFfnDim), ("num_mel_bins", numMelBins),
                       ("max_source_positions", maxSourcePositions)], in: 1...(1 << 16), source: source)
        if dModel % encoderAttentionHeads != 0 { throw bad("d_model \(dModel) is not divisible by \(encoderAttentionHeads) heads") }
    }
}

extension WhisperEncoderConfig: ValidatedConfig {
    public static var configName: String { "Whisper" }
}
