// TrainOps: the backward pieces of the Qwen2 decoder that the inference kernels do not have
// (RMSNorm, SwiGLU, causal grouped-query attention, log-softmax over the vocabulary), built on the
// same kernels: Gemm.sgemm for every product, Ops.softmax for the row softmax.
// Each has a finite-difference check in Tests/SentioTrainerTests/BackwardOpTests.swift.
import Foundation
import SentioKernels

/// A 64-byte aligned f32 buffer owned by the trainer (activations, gradients, scratch).
public final class FloatBuffer: @unchecked Sendable {
    public let p: UnsafeMutablePointer<Float>
    public let count: Int
    public init(_ count: Int, zeroed: Bool = true) {
        self.count = count
        p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64).bindMemory(to: Float.self, capacity: max(count, 1))
        if zeroed { p.initialize(repeating: 0, count: max(count, 1)) }
    }
    public convenience init(_ values: [Float]) {
        self.init(values.count, zeroed: false)
        values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: values.count) }
    }
    deinit { UnsafeMutableRawPointer(p).deallocate() }
    public func zero() { p.update(repeating: 0, count: count) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
}

public enum TrainOps {
    /// RMSNorm backward. y = x · r · w with r = 1/sqrt(mean(x²) + eps):
    /// dx = r · (w ⊙ dy) − x · r³/D · Σ(x ⊙ w ⊙ dy). Writes (accumulate: adds) dx.
    public static func rmsNormBackward(x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                                       dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, dim: Int,
                                       accumulate: Bool) {
        for row in 0..<rows {
            let xr = x + row * dim, g = dy + row * dim, o = dx + row * dim
            var ss: Float = 0, dot: Float = 0
            for i in 0..<dim { ss += xr[i] * xr[i]; dot += xr[i] * weight[i] * g[i] }
            let r = 1 / (ss / Float(dim) + eps).squareRoot()
            let c = r * r * r / Float(dim) * dot
            if accumulate {
                for i in 0..<dim { o[i] += r * weight[i] * g[i] - xr[i] * c }
            } else {
                for i in 0..<dim { o[i] = r * weight[i] * g[i] - xr[i] * c }
            }
        }
    }

