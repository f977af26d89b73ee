// Rope: rotary position embedding, neox (rotate-half, Qwen2/HF) and interleaved (GGUF llama) layouts.
//
// Frequencies follow transformers' default rotary init: inv_freq[i] = 1 / theta^(2i/d) with the
// exponent formed in f32 (torch.arange(0, d, 2).float() / d) and the power rounded to f32; the
// angle is pos * inv_freq in f32 and cos/sin are taken of that f32 angle (torch f32 cos/sin are
// correctly rounded to within an ulp; we evaluate them in Double and round).
import Foundation

public enum RopeStyle: Sendable { case neox, interleaved }   // neox = rotate-half (Qwen2/HF); interleaved = pairs (2i, 2i+1) (GGUF llama)

public struct Rope: Sendable {
    public let headDim: Int
    public let theta: Float
    public let style: RopeStyle
    /// inv_freq[i], i in 0..<headDim/2.
    public let invFreq: [Float]

    public init(headDim: Int, theta: Float, style: RopeStyle) {
        precondition(headDim % 2 == 0, "Rope: headDim must be even")
        self.headDim = headDim
        self.theta = theta
        self.style = style
        invFreq = (0..<headDim / 2).map { i in
            let e = Float(2 * i) / Float(headDim)
            let p = Float(Foundation.pow(Double(theta), Double(e)))
            return 1 / p
        }
    }

    /// Rotates x[n, heads*headDim] in place; row r is at position positions[r].
    public func apply(_ x: UnsafeMutablePointer<Float>, n: Int, heads: Int, positions: UnsafePointer<Int32>) {
        rotate(x, n: n, heads: heads, positions: positions, sign: 1)
    }

    /// Backward of the rotation (rotate by -angle), for the trainer.
    public func applyInverse(_ x: UnsafeMutablePointer<Float>, n: Int, heads: Int, positions: UnsafePointer<Int32>) {
        rotate(x, n: n, heads: heads, positions: positions, sign: -1)
    }

    /// cos/sin of pos * inv_freq[i] for one position (the table the fast path builds per row).
    func angles(_ pos: Int32, cos c: UnsafeMutablePointer<Float>, sin s: UnsafeMutablePointer<Float>, sign: Float) {
        for i in 0..<headDim / 2 {
            let a = Float(pos) * invFreq[i]
            c[i] = Float(Foundation.cos(Double(a)))
            s[i] = sign * Float(Foundation.sin(Double(a)))
        }
    }

    private func rotate(_ x: UnsafeMutablePointer<Float>, n: Int, heads: Int, positions: UnsafePointer<Int32>, sign: Float) {
        let half = headDim / 2
        let c = UnsafeMutablePointer<Float>.allocate(capacity: half)
        let s = UnsafeMutablePointer<Float>.allocate(capacity: half)
        defer { c.deallocate(); s.deallocate() }
        for r in 0..<n {
            angles(positions[r], cos: c, sin: s, sign: sign)   // once per row, shared by all heads
            for h in 0..<heads {
                let v = x + (r * heads + h) * headDim
                switch style {
                case .neox:
                    for i in 0..<half {
                        let a = v[i], b = v[i + half]
                        v[i] = a * c[i] - b * s[i]
                        v[i + half] = b * c[i] + a * s[i]
                    }
                case .interleaved:
                    for i in 0..<half {
                        let a = v[2 * i], b = v[2 * i + 1]
                        v[2 * i] = a * c[i] - b * s[i]
                        v[2 * i + 1] = b * c[i] + a * s[i]
                    }
                }
            }
        }
    }

    /// Scalar twin: computes every angle per element directly (no table), Double rotation.
    public func applyRef(_ x: UnsafeMutablePointer<Float>, n: Int, heads: Int, positions: UnsafePointer<Int32>) {
        let half = headDim / 2
        for r in 0..<n {
            for h in 0..<heads {
                let v = x + (r * heads + h) * headDim
                for i in 0..<half {
                    let ang = Double(Float(positions[r]) * invFreq[i])
                    let (ia, ib) = style == .neox ? (i, i + half) : (2 * i, 2 * i + 1)
                    let a = Double(v[ia]), b = Double(v[ib])
                    let cs = Double(Float(Foundation.cos(ang))), sn = Double(Float(Foundation.sin(ang)))
                    v[ia] = Float(a * cs - b * sn)
                    v[ib] = Float(b * cs + a * sn)
                }
            }
        }
    }
}
