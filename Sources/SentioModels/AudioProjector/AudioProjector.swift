// AudioProjector: R1-Omni's audio adapter (HumanOmni `mm_audio_projector_type` "mlp2x_gelu"), and the whole
// audio path mel -> Whisper encoder -> avg_pool1d(k=3, s=3) -> projector. Follows R1-OMNI-SPEC section 5 and
// the fixture README section 7:
//   encoder output [1500, Ca] -> mean of non-overlapping triples over time [500, Ca]
//   -> 0: Linear(Ca, H) + bias -> GELU(erf) -> 2: Linear(H, H) + bias            output [500, H]
// Tensors (prefix `model.audio_projector.`): 0.weight [H, Ca], 0.bias [H], 2.weight [H, H], 2.bias [H].
import Foundation
import SentioCore
import SentioKernels

public enum AudioProjectorSchema {
    public static let r1OmniPrefix = "model.audio_projector."

    public static func tensors(inputDim ca: Int, hidden h: Int, prefix p: String) -> [TensorSpec] {
        [TensorSpec(p + "0.weight", [h, ca], .linear), TensorSpec(p + "0.bias", [h], .bias),
         TensorSpec(p + "2.weight", [h, h], .linear), TensorSpec(p + "2.bias", [h], .bias)]
    }
}

public final class AudioProjector: @unchecked Sendable {
    /// Encoder width Ca (R1-Omni config `audio_hidden_size`) and LLM width H (`hidden_size`).
    public let inputDim: Int, hidden: Int
    let w0, w2: WeightMatrix
    let b0, b2: UnsafePointer<Float>
    let owner: WeightSource
    let store = FloatVectors()

    public init(inputDim: Int, hidden: Int, source: WeightSource, prefix: String = AudioProjectorSchema.r1OmniPrefix) throws {
        guard inputDim > 0, hidden > 0 else { throw SentioError(.argument, "audio projector: dimensions must be positive") }
        self.inputDim = inputDim; self.hidden = hidden
        let s = AudioProjectorSchema.tensors(inputDim: inputDim, hidden: hidden, prefix: prefix)
        w0 = try source.matrix(s[0]); b0 = store.keep(try source.floats(s[1]))
        w2 = try source.matrix(s[2]); b2 = store.keep(try source.floats(s[3]))
        owner = source
    }

    /// avg_pool1d(kernel 3, stride 3) over time: [T, C] -> [T/3, C] (a trailing partial triple is dropped,
    /// as ceil_mode=False does).
    public static func pool3(_ x: [Float], channels c: Int) -> [Float] {
        let tOut = x.count / c / 3
        var out = [Float](repeating: 0, count: tOut * c)
        for t in 0..<tOut {
            for j in 0..<c {
                let a = x[(3 * t) * c + j], b = x[(3 * t + 1) * c + j], d = x[(3 * t + 2) * c + j]
                out[t * c + j] = (a + b + d) / 3
            }
        }
        return out
    }

    /// Pooled tokens [n, Ca] -> [n, H].
    public func project(_ pooled: [Float], pool: ThreadPool = .shared) throws -> [Float] {
        guard pooled.count % inputDim == 0 else {
            throw SentioError(.argument, "audio projector: \(pooled.count) values are not rows of \(inputDim)")
        }
        let n = pooled.count / inputDim
        var mid = [Float](repeating: 0, count: n * hidden), out = mid
        pooled.withUnsafeBufferPointer { x in
            mid.withUnsafeMutableBufferPointer { m in
                Linear.forward(w0, x: x.baseAddress!, n: n, y: m.baseAddress!, bias: b0, pool: pool)
                Ops.gelu(m.baseAddress!, count: n * hidden)
                out.withUnsafeMutableBufferPointer { o in
                    Linear.forward(w2, x: m.baseAddress!, n: n, y: o.baseAddress!, bias: b2, pool: pool)
                }
            }
        }
        return out
    }
}

/// R1-Omni's audio path: log-mel [mels, 3000] -> 500 audio tokens [500, H] for the LLM.
public final class AudioPath: @unchecked Sendable {
    public let encoder: WhisperEncoder
    public let projector: AudioProjector

    public init(encoder: WhisperEncoder, projector: AudioProjector) throws {
        guard encoder.config.dModel == projector.inputDim else {
            throw SentioError(.model, "audio projector takes \(projector.inputDim) channels, the Whisper encoder gives \(encoder.config.dModel)")
        }
        self.encoder = encoder; self.projector = projector
    }

    /// Builds both from one weight source with R1-Omni's prefixes.
    public convenience init(whisper: WhisperEncoderConfig, hidden: Int, source: WeightSource,
                            encoderPrefix: String = WhisperSchema.r1OmniPrefix,
                            projectorPrefix: String = AudioProjectorSchema.r1OmniPrefix) throws {
        try self.init(encoder: WhisperEncoder(config: whisper, source: source, prefix: encoderPrefix),
                      projector: AudioProjector(inputDim: whisper.dModel, hidden: hidden, source: source, prefix: projectorPrefix))
    }

    public struct Stages {
        public var encoded: [Float]   // [1500, Ca]
        public var pooled: [Float]    // [500, Ca]
        public var projected: [Float] // [500, H]
    }

    /// All three stages (the encoder's inner stages go to `observe`).
    public func run(mel: [Float], pool: ThreadPool = .shared,
                    observe: ((WhisperStage, UnsafeBufferPointer<Float>) -> Void)? = nil) throws -> Stages {
        let enc = try encoder.encode(mel: mel, pool: pool, observe: observe)
        let pooled = AudioProjector.pool3(enc, channels: encoder.config.dModel)
        return Stages(encoded: enc, pooled: pooled, projected: try projector.project(pooled, pool: pool))
    }

    /// Audio tokens [500, H] of a log-mel [mels, 3000].
    public func forward(mel: [Float], pool: ThreadPool = .shared) throws -> [Float] {
        try run(mel: mel, pool: pool).projected
    }
}
