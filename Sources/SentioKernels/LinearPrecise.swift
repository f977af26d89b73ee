// Linear.forwardPrecise: y = x · dequant(W)ᵀ for quantized weights with the activations (nearly) unrounded,
// for the products whose activation rounding costs most. `forward` rounds x to Q8_0 blocks (integer kernels)
// or to bf16 (AMX tiles); for the output head that rounding moves near-tied logits and so the chosen token
// (Qwen2.5-Coder-0.5B q8: top-1 agreement with f32 98.43 % -> 98.87 %, docs/BENCHMARKS.md).
//
// x as two Q8_0 terms, x ≈ Q(x) + Q(x - Q(x)): the residual of the first rounding quantized again, both rows
// through the integer kernels in one call (weights read once per group of 8 activation rows: 16 integer rows,
// the batched-decode GEMV's limit), the two outputs summed. Per element the error is the second rounding's,
// <= ~amax_b/254² (amax_b: the block's largest |x|): 1.5e-5 of the block's scale instead of 4e-3. On 2 threads
// the decode GEMV is bound by reading the weights and the second row is free (KernelBench head, q8 151936 x 896,
// n = 1: 4.0 ms either way; 1 thread 5.3 -> 6.7 ms), where dequantizing blocks to f32 in registers cost 65 %;
// for many rows (perplexity) the passes over W cost less than f32 panels (2 threads, n = 128: 148-155 ms against
// 262 ms for dequantized f32 panels).
import CSentioKernels
import SentioCore

extension Linear {
    /// Most integer-kernel rows (2 per activation row) of one two-term call: the batched-decode GEMV's limit
    /// (SK_QGEMVN_MAX_N), so the weights are read in place once per group of twoTermMaxRows / 2 activation rows.
    public static let twoTermMaxRows = 16

    /// y[n, rows] = x[n, cols] · dequant(W)ᵀ (+ bias) with x at (nearly) full precision. Float weights:
    /// `forward` (f32 math already). Quantized weights: two Q8_0 terms per activation row.
    public static func forwardPrecise(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int,
                                      y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil,
                                      pool: ThreadPool = .shared) {
        forwardPreciseMany([(w, y, bias)], x: x, n: n, pool: pool)
    }

    /// forwardPrecise for several matrices of one input (q/k/v, gate/up): the two-term rows are built and
    /// quantized once per pass, every matrix's row chunks go to the pool in one dispatch. 8 activation rows
    /// per pass (16 integer rows: the batched GEMV reads W in place). Passes of more rows through the tile
    /// GEMM measured slower (2 threads: the q8 head at n = 16 75 ms against 18 ms, a q8 perplexity run of
    /// 2295 positions 21-22 s against 16-19 s, with --precise 31-34 s against 24-25 s).
    public static func forwardPreciseMany(_ items: [(w: WeightMatrix, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)],
                                          x: UnsafePointer<Float>, n: Int, pool: ThreadPool = .shared) {
        guard let first = items.first, n > 0, first.w.dtype.isQuantized,
              items.allSatisfy({ $0.w.dtype == first.w.dtype && $0.w.cols == first.w.cols && $0.w.rows > 0 && $0.w.cols > 0 }) else {
            // Mixed dtypes or widths: each matrix on its own; float weights and empty shapes: `forward`.
            if items.count > 1 {
                for it in items { forwardPreciseMany([it], x: x, n: n, pool: pool) }
            } else if let it = items.first {
                forward(it.w, x: x, n: n, y: it.y, bias: it.bias, pool: pool)
            }
            return
        }
        let group = twoTermMaxRows / 2
        for g in stride(from: 0, to: n, by: group) {
            let m = min(group, n - g)
            forwardTwoTerm(items.map { ($0.w, $0.y + g * $0.w.rows, $0.bias) }, x: x + g * first.w.cols, n: m, pool: pool)
        }
    }

    /// Rows 2i = x_i and 2i+1 = x_i - d·q (the residual of the Q8_0 rounding the integer kernels apply to x_i,
    /// with the stored f16 scale d), through the integer kernels together; y_i = y_2i + y_2i+1 (+ bias).
    static func forwardTwoTerm(_ items: [(w: WeightMatrix, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)],
                               x: UnsafePointer<Float>, n: Int, pool: ThreadPool) {
        let w0 = items[0].w, cols = w0.cols, code = w0.dtype.kernelCode, nb = cols / 32
        let rowsAll = items.reduce(0) { $0 + $1.w.rows }
        ScratchCache.with(bytes: 2 * n * (cols + rowsAll) * 4) { raw in
            let x2 = raw.bindMemory(to: Float.self, capacity: 2 * n * cols)
            var y2s: [UnsafeMutablePointer<Float>] = []
            var off = 2 * n * cols * 4
            for it in items {
                y2s.append((raw + off).bindMemory(to: Float.self, capacity: 2 * n * it.w.rows))
                off += 2 * n * it.w.rows * 4
            }
            withQuantized(x, n: n, cols: cols, code: code, pool: pool) { xq in
                for i in 0..<n {
                    let xi = x + i * cols, first = x2 + 2 * i * cols, rest = first + cols
                    first.update(from: xi, count: cols)
                    for b in 0..<nb {
                        let d = xq.d[i * nb + b], q = xq.qs + i * cols + b * 32, xb = xi + b * 32, rb = rest + b * 32
                        for j in 0..<32 { rb[j] = xb[j] - d * Float(q[j]) }
                    }
                }
            }
            withQuantized(x2, n: 2 * n, cols: cols, code: code, pool: pool) { xq in
                qgemm(zip(items, y2s).map { ($0.0.w, $0.1, nil) }, xq: xq, pool: pool)
            }
            for (it, y2) in zip(items, y2s) {
                let rows = it.w.rows
                for i in 0..<n {
                    let a = y2 + 2 * i * rows, b = a + rows, out = it.y + i * rows
                    if let bias = it.bias {
                        for r in 0..<rows { out[r] = a[r] + b[r] + bias[r] }
                    } else {
                        for r in 0..<rows { out[r] = a[r] + b[r] }
                    }
                }
            }
        }
    }
}
