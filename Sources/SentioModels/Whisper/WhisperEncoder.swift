// WhisperEncoder: the audio encoder of Whisper (R1-Omni's audio tower, large-v3 shape).
// Follows transformers' models/whisper/modeling_whisper.py (WhisperEncoder, WhisperEncoderLayer,
// WhisperAttention) and R1-OMNI-SPEC section 5:
//   mel [mels, 2T] (channels-first, T = max_source_positions = 1500)
//   -> conv1 (k3, pad 1, bias) [2T, d] -> GELU(erf) -> conv2 (k3, stride 2, pad 1, bias) [T, d] -> GELU
//   -> + embed_positions [T, d]
//   -> N pre-LN layers: x += out_proj(MHA(LN1(x)))   (q scaled by head_dim^-0.5; k_proj without bias)
//                       x += fc2(GELU(fc1(LN2(x))))
//   -> final LayerNorm (eps 1e-5)                                   output [T, d]
// Matrices (q/k/v/out, fc1/fc2) and the conv kernels (im2col + Linear.forward) keep their stored dtype, so
// the same code runs f32, f16, q8 and q4 weights. Activations are f32 [tokens, channels].
import Foundation
import SentioCore
import SentioKernels

/// Points in the encoder whose activations `WhisperEncoder.encode(observe:)` reports.
public enum WhisperStage: Sendable, Equatable {
    case conv1        // conv1 output before GELU [2T, d]
    case conv2        // conv2 output before GELU [T, d]
    case layer(Int)   // output of encoder layer i (before the final LayerNorm) [T, d]
    case output       // after the final LayerNorm [T, d]
}

public final class WhisperEncoder: @unchecked Sendable {
    public let config: WhisperEncoderConfig
    public let weights: WhisperWeights
    /// After each layer, drop the resident pages of its matrices when they are mapped from the weight file
    /// (WeightMatrix.releaseFilePages): the encoder's weights (0.67 GB at q8 for large-v3) then never sit
    /// in RSS all at once, nor while the language model runs. Costs one page-cache refault of each layer
    /// per encode (measured in docs/BENCHMARKS.md). No effect on heap / decompressed weights.
    public var releasesWeightPages = true

    public init(config: WhisperEncoderConfig, source: WeightSource, prefix: String) throws {
        try config.validate(source: source.sourceName)
        self.config = config
        self.weights = try WhisperWeights(config: config, source: source, prefix: prefix)
    }

    /// Encoder output [T, d] of a log-mel [mels, 2T] (SentioMedia.LogMel's layout).
    public func encode(mel: [Float], pool: ThreadPool = .shared,
                       observe: ((WhisperStage, UnsafeBufferPointer<Float>) -> Void)? = nil) throws -> [Float] {
        let c = config
        guard mel.count == c.numMelBins * c.inputFrames else {
            throw SentioError(.argument, "Whisper encoder: mel has \(mel.count) values, expected \(c.numMelBins) x \(c.inputFrames)")
        }
        var out = [Float](repeating: 0, count: c.maxSourcePositions * c.dModel)
        mel.withUnsafeBufferPointer { m in
            out.withUnsafeMutableBufferPointer { o in encode(mel: m.baseAddress!, out: o.baseAddress!, pool: pool, observe: observe) }
        }
        return out
    }

    /// Pointer form: mel [mels, 2T] -> out [T, d].
    public func encode(mel: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, pool: ThreadPool = .shared,
                       observe: ((WhisperStage, UnsafeBufferPointer<Float>) -> Void)? = nil) {
        let c = config, w = weights
        let T = c.maxSourcePositions, T2 = c.inputFrames, d = c.dModel, f = c.encoderFfnDim
        let s = WhisperScratch(config: c)
        defer { s.deallocate() }
        func report(_ stage: WhisperStage, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
            observe?(stage, UnsafeBufferPointer(start: p, count: n))
        }

        // Convolution stem.
        Conv1D.forward(w.conv1, kernel: 3, x: mel, layout: .channelsFirst, channels: c.numMelBins, length: T2,
                       stride: 1, padding: 1, bias: w.conv1Bias, out: s.stem, scratch: s.cols, pool: pool)
        report(.conv1, s.stem, T2 * d)
        Ops.gelu(s.stem, count: T2 * d, pool: pool)
        let x = s.x
        Conv1D.forward(w.conv2, kernel: 3, x: s.stem, layout: .channelsLast, channels: d, length: T2,
                       stride: 2, padding: 1, bias: w.conv2Bias, out: x, scratch: s.cols, pool: pool)
        report(.conv2, x, T * d)
        Ops.gelu(x, count: T * d, pool: pool)
        Ops.add(x, w.positions, out: x, count: T * d)
        if releasesWeightPages { w.conv1.releaseFilePages(); w.conv2.releaseFilePages() }

        // Pre-LN transformer layers.
        let xn = s.xn, q = s.q, k = s.k, v = s.v, att = s.att, h = s.h
        for (i, L) in w.layers.enumerated() {
            Ops.layerNorm(x, weight: L.attnNorm, bias: L.attnNormBias, eps: c.layerNormEps, out: xn, rows: T, dim: d, pool: pool)
            Linear.forwardMany([(L.q, q, L.qBias), (L.k, k, nil), (L.v, v, L.vBias)], x: xn, n: T, pool: pool)
            // Attention.full scales scores by 1/sqrt(head_dim): the same as scaling q as Whisper does.
            Attention.full(q: q, k: k, v: v, n: T, heads: c.encoderAttentionHeads, headDim: c.headDim, out: att,
                           precision: .matching(L.q), pool: pool)
            Linear.forward(L.out, x: att, n: T, y: xn, bias: L.outBias, pool: pool)
            Ops.add(x, xn, out: x, count: T * d)

            Ops.layerNorm(x, weight: L.ffnNorm, bias: L.ffnNormBias, eps: c.layerNormEps, out: xn, rows: T, dim: d, pool: pool)
            Linear.forward(L.fc1, x: xn, n: T, y: h, bias: L.fc1Bias, pool: pool)
            Ops.gelu(h, count: T * f, pool: pool)
            Linear.forward(L.fc2, x: h, n: T, y: xn, bias: L.fc2Bias, pool: pool)
            Ops.add(x, xn, out: x, count: T * d)
            report(.layer(i), x, T * d)
            if releasesWeightPages { for m in [L.q, L.k, L.v, L.out, L.fc1, L.fc2] { m.releaseFilePages() } }
        }
        Ops.layerNorm(x, weight: w.finalNorm, bias: w.finalNormBias, eps: c.layerNormEps, out: out, rows: T, dim: d, pool: pool)
        report(.output, out, T * d)
    }
}

