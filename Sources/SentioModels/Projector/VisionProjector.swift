// VisionProjector: HumanOmni's "all_in_one_small" projector (humanomni/model/multimodal_projector/builder.py
// in github.com/HumanMLLM/R1-Omni) turning SigLIP features of T frames into 49*T visual tokens.
// All three branches read the same features x [T, g, g, Cv] (g = 14, tokens row-major) channels-last.
//
//   video / body branch (separate weights):
//     s1 = RegStage(Cv -> H) per frame                                      [T, 14, 14, H]
//     Conv3d k(2,2,2) s(1,2,2) p(1,0,0) + bias -> SiLU over [H, T, 14, 14]   [T+1, 7, 7, H] -> drop the last slice
//        (im2col in PyTorch weight order + Linear; out[t] mixes frames t-1 and t, frame -1 being zeros)
//     s2 = RegStage(H -> H) per frame                                       [T, 7, 7, H]
//     readout: Linear -> GELU(erf) -> Linear per token, order (t, h, w)     [T*49, H]
//   face branch: Linear -> GELU(erf) -> Linear per token [T*196, H], bilinear 14x14 -> 7x7
//     (align_corners false: a 2x2 mean at exactly 2x)                        [T*49, H]
//   fused = p0 * video + p1 * body + p2 * face, p from the BERT gate.
import Foundation
import SentioCore
import SentioKernels

public final class VisionProjector: @unchecked Sendable {
    public struct BranchWeights: @unchecked Sendable {
        public let s1, s2: RegStage
        public let sampler: LinearParams          // [H, H*2*2*2] view of the Conv3d kernel
        public let readout0, readout2: LinearParams
    }
    public struct Output: Sendable {
        public var video: [Float], body: [Float], face: [Float]   // each [T*49, H]
        public init(video: [Float], body: [Float], face: [Float]) { self.video = video; self.body = body; self.face = face }
    }

    public let config: VisionProjectorConfig
    public let video, body: BranchWeights
    public let face0, face2: LinearParams
    private let store: TowerStore

    public init(config: VisionProjectorConfig, source: WeightSource, prefix: String = VisionProjectorSchema.humanOmniPrefix) throws {
        try config.validate(source: source.sourceName)
        self.config = config
        let s = TowerStore(source: source, specs: VisionProjectorSchema.tensors(config, prefix: prefix))
        store = s
        func branch(_ b: VisionProjectorSchema.Branch) throws -> BranchWeights {
            BranchWeights(s1: try RegStage(config, store: s, prefix: VisionProjectorSchema.stage1(prefix, b),
                                           inChannels: config.inputSize, outChannels: config.hiddenSize),
                          s2: try RegStage(config, store: s, prefix: VisionProjectorSchema.stage2(prefix, b),
                                           inChannels: config.hiddenSize, outChannels: config.hiddenSize),
                          sampler: try s.linear(VisionProjectorSchema.sampler(prefix, b)),
                          readout0: try s.linear(VisionProjectorSchema.readout(prefix, b, 0)),
                          readout2: try s.linear(VisionProjectorSchema.readout(prefix, b, 2)))
        }
        video = try branch(.video)
        body = try branch(.body)
        face0 = try s.linear(VisionProjectorSchema.face(prefix, 0))
        face2 = try s.linear(VisionProjectorSchema.face(prefix, 2))
    }

    /// Fused visual tokens [T*49, H] of features [frames * g*g, Cv] with gate probabilities p (video, body, face).
    public func callAsFunction(features: [Float], frames: Int, gate p: [Float], pool: ThreadPool = .shared) throws -> [Float] {
        try Self.fuse(branches(features: features, frames: frames, pool: pool), p: p)
    }

    /// p0*video + p1*body + p2*face.
    public static func fuse(_ o: Output, p: [Float]) throws -> [Float] {
        guard p.count == 3, o.video.count == o.body.count, o.video.count == o.face.count else {
            throw SentioError(.argument, "vision projector: fusion needs 3 gate weights and equal branch sizes")
        }
        var out = [Float](repeating: 0, count: o.video.count)
        for i in 0..<out.count { out[i] = p[0] * o.video[i] + p[1] * o.body[i] + p[2] * o.face[i] }
        return out
    }