    /// out = silu(gate) · up backward: dGate = dOut · up · σ(g)(1 + g(1 − σ(g))), dUp = dOut · silu(g).
    /// dGate / dUp may alias gate / up (each element is read before it is written).
    public static func swigluBackward(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, dOut: UnsafePointer<Float>,
                                      dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let g = gate[i], u = up[i], d = dOut[i]
            let s = 1 / (1 + expf(-g))
            dGate[i] = d * u * s * (1 + g * (1 - s))
            dUp[i] = d * g * s
        }
    }

    /// Causal grouped-query attention over one block: tq query rows (stride heads·d) against tk key/value
    /// rows (stride kvHeads·d); query row i sees keys 0 ... (tk − tq) + i (the first tk − tq keys are a
    /// shared prefix). out[tq, heads·d]. Query head h uses KV head h / (heads / kvHeads).
    public static func attentionForward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                        tq: Int, tk: Int, heads: Int, kvHeads: Int, headDim d: Int,
                                        out: UnsafeMutablePointer<Float>, pool: ThreadPool = .shared) {
        let group = heads / kvHeads, qs = heads * d, kvs = kvHeads * d, offset = tk - tq
        let scale = 1 / Float(d).squareRoot()
        nonisolated(unsafe) let (q, k, v, out) = (q, k, v, out)
        pool.parallelFor(heads) { h in
            let kv = h / group
            let s = FloatBuffer(tq * tk, zeroed: false)
            scores(q: q + h * d, k: k + kv * d, tq: tq, tk: tk, d: d, qs: qs, kvs: kvs, scale: scale, offset: offset, s: s.p, pool: pool)
            Gemm.sgemm(transA: false, transB: false, m: tq, n: d, k: tk, alpha: 1, a: s.p, lda: tk, b: v + kv * d, ldb: kvs,
                       beta: 0, c: out + h * d, ldc: qs, pool: pool)
        }
    }

    /// P = causal softmax(scale · Q Kᵀ) into s [tq, tk] (masked entries 0).
    static func scores(q: UnsafePointer<Float>, k: UnsafePointer<Float>, tq: Int, tk: Int, d: Int, qs: Int, kvs: Int,
                       scale: Float, offset: Int, s: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        Gemm.sgemm(transA: false, transB: true, m: tq, n: tk, k: d, alpha: scale, a: q, lda: qs, b: k, ldb: kvs,
                   beta: 0, c: s, ldc: tk, pool: pool)
        for i in 0..<tq {
            let row = s + i * tk, valid = min(tk, offset + i + 1)
            Ops.softmax(row, count: valid)
            if valid < tk { (row + valid).update(repeating: 0, count: tk - valid) }
        }
    }

    /// Backward of attentionForward (P recomputed): dq written, dk / dv accumulated (+=).
    /// dS = P ⊙ (dO·Vᵀ − rowsum(P ⊙ dO·Vᵀ)); dQ = scale·dS·K; dK += scale·dSᵀ·Q; dV += Pᵀ·dO.
    public static func attentionBackward(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                         dOut: UnsafePointer<Float>, tq: Int, tk: Int, heads: Int, kvHeads: Int, headDim d: Int,
                                         dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>,
                                         dv: UnsafeMutablePointer<Float>, pool: ThreadPool = .shared) {
        let group = heads / kvHeads, qs = heads * d, kvs = kvHeads * d, offset = tk - tq
        let scale = 1 / Float(d).squareRoot()
        nonisolated(unsafe) let (q, k, v, dOut, dq, dk, dv) = (q, k, v, dOut, dq, dk, dv)
        // One task per KV head: its query heads run in turn, so dk / dv rows have one writer.
        pool.parallelFor(kvHeads) { kv in
            let p = FloatBuffer(tq * tk, zeroed: false), dp = FloatBuffer(tq * tk, zeroed: false)
            for h in kv * group ..< (kv + 1) * group {
                scores(q: q + h * d, k: k + kv * d, tq: tq, tk: tk, d: d, qs: qs, kvs: kvs, scale: scale, offset: offset, s: p.p, pool: pool)
                Gemm.sgemm(transA: false, transB: true, m: tq, n: tk, k: d, alpha: 1, a: dOut + h * d, lda: qs,
                           b: v + kv * d, ldb: kvs, beta: 0, c: dp.p, ldc: tk, pool: pool)
                for i in 0..<tq {
                    let pr = p.p + i * tk, dr = dp.p + i * tk, valid = min(tk, offset + i + 1)
                    var dot: Float = 0
                    for j in 0..<valid { dot += pr[j] * dr[j] }
                    for j in 0..<valid { dr[j] = pr[j] * (dr[j] - dot) }
                    if valid < tk { (dr + valid).update(repeating: 0, count: tk - valid) }
                }
                Gemm.sgemm(transA: false, transB: false, m: tq, n: d, k: tk, alpha: scale, a: dp.p, lda: tk,
                           b: k + kv * d, ldb: kvs, beta: 0, c: dq + h * d, ldc: qs, pool: pool)
                Gemm.sgemm(transA: true, transB: false, m: tk, n: d, k: tq, alpha: scale, a: dp.p, lda: tk,
                           b: q + h * d, ldb: qs, beta: 1, c: dk + kv * d, ldc: kvs, pool: pool)
                Gemm.sgemm(transA: true, transB: false, m: tk, n: d, k: tq, alpha: 1, a: p.p, lda: tk,
                           b: dOut + h * d, ldb: qs, beta: 1, c: dv + kv * d, ldc: kvs, pool: pool)
            }
        }
    }

    /// Log-probability of `token` under softmax(logits[0..<count]); when `grad` is given, the row is
    /// overwritten with d loss / d logits = g · (onehot(token) − softmax) where g = grad(logp).
    /// log p = (l_token − max) + log p_max, with p_max = 1 / Σexp(l − max) ≥ 1/count read off the
    /// softmax (no separate sum, no underflow).
    public static func logSoftmaxPick(_ row: UnsafeMutablePointer<Float>, count: Int, token: Int,
                                      grad: ((Float) -> Float)?) -> Float {
        var m = -Float.infinity, mi = 0
        for j in 0..<count where row[j] > m { m = row[j]; mi = j }
        let lt = row[token]
        Ops.softmax(row, count: count)
        let logp = (lt - m) + logf(row[mi])
        if let grad {
            let g = grad(logp)
            let ng = -g
            for j in 0..<count { row[j] *= ng }
            row[token] += g
        }
        return logp
    }
}