/// The encoder's tensors: views into the weight source for matrices and conv kernels, f32 copies of the
/// small vectors (norms, biases) and of the position table.
public struct WhisperWeights: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        public let q, k, v, out, fc1, fc2: WeightMatrix
        public let qBias, vBias, outBias, fc1Bias, fc2Bias: UnsafePointer<Float>
        public let attnNorm, attnNormBias, ffnNorm, ffnNormBias: UnsafePointer<Float>
    }
    /// Conv kernels viewed as [d, Cin*3] matrices.
    public let conv1, conv2: WeightMatrix
    public let conv1Bias, conv2Bias: UnsafePointer<Float>
    public let positions: UnsafePointer<Float>
    public let layers: [Layer]
    public let finalNorm, finalNormBias: UnsafePointer<Float>
    let owner: WeightSource
    let store: FloatVectors

    public init(config c: WhisperEncoderConfig, source: WeightSource, prefix p: String) throws {
        let specs = Dictionary(uniqueKeysWithValues: WhisperSchema.tensors(c, prefix: p).map { ($0.name, $0) })
        let store = FloatVectors()
        func spec(_ n: String) -> TensorSpec { specs[n]! }
        func vec(_ n: String) throws -> UnsafePointer<Float> { store.keep(try source.floats(spec(n))) }
        func mat(_ n: String) throws -> WeightMatrix { try source.matrix(spec(n)) }
        func conv(_ n: String) throws -> WeightMatrix { try source.matrix(spec(n), flattenTrailing: true) }
        conv1 = try conv(WhisperSchema.conv1Weight(p)); conv1Bias = try vec(WhisperSchema.conv1Bias(p))
        conv2 = try conv(WhisperSchema.conv2Weight(p)); conv2Bias = try vec(WhisperSchema.conv2Bias(p))
        positions = try vec(WhisperSchema.positions(p))
        var layers: [Layer] = []
        for i in 0..<c.encoderLayers {
            let l = WhisperSchema.layer(p, i)
            layers.append(Layer(
                q: try mat(l + "self_attn.q_proj.weight"), k: try mat(l + "self_attn.k_proj.weight"),
                v: try mat(l + "self_attn.v_proj.weight"), out: try mat(l + "self_attn.out_proj.weight"),
                fc1: try mat(l + "fc1.weight"), fc2: try mat(l + "fc2.weight"),
                qBias: try vec(l + "self_attn.q_proj.bias"), vBias: try vec(l + "self_attn.v_proj.bias"),
                outBias: try vec(l + "self_attn.out_proj.bias"), fc1Bias: try vec(l + "fc1.bias"), fc2Bias: try vec(l + "fc2.bias"),
                attnNorm: try vec(l + "self_attn_layer_norm.weight"), attnNormBias: try vec(l + "self_attn_layer_norm.bias"),
                ffnNorm: try vec(l + "final_layer_norm.weight"), ffnNormBias: try vec(l + "final_layer_norm.bias")))
        }
        self.layers = layers
        finalNorm = try vec(WhisperSchema.finalNorm(p, "weight"))
        finalNormBias = try vec(WhisperSchema.finalNorm(p, "bias"))
        owner = source
        self.store = store
    }
}

/// Owned f32 copies of small tensors, freed with the weights.
final class FloatVectors: @unchecked Sendable {
    private var buffers: [UnsafeMutablePointer<Float>] = []
    func keep(_ x: [Float]) -> UnsafePointer<Float> {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: max(x.count, 1))
        p.update(from: x, count: x.count)
        buffers.append(p)
        return UnsafePointer(p)
    }
    deinit { for b in buffers { b.deallocate() } }
}

/// Activation buffers of one encode call.
final class WhisperScratch {
    let stem, cols, x, xn, q, k, v, att, h: UnsafeMutablePointer<Float>
    private let all: [UnsafeMutablePointer<Float>]

    init(config c: WhisperEncoderConfig) {
        func buf(_ n: Int) -> UnsafeMutablePointer<Float> {
            UnsafeMutableRawPointer.allocate(byteCount: max(n, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(n, 1))
        }
        let T = c.maxSourcePositions, d = c.dModel
        stem = buf(c.inputFrames * d)
        cols = buf(max(c.inputFrames * c.numMelBins * 3, T * d * 3))
        x = buf(T * d); xn = buf(T * d); q = buf(T * d); k = buf(T * d); v = buf(T * d); att = buf(T * d)
        h = buf(T * c.encoderFfnDim)
        all = [stem, cols, x, xn, q, k, v, att, h]
    }

    func deallocate() { for p in all { UnsafeMutableRawPointer(p).deallocate() } }
}
