// VisionProjectorSchema: tensor names of HumanOmni's "all_in_one_small" vision projector under a checkpoint
// prefix ("model.mm_projector." in R1-Omni checkpoints). Names follow the reference module tree:
// s1_{video,body} / s2_{video,body} are timm RegStages (blocks b1..bN, each conv1/conv2/conv3 = conv + "bn"
// (a LayerNorm2d), se.fc1/fc2, downsample where channels change), sampler_{video,body}.0 the Conv3d,
// readout_{video,body}.{0,2} and mlp_2xgelu_face.{0,2} Linear layers.
import Foundation
import SentioCore

/// Sizes of the all_in_one_small projector.
public struct VisionProjectorConfig: Sendable, Equatable {
    /// Vision feature width (SigLIP hidden size; HumanOmni's mm_hidden_size).
    public var inputSize: Int
    /// LLM hidden size (output width of every branch).
    public var hiddenSize: Int
    /// Bottleneck blocks per RegStage.
    public var depth: Int
    /// Squeeze-excite width = round(seRatio * block input channels).
    public var seRatio: Double
    /// LayerNorm2d eps of the RegStages.
    public var normEps: Float

    public init(inputSize: Int, hiddenSize: Int, depth: Int = 2, seRatio: Double = 0.25, normEps: Float = 1e-5) {
        self.inputSize = inputSize; self.hiddenSize = hiddenSize; self.depth = depth; self.seRatio = seRatio; self.normEps = normEps
    }

    /// R1-Omni: SigLIP-base features (768) into Qwen2-0.5B (896).
    public static let r1Omni = VisionProjectorConfig(inputSize: 768, hiddenSize: 896)

    /// Squeeze-excite width of a block with `inChannels` inputs (Python round: half to even).
    public func seWidth(_ inChannels: Int) -> Int { Int((seRatio * Double(inChannels)).rounded(.toNearestOrEven)) }

    public func validate(source: String) throws {
        func bad(_ m: String) -> SentioError { SentioError(.model, file: source, "vision projector: \(m)") }
        let limits = 1...(1 << 16)
        for (k, v) in [("input size", inputSize), ("hidden size", hiddenSize), ("depth", depth)] where !limits.contains(v) {
            throw bad("\(k) \(v) is out of range")
        }
        if seWidth(inputSize) < 1 || seWidth(hiddenSize) < 1 { throw bad("squeeze-excite width rounds to 0") }
        if !(normEps > 0) { throw bad("norm eps must be positive") }
    }
}

public enum VisionProjectorSchema {
    public static let humanOmniPrefix = "model.mm_projector."
    public enum Branch: String, CaseIterable, Sendable { case video, body }

    public static func stage1(_ p: String, _ b: Branch) -> String { p + "s1_\(b.rawValue)." }
    public static func stage2(_ p: String, _ b: Branch) -> String { p + "s2_\(b.rawValue)." }
    public static func sampler(_ p: String, _ b: Branch) -> String { p + "sampler_\(b.rawValue).0." }
    public static func readout(_ p: String, _ b: Branch, _ i: Int) -> String { p + "readout_\(b.rawValue).\(i)." }
    public static func face(_ p: String, _ i: Int) -> String { p + "mlp_2xgelu_face.\(i)." }
    public static func block(_ stage: String, _ i: Int) -> String { stage + "b\(i + 1)." }

    /// The tensors of one RegStage (timm Bottleneck blocks, bottleneck ratio 1, depthwise conv2).
    public static func regStage(_ c: VisionProjectorConfig, prefix s: String, inChannels: Int, outChannels o: Int) -> [TensorSpec] {
        var out: [TensorSpec] = []
        func norm(_ n: String) {
            out.append(TensorSpec(n + "bn.weight", [o], .norm)); out.append(TensorSpec(n + "bn.bias", [o], .norm))
        }
        for i in 0..<c.depth {
            let b = block(s, i), cin = i == 0 ? inChannels : o, rd = c.seWidth(cin)
            out.append(TensorSpec(b + "conv1.conv.weight", [o, cin, 1, 1], .conv)); norm(b + "conv1.")
            out.append(TensorSpec(b + "conv2.conv.weight", [o, 1, 3, 3], .conv)); norm(b + "conv2.")
            out.append(TensorSpec(b + "conv3.conv.weight", [o, o, 1, 1], .conv)); norm(b + "conv3.")
            out.append(TensorSpec(b + "se.fc1.weight", [rd, o, 1, 1], .conv)); out.append(TensorSpec(b + "se.fc1.bias", [rd], .bias))
            out.append(TensorSpec(b + "se.fc2.weight", [o, rd, 1, 1], .conv)); out.append(TensorSpec(b + "se.fc2.bias", [o], .bias))
            if cin != o {
                out.append(TensorSpec(b + "downsample.conv.weight", [o, cin, 1, 1], .conv)); norm(b + "downsample.")
            }
        }
        return out
    }

    public static func tensors(_ c: VisionProjectorConfig, prefix p: String = humanOmniPrefix) -> [TensorSpec] {
        let h = c.hiddenSize
        var out: [TensorSpec] = []
        for b in Branch.allCases {
            out += regStage(c, prefix: stage1(p, b), inChannels: c.inputSize, outChannels: h)
            out.append(TensorSpec(sampler(p, b) + "weight", [h, h, 2, 2, 2], .conv))
            out.append(TensorSpec(sampler(p, b) + "bias", [h], .bias))
            out += regStage(c, prefix: stage2(p, b), inChannels: h, outChannels: h)
            for i in [0, 2] {
                out.append(TensorSpec(readout(p, b, i) + "weight", [h, h], .linear))
                out.append(TensorSpec(readout(p, b, i) + "bias", [h], .bias))
            }
        }
        out.append(TensorSpec(face(p, 0) + "weight", [h, c.inputSize], .linear))
        out.append(TensorSpec(face(p, 0) + "bias", [h], .bias))
        out.append(TensorSpec(face(p, 2) + "weight", [h, h], .linear))
        out.append(TensorSpec(face(p, 2) + "bias", [h], .bias))
        return out
    }
}
