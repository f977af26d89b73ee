// Ops: normalization, activations, softmax, selection and embedding lookup.
//
// Norms are plain Swift loops (LLVM vectorizes them when built for the CPU); exp/erf-based functions
// run in C (CSentioKernels/vecmath.c: a vector exp polynomial, AVX-512 / AVX2 / 128-bit widths).
// Every vectorized op has a `...Ref` scalar twin in OpsRef.swift.
import CSentioKernels
import SentioCore

public enum Ops {
    /// out = x / sqrt(mean(x²) + eps) * weight, per row (Qwen2RMSNorm: statistics in f32).
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float,
                               out: UnsafeMutablePointer<Float>, rows: Int, dim: Int) {
        for r in 0..<rows {
            let xr = x + r * dim, o = out + r * dim
            var ss: Float = 0
            for i in 0..<dim { ss += xr[i] * xr[i] }
            let scale = 1 / (ss / Float(dim) + eps).squareRoot()
            for i in 0..<dim { o[i] = xr[i] * scale * weight[i] }
        }
    }

    /// out = (x - mean) / sqrt(var + eps) * weight + bias, per row (biased variance, as nn.LayerNorm).
    /// Sums in 16 lanes (SIMD16, then the lanes added); with a pool, row chunks run in parallel.
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                 eps: Float, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, pool: ThreadPool? = nil) {
        if let pool, pool.threadCount > 1, rows >= 64 {
            nonisolated(unsafe) let (x, weight, bias, out) = (x, weight, bias, out)
            pool.parallelChunks(rows, maxChunks: pool.threadCount * 4) { r in
                layerNormRows(x, weight: weight, bias: bias, eps: eps, out: out, rows: r, dim: dim)
            }
        } else {
            layerNormRows(x, weight: weight, bias: bias, eps: eps, out: out, rows: 0..<rows, dim: dim)
        }
    }

    static func layerNormRows(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                              eps: Float, out: UnsafeMutablePointer<Float>, rows: Range<Int>, dim: Int) {
        let vec = dim / 16 * 16
        for r in rows {
            let xr = x + r * dim, o = out + r * dim
            var acc = SIMD16<Float>()
            var i = 0
            while i < vec { acc += UnsafeRawPointer(xr + i).loadUnaligned(as: SIMD16<Float>.self); i += 16 }
            var s = acc.sum()
            while i < dim { s += xr[i]; i += 1 }
            let mean = s / Float(dim)
            let m16 = SIMD16<Float>(repeating: mean)
            var vacc = SIMD16<Float>()
            i = 0
            while i < vec {
                let d = UnsafeRawPointer(xr + i).loadUnaligned(as: SIMD16<Float>.self) - m16
                vacc += d * d
                i += 16
            }
            var v = vacc.sum()
            while i < dim { let d = xr[i] - mean; v += d * d; i += 1 }
            let inv = 1 / (v / Float(dim) + eps).squareRoot()
            if let bias {
                for i in 0..<dim { o[i] = (xr[i] - mean) * inv * weight[i] + bias[i] }
            } else {
                for i in 0..<dim { o[i] = (xr[i] - mean) * inv * weight[i] }
            }
        }
    }

    /// Numerically stable softmax in place (max subtracted). -inf entries become 0.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, count: Int) { sentio_vexp_softmax(x, count) }
    /// x * sigmoid(x) in place (element-wise: with a pool, chunks of the array run in parallel; same values).
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool? = nil) {
        nonisolated(unsafe) let x = x
        chunked(count, pool) { r in sentio_vsilu(x + r.lowerBound, r.count) }
    }
    /// 0.5 x (1 + erf(x/√2)) in place (exact form, PyTorch nn.GELU()).
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool? = nil) {
        nonisolated(unsafe) let x = x
        chunked(count, pool) { r in sentio_vgelu_erf(x + r.lowerBound, r.count) }
    }
    /// 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))) in place (gelu_pytorch_tanh).
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool? = nil) {
        nonisolated(unsafe) let x = x
        chunked(count, pool) { r in sentio_vgelu_tanh(x + r.lowerBound, r.count) }
    }
    /// out = silu(gate) * up.
    public static func swiglu(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int,
                              pool: ThreadPool? = nil) {
        nonisolated(unsafe) let (g, u, o) = (gate, up, out)
        chunked(count, pool) { r in sentio_vswiglu(g + r.lowerBound, u + r.lowerBound, o + r.lowerBound, r.count) }
    }

    /// Arrays from this size are split over the pool by the element-wise ops (below it a thread hand-off costs more).
    static let parallelElements = 1 << 16

    /// Runs an element-wise kernel over elements 0..<count: the whole range here, or chunks of 64-element
    /// multiples on the pool when given and the array is large.
    static func chunked(_ count: Int, _ pool: ThreadPool?, _ body: (Range<Int>) -> Void) {
        guard let pool, pool.threadCount > 1, count >= parallelElements else { body(0..<count); return }
        pool.parallelChunks(count, align: 64, maxChunks: pool.threadCount * 2, body)
    }
    /// out = a + b.
    public static func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { out[i] = a[i] + b[i] }
    }

    /// First index of the maximum (NaN entries are skipped; 0 for an empty or all-NaN input); scalar twin
    /// argmaxRef. Two vector passes: the maximum over 16 lanes (a NaN never wins a `>`), then the first
    /// index holding it (the decode of B sequences takes B of these over the 152k-entry vocabulary per step).
    public static func argmax(_ x: UnsafePointer<Float>, count: Int) -> Int {
        let v = count / 16 * 16
        var m = -Float.infinity
        if v > 0 {
            var mv = SIMD16<Float>(repeating: -.infinity)
            let xv = UnsafeRawPointer(x)
            for i in stride(from: 0, to: v, by: 16) {
                let c = xv.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                mv.replace(with: c, where: c .> mv)
            }
            m = mv.max()
        }
        for i in v..<count where x[i] > m { m = x[i] }
        if m == -.infinity, !(0..<count).contains(where: { x[$0] == -.infinity }) { return 0 }   // empty or all NaN
        let xv = UnsafeRawPointer(x), want = SIMD16<Float>(repeating: m)
        var i = 0
        while i < v {
            if any(xv.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) .== want) { break }
            i += 16
        }
        while x[i] != m { i += 1 }
        return i
    }

    /// The k largest entries, sorted descending (ties: lower index first). NaN entries are skipped.
    public static func topK(_ x: UnsafePointer<Float>, count: Int, k: Int) -> [(index: Int, value: Float)] {
        let k = min(k, count)
        if k <= 0 { return [] }
        var top: [(index: Int, value: Float)] = []
        top.reserveCapacity(k + 1)
        for i in 0..<count {
            let v = x[i]
            if v.isNaN { continue }
            if top.count == k && !(v > top[k - 1].value) { continue }
            // insertion point after every element >= v (keeps earlier indices first on ties)
            var lo = 0, hi = top.count
            while lo < hi { let mid = (lo + hi) / 2; if top[mid].value >= v { lo = mid + 1 } else { hi = mid } }
            top.insert((i, v), at: lo)
            if top.count > k { top.removeLast() }
        }
        return top
    }

    /// Rows `ids` of an embedding table in any dtype, dequantized to f32: out[ids.count, w.cols]
    public static func embeddingLookup(_ w: WeightMatrix, ids: [Int32], out: UnsafeMutablePointer<Float>) {
        for (j, id) in ids.enumerated() {
            precondition(id >= 0 && Int(id) < w.rows, "embeddingLookup: id \(id) outside 0..<\(w.rows)")
            sentio_dequant_rows(w.dtype.kernelCode, w.data, w.rowBytes, w.cols, Int(id), Int(id) + 1, out + j * w.cols)
        }
    }
}
