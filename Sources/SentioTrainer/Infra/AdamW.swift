// AdamW with PyTorch's semantics (torch.optim.AdamW, single-tensor path, amsgrad off), element by
// element in the same float32 operation order so results agree to the last bit or two:
//   p *= 1 - lr * wd                              (decoupled weight decay, before the moments)
//   m  = lerp(m, g, 1 - beta1)                    (m + (1-beta1) * (g - m))
//   v  = v * beta2 + (1 - beta2) * g * g
//   p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)     (eps outside the sqrt)
// t counts updates from 1. Bias corrections are computed in Double, as PyTorch does in Python floats.
import Foundation
import SentioCore

public struct AdamWConfig: Codable, Equatable, Sendable {
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    /// transformers' TrainingArguments default (torch's own AdamW default is 0.01).
    public var weightDecay: Double = 0
    public init(beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, weightDecay: Double = 0) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }
}

public struct AdamW: Equatable, Sendable {
    public var config: AdamWConfig
    /// First and second moments, one per parameter.
    public var m: [Float]
    public var v: [Float]
    /// Updates done so far.
    public var step: Int

    public init(config: AdamWConfig, parameterCount: Int) {
        self.config = config
        m = [Float](repeating: 0, count: parameterCount)
        v = [Float](repeating: 0, count: parameterCount)
        step = 0
    }

    /// One update of `parameters` with `gradients` at learning rate `lr`.
    public mutating func update(_ parameters: inout [Float], gradients: [Float], lr: Double) throws {
        guard parameters.count == m.count, gradients.count == m.count else {
            throw SentioError(.shape, "AdamW: \(parameters.count) parameters and \(gradients.count) gradients for state of \(m.count)")
        }
        step += 1
        let c = config
        let decay = Float(1 - lr * c.weightDecay)
        let w1 = Float(1 - c.beta1), b2 = Float(c.beta2), w2 = Float(1 - c.beta2)
        let stepSize = Float(lr / (1 - pow(c.beta1, Double(step))))
        let bc2Sqrt = Float((1 - pow(c.beta2, Double(step))).squareRoot())
        let eps = Float(c.eps)
        let lerpLow = (1 - c.beta1) < 0.5
        parameters.withUnsafeMutableBufferPointer { p in
            m.withUnsafeMutableBufferPointer { m in
                v.withUnsafeMutableBufferPointer { v in
                    gradients.withUnsafeBufferPointer { g in
                        for i in 0..<p.count {
                            if c.weightDecay != 0 { p[i] = p[i] * decay }
                            // torch.lerp: start + w*(end-start) for w < 0.5, else end - (end-start)*(1-w).
                            m[i] = lerpLow ? m[i] + w1 * (g[i] - m[i]) : g[i] - (g[i] - m[i]) * (1 - w1)
                            v[i] = v[i] * b2 + w2 * (g[i] * g[i])
                            let denom = v[i].squareRoot() / bc2Sqrt + eps
                            p[i] = p[i] + (-stepSize) * (m[i] / denom)
                        }
                    }
                }
            }
        }
    }
}

public enum GradientClipping {
    /// torch.nn.utils.clip_grad_norm_: scales `gradients` by min(1, maxNorm / (norm + 1e-6)) where norm
    /// is the global L2 norm; returns the norm before clipping. maxNorm <= 0 only measures.
    @discardableResult
    public static func clipGlobalNorm(_ gradients: inout [Float], maxNorm: Double) -> Double {
        var sum = 0.0
        for g in gradients { sum += Double(g) * Double(g) }
        let norm = sum.squareRoot()
        guard maxNorm > 0 else { return norm }
        // torch computes the coefficient in float32 and clamps it to 1.
        let coef = min(Float(1), Float(maxNorm) / (Float(norm) + 1e-6))
        if coef < 1 { for i in gradients.indices { gradients[i] *= coef } }
        return norm
    }
}
