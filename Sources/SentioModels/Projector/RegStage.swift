// RegStage: a timm RegNet stage (timm/models/regnet.py: RegStage of Bottleneck blocks) as HumanOmni's
// C-Abstractor-style projector builds it: bottleneck ratio 1, group size 1 (conv2 is depthwise), stride 1,
// SiLU activations, LayerNorm2d (channel LayerNorm per pixel, eps 1e-5) as the norm, squeeze-excite.
//
// Per block, on channels-last images x [images, H, W, Cin] (rows = pixels):
//   a = SiLU(LN(conv1x1(x)))                         [P, C]   (1x1 conv = Linear over pixel rows)
//   a = SiLU(LN(depthwise3x3(a)))                    [P, C]
//   a = a * sigmoid(fc2(SiLU(fc1(mean_pixels(a)))))  (per image; fc1/fc2 are 1x1 convs with bias)
//   a = LN(conv1x1(a))                               (no activation)
//   out = SiLU(a + shortcut), shortcut = LN(conv1x1(x)) when Cin != C, else x
import Foundation
import SentioCore
import SentioKernels

public struct RegBlock: @unchecked Sendable {
    public let conv1, conv3: LinearParams
    public let depthwise: UnsafePointer<Float>     // [C, 9]
    public let norm1, norm2, norm3: NormParams
    public let seReduce, seExpand: LinearParams
    public let downsample: (conv: LinearParams, norm: NormParams)?
    public var inChannels: Int { conv1.inFeatures }
    public var outChannels: Int { conv1.outFeatures }
}

public struct RegStage: @unchecked Sendable {
    public let blocks: [RegBlock]

    init(_ c: VisionProjectorConfig, store s: TowerStore, prefix: String, inChannels: Int, outChannels o: Int) throws {
        blocks = try (0..<c.depth).map { i in
            let b = VisionProjectorSchema.block(prefix, i), cin = i == 0 ? inChannels : o
            func norm(_ n: String) throws -> NormParams { try s.norm(b + n + "bn.", eps: c.normEps) }
            return RegBlock(conv1: try s.linear(b + "conv1.conv.", bias: false), conv3: try s.linear(b + "conv3.conv.", bias: false),
                            depthwise: try s.vector(b + "conv2.conv.weight"),
                            norm1: try norm("conv1."), norm2: try norm("conv2."), norm3: try norm("conv3."),
                            seReduce: try s.linear(b + "se.fc1."), seExpand: try s.linear(b + "se.fc2."),
                            downsample: cin != o ? (try s.linear(b + "downsample.conv.", bias: false), try norm("downsample.")) : nil)
        }
    }

    public var outChannels: Int { blocks.last?.outChannels ?? 0 }

    /// x [images, height, width, Cin] channels-last -> [images, height, width, C].
    public func callAsFunction(_ x: [Float], images: Int, height: Int, width: Int, pool: ThreadPool) -> [Float] {
        var cur = x
        for b in blocks { cur = b.forward(cur, images: images, height: height, width: width, pool: pool) }
        return cur
    }
}

extension RegBlock {
    func forward(_ x: [Float], images: Int, height: Int, width: Int, pool: ThreadPool) -> [Float] {
        let hw = height * width, n = images * hw, c = outChannels
        let a = TowerBuffer(n * c), b = TowerBuffer(n * c)
        x.withUnsafeBufferPointer { conv1($0.baseAddress!, n: n, a.ptr, pool: pool) }
        norm1(a.ptr, rows: n, b.ptr)
        Ops.silu(b.ptr, count: n * c)
        Conv2D.depthwise3x3(b.ptr, images: images, height: height, width: width, channels: c, weight: depthwise, out: a.ptr, pool: pool)
        norm2(a.ptr, rows: n, b.ptr)
        Ops.silu(b.ptr, count: n * c)
        // squeeze-excite
        let rd = seReduce.outFeatures
        let m = TowerBuffer(images * c), r = TowerBuffer(images * rd), g = TowerBuffer(images * c)
        Conv2D.meanPixels(b.ptr, images: images, pixels: hw, channels: c, out: m.ptr)
        seReduce(m.ptr, n: images, r.ptr, pool: pool)
        Ops.silu(r.ptr, count: images * rd)
        seExpand(r.ptr, n: images, g.ptr, pool: pool)
        for i in 0..<(images * c) { g.ptr[i] = 1 / (1 + Foundation.exp(-g.ptr[i])) }
        for img in 0..<images {
            let gi = g.ptr + img * c
            for p in 0..<hw { let row = b.ptr + (img * hw + p) * c; for ch in 0..<c { row[ch] *= gi[ch] } }
        }
        conv3(b.ptr, n: n, a.ptr, pool: pool)
        norm3(a.ptr, rows: n, b.ptr)
        if let ds = downsample {
            x.withUnsafeBufferPointer { ds.conv($0.baseAddress!, n: n, a.ptr, pool: pool) }
            let s = TowerBuffer(n * c)
            ds.norm(a.ptr, rows: n, s.ptr)
            Ops.add(b.ptr, s.ptr, out: b.ptr, count: n * c)
        } else {
            x.withUnsafeBufferPointer { Ops.add(b.ptr, $0.baseAddress!, out: b.ptr, count: n * c) }
        }
        Ops.silu(b.ptr, count: n * c)
        return b.array
    }
}
