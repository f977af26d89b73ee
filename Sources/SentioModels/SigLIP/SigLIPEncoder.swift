// SigLIPEncoder: the SigLIP vision transformer up to the selected layer.
// Follows transformers' models/siglip/modeling_siglip.py (SiglipVisionEmbeddings, SiglipEncoderLayer) as
// HumanOmni's SiglipVisionTower uses it: hidden_states[select_layer] (-2: output of the second-to-last
// layer), no post-layernorm, no pooling head.
//
//   pixels [n, 3, 224, 224] (channels-first, normalized to [-1, 1])
//   -> patches [n*196, 3*16*16] (im2col, column order (c, kh, kw)) -> Linear(patch_embedding) + bias
//   -> + position_embedding [196, C]                                   = hidden_states[0]   [n*196, C]
//   -> per layer: x += out_proj(MHA(LN1(x)))  (q/k/v/out with bias, scale 1/sqrt(head_dim), per frame)
//                 x += fc2(geluTanh(fc1(LN2(x))))                      = hidden_states[i+1]
// Activations are f32 row-major [frames*196, C], token order (frame, h, w).
import Foundation
import SentioCore
import SentioKernels

public final class SigLIPEncoder: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        public let norm1, norm2: NormParams
        public let q, k, v, out, fc1, fc2: LinearParams
    }

    public let config: SigLIPConfig
    public let selectLayer: Int
    /// Number of encoder layers run (numHiddenLayers + selectLayer + 1 for negative selectLayer).
    public let layerCount: Int
    public let patchEmbedding: LinearParams      // [C, 3*p*p] view of the conv kernel
    public let positions: UnsafePointer<Float>   // [numPatches, C]
    public let layers: [Layer]
    private let store: TowerStore

    public init(config: SigLIPConfig, source: WeightSource, prefix: String = SigLIPSchema.humanOmniPrefix,
                selectLayer: Int = -2) throws {
        try config.validate(source: source.sourceName)
        let count = SigLIPSchema.layersNeeded(config, selectLayer: selectLayer)
        self.config = config; self.selectLayer = selectLayer; self.layerCount = count
        let s = TowerStore(source: source, specs: SigLIPSchema.tensors(config, prefix: prefix, selectLayer: selectLayer))
        store = s
        patchEmbedding = LinearParams(weight: try s.matrix(SigLIPSchema.patchWeight(prefix)),
                                      bias: try s.vector(SigLIPSchema.patchBias(prefix)))
        positions = try s.vector(SigLIPSchema.positions(prefix))
        let eps = config.layerNormEps
        layers = try (0..<count).map { i in
            let l = SigLIPSchema.layer(prefix, i)
            return Layer(norm1: try s.norm(l + "layer_norm1.", eps: eps), norm2: try s.norm(l + "layer_norm2.", eps: eps),
                         q: try s.linear(l + "self_attn.q_proj."), k: try s.linear(l + "self_attn.k_proj."),
                         v: try s.linear(l + "self_attn.v_proj."), out: try s.linear(l + "self_attn.out_proj."),
                         fc1: try s.linear(l + "mlp.fc1."), fc2: try s.linear(l + "mlp.fc2."))
        }
    }

    /// Selected features [frames * numPatches, hidden] of pixels [frames, channels, imageSize, imageSize].
    public func forward(pixels: [Float], frames: Int, pool: ThreadPool = .shared) throws -> [Float] {
        try hiddenStates(pixels: pixels, frames: frames, layers: layerCount, pool: pool)
    }

    /// hidden_states[layers]: the embeddings (layers = 0) or the output of encoder layer `layers - 1`.
    /// `observe(i, x)` sees every hidden_states[i] for i in 0...layers on the way.
    public func hiddenStates(pixels: [Float], frames: Int, layers count: Int, pool: ThreadPool = .shared,
                             observe: ((Int, UnsafeBufferPointer<Float>) -> Void)? = nil) throws -> [Float] {
        let c = config, h = c.hiddenSize, tokens = c.numPatches, im = c.imageSize
        guard frames > 0 else { throw SentioError(.argument, "SigLIP: no frames") }
        guard pixels.count == frames * c.numChannels * im * im else {
            throw SentioError(.argument, "SigLIP: \(pixels.count) pixel values are not \(frames) x \(c.numChannels) x \(im) x \(im)")
        }
        guard (0...layerCount).contains(count) else {
            throw SentioError(.argument, "SigLIP: \(count) layers requested, \(layerCount) loaded")
        }
        let n = frames * tokens
        let x = TowerBuffer(n * h)
        do {   // patch embedding as a GEMM over im2col rows, then positions
            let cols = TowerBuffer(n * patchEmbedding.inFeatures)
            pixels.withUnsafeBufferPointer {
                Conv2D.patches($0.baseAddress!, images: frames, channels: c.numChannels, height: im, width: im,
                               patch: c.patchSize, out: cols.ptr, pool: pool)
            }
            patchEmbedding(cols.ptr, n: n, x.ptr, pool: pool)
            for f in 0..<frames { Ops.add(x.ptr + f * tokens * h, positions, out: x.ptr + f * tokens * h, count: tokens * h) }
        }
        observe?(0, UnsafeBufferPointer(start: x.ptr, count: n * h))
        let xn = TowerBuffer(n * h), q = TowerBuffer(n * h), k = TowerBuffer(n * h), v = TowerBuffer(n * h)
        let att = TowerBuffer(n * h), mlp = TowerBuffer(n * c.intermediateSize)
        for i in 0..<count {
            let L = layers[i]
            L.norm1(x.ptr, rows: n, xn.ptr)
            Linear.forwardMany([(L.q.weight, q.ptr, L.q.bias), (L.k.weight, k.ptr, L.k.bias), (L.v.weight, v.ptr, L.v.bias)],
                               x: xn.ptr, n: n, pool: pool)
            for f in 0..<frames {   // attention within each frame's 196 tokens
                let o = f * tokens * h
                Attention.full(q: q.ptr + o, k: k.ptr + o, v: v.ptr + o, n: tokens, heads: c.numAttentionHeads,
                               headDim: c.headDim, out: att.ptr + o, precision: .matching(L.q.weight), pool: pool)
            }
            L.out(att.ptr, n: n, xn.ptr, pool: pool)
            Ops.add(x.ptr, xn.ptr, out: x.ptr, count: n * h)
            L.norm2(x.ptr, rows: n, xn.ptr)
            L.fc1(xn.ptr, n: n, mlp.ptr, pool: pool)
            Ops.geluTanh(mlp.ptr, count: n * c.intermediateSize, pool: pool)
            L.fc2(mlp.ptr, n: n, xn.ptr, pool: pool)
            Ops.add(x.ptr, xn.ptr, out: x.ptr, count: n * h)
            observe?(i + 1, UnsafeBufferPointer(start: x.ptr, count: n * h))
        }
        return x.array
    }
}