    /// The three branch outputs. `observe(name, values)` receives every intermediate, channels-last:
    /// "{video,body}.s1_out" [T,g,g,H], ".sampler_out" [T+1,g/2,g/2,H] (the dropped slice included; only computed
    /// when observing), ".s2_out" [T,g/2,g/2,H], ".out" [T*(g/2)^2,H]; "face.mlp_out" [T,g*g,H], "face.out".
    public func branches(features: [Float], frames: Int, pool: ThreadPool = .shared,
                         observe: ((String, [Float]) -> Void)? = nil) throws -> Output {
        let cv = config.inputSize
        guard frames > 0, features.count % (frames * cv) == 0 else {
            throw SentioError(.argument, "vision projector: \(features.count) feature values are not \(frames) frames x \(cv) channels")
        }
        let tokens = features.count / (frames * cv)
        let g = Int(Double(tokens).squareRoot().rounded())
        guard g * g == tokens, g >= 2 else {
            throw SentioError(.argument, "vision projector: \(tokens) tokens per frame are not a square grid of side >= 2")
        }
        let v = branch(video, name: "video", features: features, frames: frames, grid: g, pool: pool, observe: observe)
        let b = branch(body, name: "body", features: features, frames: frames, grid: g, pool: pool, observe: observe)
        let f = faceBranch(features: features, frames: frames, grid: g, pool: pool, observe: observe)
        return Output(video: v, body: b, face: f)
    }

    func mlp(_ l0: LinearParams, _ l2: LinearParams, _ x: UnsafePointer<Float>, n: Int, pool: ThreadPool) -> [Float] {
        let mid = TowerBuffer(n * l0.outFeatures), out = TowerBuffer(n * l2.outFeatures)
        l0(x, n: n, mid.ptr, pool: pool)
        Ops.gelu(mid.ptr, count: mid.count)
        l2(mid.ptr, n: n, out.ptr, pool: pool)
        return out.array
    }

    func branch(_ w: BranchWeights, name: String, features: [Float], frames t: Int, grid g: Int, pool: ThreadPool,
                observe: ((String, [Float]) -> Void)?) -> [Float] {
        let s1 = w.s1(features, images: t, height: g, width: g, pool: pool)
        observe?(name + ".s1_out", s1)
        return branchAfterStage1(w, name: name, s1: s1, frames: t, grid: g, pool: pool, observe: observe)
    }

    /// The part of a video / body branch after its per-frame RegStage: the Conv3d sampler (which mixes frames
    /// t-1 and t), s2 and the readout.
    func branchAfterStage1(_ w: BranchWeights, name: String, s1: [Float], frames t: Int, grid g: Int, pool: ThreadPool,
                           observe: ((String, [Float]) -> Void)?) -> [Float] {
        let h = config.hiddenSize
        let k = (t: 2, h: 2, w: 2), st = (t: 1, h: 2, w: 2), pad = (t: 1, h: 0, w: 0)
        let og = Conv2D.outputSize(g, kernel: 2, stride: 2, padding: 0)
        let outT = observe == nil ? t : t + 1     // the reference drops slice T; compute it only for inspection
        let rows = outT * og * og
        let cols = TowerBuffer(rows * w.sampler.inFeatures), sampled = TowerBuffer(rows * h)
        s1.withUnsafeBufferPointer {
            Conv2D.im2col3d($0.baseAddress!, t: t, h: g, w: g, c: h, kernel: k, stride: st, padding: pad, outT: outT,
                            out: cols.ptr, pool: pool)
        }
        w.sampler(cols.ptr, n: rows, sampled.ptr, pool: pool)
        Ops.silu(sampled.ptr, count: rows * h)
        if let observe { observe(name + ".sampler_out", sampled.array) }
        let kept = Array(UnsafeBufferPointer(start: sampled.ptr, count: t * og * og * h))
        let s2 = w.s2(kept, images: t, height: og, width: og, pool: pool)
        observe?(name + ".s2_out", s2)
        let out = s2.withUnsafeBufferPointer { mlp(w.readout0, w.readout2, $0.baseAddress!, n: t * og * og, pool: pool) }
        observe?(name + ".out", out)
        return out
    }

    func faceBranch(features: [Float], frames t: Int, grid g: Int, pool: ThreadPool, observe: ((String, [Float]) -> Void)?) -> [Float] {
        let h = config.hiddenSize, og = (g + 1) / 2
        let m = features.withUnsafeBufferPointer { mlp(face0, face2, $0.baseAddress!, n: t * g * g, pool: pool) }
        observe?("face.mlp_out", m)
        var out = [Float](repeating: 0, count: t * og * og * h)
        Conv2D.bilinearResize(m, images: t, height: g, width: g, channels: h, outHeight: og, outWidth: og, out: &out)
        observe?("face.out", out)
        return out
    }
}
