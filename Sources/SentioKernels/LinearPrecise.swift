// Linear.forwardPrecise: y = x · dequant(W)ᵀ for quantized weights with the activations (nearly) unrounded,
// for the products whose activation rounding costs most. `forward` rounds x to Q8_0 blocks (integer kernels)
// or to bf16 (AMX tiles); for the output head that rounding moves near-tied logits and so the chosen token
// (Qwen2.5-Coder-0.5B q8: top-1 agreement with f32 98.43 % -> 98.87 %, docs/BENCHMARKS.md).
//
//   decode (2n <= twoTermMaxRows): x as two Q8_0 terms, x ≈ Q(x) + Q(x - Q(x)): the residual of the first
//     rounding quantized again, both rows through the integer kernels in one call (weights read once), the
//     two outputs summed. Per element the error is the second rounding's, <= ~amax_b/254² (amax_b: the
//     block's largest |x|): 1.5e-5 of the block's scale instead of 4e-3. Reading the weights dominates the
//     decode GEMV, so the second row costs ~5 % of the head's time, where dequantizing blocks to f32 in
//     registers cost 65 % (KernelBench head; docs/BENCHMARKS.md).
//   larger n (perplexity, batched decode of more than 8 rows): row panels of W dequantized to f32, sgemm with x in f32.
import CSentioKernels
import SentioCore

extension Linear {
    /// Most integer-kernel rows (2 per activation row) the two-term path runs: the batched-decode GEMV's
    /// limit (SK_QGEMVN_MAX_N), so the weights are read in place once; more rows go to the f32 panels.
    public static let twoTermMaxRows = 16

    /// Rows per dequantized panel: 256 x cols floats (0.9 MiB at 896 columns) stays in L2 while sgemm packs it,
    /// and x is packed once per panel (~1/256 of the panel's FLOPs per row of x).
    static let dequantPanelRows = 256

    /// y[n, rows] = x[n, cols] · dequant(W)ᵀ (+ bias) with x at (nearly) full precision. Float weights:
    /// `forward` (f32 math already). Quantized weights: two Q8_0 terms for n <= twoTermMaxRows / 2, else f32.
    public static func forwardPrecise(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int,
                                      y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>? = nil,
                                      pool: ThreadPool = .shared) {
        guard w.dtype.isQuantized, n > 0, w.rows > 0, w.cols > 0 else {
            forward(w, x: x, n: n, y: y, bias: bias, pool: pool)
            return
        }
        if 2 * n <= twoTermMaxRows {
            forwardTwoTerm(w, x: x, n: n, y: y, bias: bias, pool: pool)
        } else {
            dequantizedPanels(w, x: x, n: n, y: y, bias: bias, pool: pool)
        }
    }

    /// Rows 2i = x_i and 2i+1 = x_i - d·q (the residual of the Q8_0 rounding the integer kernels apply to x_i,
    /// with the stored f16 scale d), through the integer kernels together; y_i = y_2i + y_2i+1 (+ bias).
    static func forwardTwoTerm(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                               bias: UnsafePointer<Float>?, pool: ThreadPool) {
        let cols = w.cols, rows = w.rows, code = w.dtype.kernelCode, nb = cols / 32
        ScratchCache.with(bytes: 2 * n * (cols + rows) * 4) { raw in
            let x2 = raw.bindMemory(to: Float.self, capacity: 2 * n * cols)
            let y2 = (raw + 2 * n * cols * 4).bindMemory(to: Float.self, capacity: 2 * n * rows)
            withQuantized(x, n: n, cols: cols, code: code, pool: pool) { xq in
                for i in 0..<n {
                    let xi = x + i * cols, first = x2 + 2 * i * cols, rest = first + cols
                    first.update(from: xi, count: cols)
                    for b in 0..<nb {
                        let d = xq.d[i * nb + b], q = xq.qs + i * cols + b * 32
                        for j in 0..<32 { rest[b * 32 + j] = xi[b * 32 + j] - d * Float(q[j]) }
                    }
                }
            }
            withQuantized(x2, n: 2 * n, cols: cols, code: code, pool: pool) { xq in
                qgemm([(w, y2, nil)], xq: xq, pool: pool)
            }
            for i in 0..<n {
                let a = y2 + 2 * i * rows, b = a + rows, out = y + i * rows
                if let bias {
                    for r in 0..<rows { out[r] = a[r] + b[r] + bias[r] }
                } else {
                    for r in 0..<rows { out[r] = a[r] + b[r] }
                }
            }
        }
    }

    /// Panels of `dequantPanelRows` weight rows converted to f32 per task (sentio_dequant_rows, any weight dtype)
    /// and multiplied with x: the packed AVX-512 sgemm where it runs, else OpenBLAS.
    static func dequantizedPanels(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                  bias: UnsafePointer<Float>?, pool: ThreadPool) {
        nonisolated(unsafe) let x = x, y = y
        let rows = w.rows, cols = w.cols, code = w.dtype.kernelCode, data = w.data, rowBytes = w.rowBytes
        let panel = dequantPanelRows, own = sentio_sgemm_available() != 0
        pool.parallelFor((rows + panel - 1) / panel) { p in
            let r0 = p * panel, r1 = min(rows, r0 + panel)
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: (r1 - r0) * cols)
            defer { buf.deallocate() }
            sentio_dequant_rows(code, data, rowBytes, cols, r0, r1, buf)
            if own {
                sentio_sgemm(0, 1, n, r1 - r0, cols, 1, x, cols, buf, Int32(SENTIO_F32), cols, 0, y + r0, rows)
            } else {
                BLAS.sgemm(transA: false, transB: true, m: n, n: r1 - r0, k: cols, alpha: 1, a: x, lda: cols,
                           b: buf, ldb: cols, beta: 0, c: y + r0, ldc: rows)
            }
        }
        if let bias { addBias(y, bias, n: n, rows: rows) }
    }
}
