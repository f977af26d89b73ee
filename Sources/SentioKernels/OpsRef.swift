// Scalar reference twins of the vectorized Ops (Foundation libm in Double, then rounded).
import Foundation
import SentioCore

extension Ops {
    public static func rmsNormRef(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                                  out: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
        for r in 0..<rows {
            var ss = 0.0
            for i in 0..<dim { ss += Double(x[r * dim + i]) * Double(x[r * dim + i]) }
            let scale = 1 / (ss / Double(dim) + Double(eps)).squareRoot()
            for i in 0..<dim { out[r * dim + i] = Float(Double(x[r * dim + i]) * scale * Double(weight[i])) }
        }
    }

    public static func layerNormRef(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                    eps: Float, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
        for r in 0..<rows {
            var s = 0.0
            for i in 0..<dim { s += Double(x[r * dim + i]) }
            let mean = s / Double(dim)
            var v = 0.0
            for i in 0..<dim { let d = Double(x[r * dim + i]) - mean; v += d * d }
            let inv = 1 / (v / Double(dim) + Double(eps)).squareRoot()
            for i in 0..<dim {
                out[r * dim + i] = Float((Double(x[r * dim + i]) - mean) * inv * Double(weight[i]) + Double(bias?[i] ?? 0))
            }
        }
    }

    public static func softmaxRef(_ x: UnsafeMutablePointer<Float>, count: Int) {
        if count == 0 { return }
        var m = -Double.infinity
        for i in 0..<count { m = max(m, Double(x[i])) }
        if m == -.infinity { m = 0 }
        var s = 0.0
        var e = [Double](repeating: 0, count: count)
        for i in 0..<count { e[i] = Foundation.exp(Double(x[i]) - m); s += e[i] }
        for i in 0..<count { x[i] = Float(e[i] / s) }
    }

    public static func siluRef(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { let v = Double(x[i]); x[i] = Float(v / (1 + Foundation.exp(-v))) }
    }

    public static func geluRef(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { let v = Double(x[i]); x[i] = Float(0.5 * v * Foundation.erfc(-v / 2.0.squareRoot())) }
    }

    public static func geluTanhRef(_ x: UnsafeMutablePointer<Float>, count: Int) {
        let c = (2 / Double.pi).squareRoot()
        for i in 0..<count {
            let v = Double(x[i])
            x[i] = Float(0.5 * v * (1 + Foundation.tanh(c * (v + 0.044715 * v * v * v))))
        }
    }

    public static func swigluRef(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { let g = Double(gate[i]); out[i] = Float(g / (1 + Foundation.exp(-g)) * Double(up[i])) }
    }

    public static func embeddingLookupRef(_ w: WeightMatrix, ids: [Int32], out: UnsafeMutablePointer<Float>) {
        for (j, id) in ids.enumerated() { w.dequantizeRowRef(Int(id), into: out + j * w.cols) }
    }

    /// Twin of argmax: first index of the maximum, NaN skipped, 0 for an empty or all-NaN input.
    public static func argmaxRef(_ x: UnsafePointer<Float>, count: Int) -> Int {
        var best = 0
        var bv = -Float.infinity
        var found = false
        for i in 0..<count where x[i] > bv || (!found && x[i] == bv) {
            best = i; bv = x[i]; found = true
        }
        return best
    }
}
