// Linear: y = x · Wᵀ (+ bias) for every weight dtype, and its input gradient dx = dy · W.
//
// Paths (measured with KernelBench; see the report in the commit log):
//   q8 / q4 : activation rows quantized to Q8_0 (ActivationQuant), integer dots in C (q4_1: qgemm_q41.c, q5: qgemm_q5.c,
//             GEMV for n <= 4 and the packed tile GEMM above, no batched GEMV)
//             (AVX-512 VNNI vpdpbusd, AVX2 maddubs, scalar C). n <= 4 (SK_QGEMV_MAX_N): the decode GEMV
//             (qgemv_x86.c). With VNNI, n = 5...16 (SK_QGEMVN_MAX_N, batched decode): the batched GEMV
//             (16 weight rows transposed in registers per block, weights read in place, qgemv_x86.c;
//             docs/BENCHMARKS.md, batched decode). Larger n: with VNNI 32 repacked weight rows x 6
//             activation rows per 512-bit tile (qgemm_512.c); else 4 x 4 tiles (qgemm_x86.c).
//             sentio_qgemm_row_align gives the chunk alignment each path wants (32 packing kernels, 16 batched GEMV).
//   AMX     : with AMX tiles (ISA level 4) and n >= amxMinRows (32), q8/q4/q4_1/q5 weights go to the bf16 tile
//             GEMM (amx_bf16.c): x rounded to bf16 once, each weight group dequantized and rounded to bf16
//             once per call, f32 accumulation over the whole k range (no per-block rescaling).
//   AMX int8: q8r weights (Q8_0 bytes with one scale per row) with n >= amxMinRows at ISA level 4 go to the
//             int8 tile GEMM (amx_int8.c): each activation row quantized to int8 with one scale over all its
//             columns, exact int32 sums over the whole k range, one scale product per output. Below that
//             (or without the tiles) q8r runs every Q8_0 path above.
//   f32     : n == 1..3: C FMA GEMV (sentio_fgemm); larger n: packed sgemm (sgemm.c, or OpenBLAS).
//   precise : forwardPrecise / forwardPreciseMany (LinearPrecise.swift), for the output head and, with
//             Qwen2Model.preciseActivations, every matmul: quantized weights with x as two Q8_0 terms through
//             the integer kernels, instead of the one rounding of the paths above.
//   f16/bf16: n < 16: C GEMV converting in registers; larger n: packed sgemm converting weight blocks
//             to f32 while packing (once per call; cost / n is then small).
// Threads split the weight rows into contiguous chunks (multiples of 4 rows: no shared cache lines
// in y except at chunk edges, written once).
import CSentioKernels
import SentioCore

public enum Linear {
    /// y[n, rows] = x[n, cols] · Wᵀ (+ bias[rows]).  n == 1: GEMV (decode); n > 1: GEMM (prefill, batched decode).
    public static func forward(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                               bias: UnsafePointer<Float>? = nil, pool: ThreadPool = .shared) {
        if n <= 0 || w.rows == 0 { return }
        if w.cols == 0 {
            for i in 0..<n { for r in 0..<w.rows { y[i * w.rows + r] = bias?[r] ?? 0 } }
            return
        }
        if usesInt8Tiles(w, n: n) {
            withInt8Staged(x, n: n, cols: w.cols, pool: pool) { xq, ldq, xs in
                int8TileGemm(w, x: x, xq: xq, ldq: ldq, xs: xs, n: n, y: y, bias: bias, pool: pool)
            }
            return
        }
        if usesBF16Tiles(w, n: n) {
            forwardBF16Tiles(w, x: x, n: n, y: y, bias: bias, pool: pool)
            return
        }
        switch w.dtype {
        case .q8, .q8r, .q4, .q4_1, .q5: forwardQuantized(w, x: x, n: n, y: y, bias: bias, pool: pool)
        case _ where usesFloatDirect(w, n: n): forwardFloatDirect(w, x: x, n: n, y: y, bias: bias, pool: pool)
        case .f32: forwardSgemm(w, x: x, n: n, y: y, bias: bias, pool: pool)
        case .f16, .bf16: forwardPanels(w, x: x, n: n, y: y, bias: bias, pool: pool)
        default: forwardFloatDirect(w, x: x, n: n, y: y, bias: bias, pool: pool)
        }
    }

    /// Activation rows from which the bf16 tile GEMM takes over (one 32-row tile pair; below it the
    /// per-call weight dequantization costs more than the integer kernels' work).
    public static let amxMinRows = 32

    /// True when `forward` runs the bf16 AMX tile GEMM for this weight and n: quantized weights only (they
    /// already round more than bf16 does); f32/f16/bf16 weights keep f32 math, the reference path.
    public static func usesBF16Tiles(_ w: WeightMatrix, n: Int) -> Bool {
        guard n >= amxMinRows, KernelISA.level >= 4 else { return false }
        switch w.dtype {
        case .q8, .q4, .q4_1, .q5: return true
        default: return false
        }
    }

    /// True when `forward` runs the AMX-INT8 tile GEMM: q8r weights (the format exists for it), n >= amxMinRows.
    public static func usesInt8Tiles(_ w: WeightMatrix, n: Int) -> Bool {
        w.dtype == .q8r && n >= amxMinRows && KernelISA.level >= 4
    }

    /// x [n, cols] quantized to int8 with one scale per row (sentio_quantize_rows_i8) into a reused scratch
    /// buffer: row stride ldq (cols rounded up to 64, zero padded), rows padded with zeros to a multiple of 32,
    /// then the n scales.
    static func withInt8Staged(_ x: UnsafePointer<Float>, n: Int, cols: Int, pool: ThreadPool,
                               _ body: (UnsafeMutablePointer<Int8>, Int, UnsafeMutablePointer<Float>) -> Void) {
        let ldq = (cols + 63) / 64 * 64, rowsPad = (n + 31) / 32 * 32
        ScratchCache.with(bytes: rowsPad * ldq + n * 4) { raw in
            let xq = raw.bindMemory(to: Int8.self, capacity: rowsPad * ldq)
            (xq + n * ldq).update(repeating: 0, count: (rowsPad - n) * ldq)
            let xs = (raw + rowsPad * ldq).bindMemory(to: Float.self, capacity: n)
            nonisolated(unsafe) let xp = x, xqp = xq, xsp = xs
            pool.parallelChunks(n, maxChunks: pool.threadCount * 2) { r in
                sentio_quantize_rows_i8(xp, cols, cols, r.lowerBound, r.upperBound, xqp, ldq, xsp)
            }
            body(xq, ldq, xs)
        }
    }

    /// The int8 tile GEMM over staged activations, tasks of whole 32-row weight groups (as the bf16 tiles).
    /// Rows the kernel leaves (a q8r matrix whose block scales differ along a row: not what the converter
    /// writes, but valid Q8_0 bytes) are computed as Q8_0 weights: dequantized to f32 and multiplied with x.
    static func int8TileGemm(_ w: WeightMatrix, x: UnsafePointer<Float>, xq: UnsafeMutablePointer<Int8>, ldq: Int,
                             xs: UnsafeMutablePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                             bias: UnsafePointer<Float>?, pool: ThreadPool) {
        nonisolated(unsafe) let y = y, bias = bias, xqp = xq, xsp = xs, xp = x
        let cols = w.cols, data = w.data, rowBytes = w.rowBytes, rows = w.rows, code = w.dtype.kernelCode
        let chunk = tileChunkRows(rows, threads: pool.threadCount)
        pool.parallelChunks(rows, align: chunk, maxChunks: (rows + chunk - 1) / chunk) { r in
            let done = sentio_gemm_amx_i8(data, rowBytes, cols, r.lowerBound, r.upperBound, xqp, ldq, xsp, n, y, rows, bias)
            let rest = Int(done)..<r.upperBound
            guard !rest.isEmpty else { return }
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: rest.count * cols)
            defer { buf.deallocate() }
            sentio_dequant_rows(code, data, rowBytes, cols, rest.lowerBound, rest.upperBound, buf)
            sentio_sgemm(0, 1, n, rest.count, cols, 1, xp, cols, buf, Int32(SENTIO_F32), cols, 0, y + rest.lowerBound, rows)
            if let bias { for i in 0..<n { for j in rest { y[i * rows + j] += bias[j] } } }
        }
    }

    /// bf16 tile GEMM: x converted once (rows padded to 32 with zeros, columns to a multiple of 32), then
    /// contiguous chunks of whole 32-row weight groups per task.
    static func forwardBF16Tiles(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                 bias: UnsafePointer<Float>?, pool: ThreadPool) {
        withBF16Staged(x, n: n, cols: w.cols, pool: pool) { xb, ldx in
            tileGemm(w, xb: xb, ldx: ldx, n: n, y: y, bias: bias, pool: pool)
        }
    }

    /// Several linears of the same input (e.g. q, k and v of an attention layer): y_i = x · W_iᵀ (+ bias_i).
    /// Equal to calling `forward` for each. When all of them run on AMX tiles, x is converted once for the bf16 ones
    /// and quantized once for the int8 ones; when all are quantized weights of one type on the integer kernels (decode, batched decode),
    /// x is quantized once and every matrix's row chunks go to the pool in one dispatch (one wait instead of
    /// one per matrix).
    public static func forwardMany(_ items: [(w: WeightMatrix, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)],
                                   x: UnsafePointer<Float>, n: Int, pool: ThreadPool = .shared) {
        guard let first = items.first, items.count > 1, n > 0,
              items.allSatisfy({ $0.w.cols == first.w.cols && $0.w.rows > 0 && $0.w.cols > 0 }) else {
            for it in items { forward(it.w, x: x, n: n, y: it.y, bias: it.bias, pool: pool) }
            return
        }
        let tiles = n >= amxMinRows && KernelISA.level >= 4   // (decode never filters: no allocations per token)
        let onInt8 = tiles ? items.filter { usesInt8Tiles($0.w, n: n) } : []
        let onBF16 = tiles ? items.filter { usesBF16Tiles($0.w, n: n) } : []
        if tiles, onInt8.count + onBF16.count == items.count {
            // all on tiles (e.g. Whisper's q/k on int8 and v on bf16): x staged once per kind
            if !onInt8.isEmpty {
                withInt8Staged(x, n: n, cols: first.w.cols, pool: pool) { xq, ldq, xs in
                    for it in onInt8 { int8TileGemm(it.w, x: x, xq: xq, ldq: ldq, xs: xs, n: n, y: it.y, bias: it.bias, pool: pool) }
                }
            }
            if !onBF16.isEmpty {
                withBF16Staged(x, n: n, cols: first.w.cols, pool: pool) { xb, ldx in
                    for it in onBF16 { tileGemm(it.w, xb: xb, ldx: ldx, n: n, y: it.y, bias: it.bias, pool: pool) }
                }
            }
        } else if first.w.dtype.isQuantized, !usesBF16Tiles(first.w, n: n), !usesInt8Tiles(first.w, n: n),
                  items.allSatisfy({ $0.w.dtype == first.w.dtype }) {
            withQuantized(x, n: n, cols: first.w.cols, code: first.w.dtype.kernelCode, pool: pool) { xq in
                qgemm(items, xq: xq, pool: pool)
            }
        } else if usesFloatDirect(first.w, n: n), items.allSatisfy({ usesFloatDirect($0.w, n: n) }) {
            floatDirectMany(items, x: x, n: n, pool: pool)
        } else {
            for it in items { forward(it.w, x: x, n: n, y: it.y, bias: it.bias, pool: pool) }
        }
    }

    /// x [n, cols] rounded to bf16 into a reused scratch buffer: row stride ldx (cols rounded up to 32, zero
    /// padded), rows padded with zeros to a multiple of 32, as the tile GEMM reads it.
    static func withBF16Staged(_ x: UnsafePointer<Float>, n: Int, cols: Int, pool: ThreadPool,
                               _ body: (UnsafeMutablePointer<UInt16>, Int) -> Void) {
        let ldx = (cols + 31) / 32 * 32, rowsPad = (n + 31) / 32 * 32
        ScratchCache.with(bytes: rowsPad * ldx * 2) { raw in
            let xb = raw.bindMemory(to: UInt16.self, capacity: rowsPad * ldx)
            (xb + n * ldx).update(repeating: 0, count: (rowsPad - n) * ldx)
            nonisolated(unsafe) let xs = x, xbp = xb
            pool.parallelChunks(n, maxChunks: pool.threadCount * 2) { r in
                sentio_f32_to_bf16_rows(xs, cols, cols, r.lowerBound, r.upperBound, xbp, ldx)
            }
            body(xb, ldx)
        }
    }

    /// The tile GEMM over bf16 activations already staged in xb (row stride ldx, rows padded to 32).
    static func tileGemm(_ w: WeightMatrix, xb: UnsafeMutablePointer<UInt16>, ldx: Int, n: Int,
                         y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?, pool: ThreadPool) {
        nonisolated(unsafe) let y = y, bias = bias, xbp = xb
        let cols = w.cols, code = w.dtype.kernelCode, data = w.data, rowBytes = w.rowBytes, rows = w.rows
        let chunk = tileChunkRows(rows, threads: pool.threadCount)
        pool.parallelChunks(rows, align: chunk, maxChunks: (rows + chunk - 1) / chunk) { r in
            let ok = sentio_gemm_amx_bf16(code, data, rowBytes, cols, r.lowerBound, r.upperBound, xbp, ldx, n, y, rows, bias)
            precondition(ok != 0, "AMX tile GEMM refused to run at ISA level 4")
        }
    }

    /// Weight rows per task of the tile GEMM: whole 32-row groups, at most 4 (the kernel's 128-row packing pass:
    /// each task streams all of x once per pass, so fewer, larger tasks read x less often), and of the sizes
    /// 4, 3, 2, 1 groups the first whose tasks fill the threads' waves to >= 95 % (equal-cost tasks; e.g. Qwen2's
    /// 896 rows: 7 tasks of 4 groups leave one of 2 threads idle a quarter of the time, 14 tasks of 2 do not).
    static func tileChunkRows(_ rows: Int, threads: Int) -> Int {
        balancedChunkRows(rows, group: 32, maxGroups: 4, threads: threads)
    }

    /// Rows per task for equal-cost tasks of whole `group`-row groups: of the sizes maxGroups ... 1 groups, the
    /// first whose tasks fill the threads' waves to >= 95 % (else the fullest).
    static func balancedChunkRows(_ rows: Int, group: Int, maxGroups: Int, threads: Int) -> Int {
        let groups = (rows + group - 1) / group, t = max(1, threads), top = max(1, maxGroups)
        var best = (size: top, eff: 0.0)
        for size in stride(from: top, through: 1, by: -1) {
            let tasks = (groups + size - 1) / size, waves = (tasks + t - 1) / t
            let eff = Double(groups) / Double(waves * t * size)
            if eff >= 0.95 { return group * size }
            if eff > best.eff { best = (size, eff) }
        }
        return group * best.size
    }

    /// Chunks of weight rows per parallel task above the decode GEMV (n > gemvMaxN: batched GEMV, tile GEMMs):
    /// ~16 per thread for load balance. (The GEMVs take gemvRanges.)
    static func rowChunks(_ rows: Int, _ pool: ThreadPool) -> Int {
        max(1, min(pool.threadCount * 16, rows / 16))
    }

    /// Activation rows up to which the integer kernels run the decode GEMV (SK_QGEMV_MAX_N in CSentioKernels/internal.h).
    static let gemvMaxN = 4

    /// The row ranges of one matrix for the decode GEMVs (streaming, equal cost per row): guided ranges
    /// (ThreadPool.guidedRanges) of at least ~32 KiB of weights, multiples of `align`.
    static func gemvRanges(_ w: WeightMatrix, align: Int, pool: ThreadPool) -> [Range<Int>] {
        let minRows = max(align, (32 << 10) / max(1, w.rowBytes))
        return ThreadPool.guidedRanges(w.rows, align: align, threads: pool.threadCount, minChunk: minRows)
    }

    static func forwardQuantized(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                 bias: UnsafePointer<Float>?, pool: ThreadPool) {
        withQuantized(x, n: n, cols: w.cols, code: w.dtype.kernelCode, pool: pool) { xq in
            qgemm([(w, y, bias)], xq: xq, pool: pool)
        }
    }

    /// x [n, cols] quantized to Q8_0 blocks (with the zero-point terms for weight type `code`) into a reused
    /// scratch buffer: qs (n * cols bytes), then d and corr (n * cols / 32 each).
    static func withQuantized(_ x: UnsafePointer<Float>, n: Int, cols: Int, code: Int32, pool: ThreadPool,
                              _ body: (sentio_xq) -> Void) {
        let nb = n * cols / 32, qsBytes = (n * cols + 63) / 64 * 64
        ScratchCache.with(bytes: qsBytes + nb * 8) { raw in
            let qs = raw.bindMemory(to: Int8.self, capacity: n * cols)
            let d = (raw + qsBytes).bindMemory(to: Float.self, capacity: nb)
            let corr = (raw + qsBytes + nb * 4).bindMemory(to: Int32.self, capacity: nb)
            var desc = sentio_xq(qs: qs, d: d, corr: corr, n: n, cols: cols)
            nonisolated(unsafe) let xs = x
            if n >= 8 {
                let dsc = desc
                pool.parallelChunks(n, maxChunks: pool.threadCount * 2) { r in
                    var dd = dsc
                    sentio_quantize_rows(xs, &dd, r.lowerBound, r.upperBound, code)
                }
            } else {
                sentio_quantize_rows(xs, &desc, 0, n, code)
            }
            body(desc)
        }
    }

    /// The integer kernels for quantized activations xq against every item's weights, one pool dispatch:
    /// each matrix is cut into chunks of whole weight groups (32 rows for the packing tile GEMMs, 16 for
    /// the batched GEMV, see sentio_qgemm_row_align), ~rowChunks of them per matrix; for the decode GEMV
    /// (n <= gemvMaxN), gemvRanges.
    static func qgemm(_ items: [(w: WeightMatrix, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)],
                      xq: sentio_xq, pool: ThreadPool) {
        var tasks: [(item: Int, rows: Range<Int>)] = []
        for (i, it) in items.enumerated() {
            let rows = it.w.rows, align = Int(sentio_qgemm_row_align(it.w.dtype.kernelCode, xq.n))
            let ranges = xq.n <= gemvMaxN ? gemvRanges(it.w, align: align, pool: pool)
                : ThreadPool.chunkRanges(rows, align: align, maxChunks: rowChunks(rows, pool))
            tasks += ranges.map { (i, $0) }
        }
        nonisolated(unsafe) let its = items, tks = tasks
        pool.parallelFor(tasks.count) { t in
            let (i, r) = tks[t], it = its[i]
            var dd = xq
            sentio_qgemm(it.w.dtype.kernelCode, it.w.data, it.w.rowBytes, r.lowerBound, r.upperBound, &dd, it.y,
                         it.w.rows, it.bias)
        }
    }

    /// True when `forward` runs the float-weight GEMV (sentio_fgemm) for this float weight and n (larger n: the
    /// packed sgemm).
    static func usesFloatDirect(_ w: WeightMatrix, n: Int) -> Bool {
        switch w.dtype {
        case .f32: return n < 4
        case .f16, .bf16: return n < 16
        default: return false
        }
    }

    /// Several float-weight GEMVs of one input in one pool dispatch (decode's q/k/v and gate/up at f16: one wait
    /// instead of one per matrix, and the 128-row k and v ride along with q instead of splitting 2 KiB-row tiles
    /// over the threads on their own).
    static func floatDirectMany(_ items: [(w: WeightMatrix, y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?)],
                                x: UnsafePointer<Float>, n: Int, pool: ThreadPool) {
        var tasks: [(item: Int, rows: Range<Int>)] = []
        for (i, it) in items.enumerated() { tasks += gemvRanges(it.w, align: 4, pool: pool).map { (i, $0) } }
        nonisolated(unsafe) let its = items, xp = x
        pool.parallelFor(tasks.count) { t in
            let (i, r) = tasks[t], it = its[i]
            sentio_fgemm(it.w.dtype.kernelCode, it.w.data, it.w.cols, r.lowerBound, r.upperBound, xp, it.w.cols, n,
                         it.y, it.w.rows, it.bias)
        }
    }

    static func forwardFloatDirect(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                   bias: UnsafePointer<Float>?, pool: ThreadPool) {
        floatDirectMany([(w, y, bias)], x: x, n: n, pool: pool)
    }

    static func forwardSgemm(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                             bias: UnsafePointer<Float>?, pool: ThreadPool) {
        Gemm.sgemm(transA: false, transB: true, m: n, n: w.rows, k: w.cols, alpha: 1,
                   a: x, lda: w.cols, b: w.data.assumingMemoryBound(to: Float.self), ldb: w.cols,
                   beta: 0, c: y, ldc: w.rows, pool: pool)
        if let bias { addBias(y, bias, n: n, rows: w.rows) }
    }

    /// Rows per task of the f16/bf16 packed sgemm: whole 32-row panels, one task per thread where the panels
    /// split evenly (each task packs all of x again, so fewer tasks are cheaper; Qwen2's 896-row ffn_down before
    /// as 7 tasks of 128 rows left one of 2 threads idle an eighth of the time).
    /// KernelBench gemm 512x896x4864 f16, 2 threads: 142 -> 193-195 GFLOP/s (eleventh session).
    static func panelChunkRows(_ rows: Int, threads: Int) -> Int {
        let t = max(1, threads), groups = (rows + 31) / 32
        return balancedChunkRows(rows, group: 32, maxGroups: (groups + t - 1) / t, threads: t)
    }

    /// f16/bf16 weights, n >= 16: with AVX-512, the packed sgemm converts each weight block to f32 once
    /// while packing (tasks: panelChunkRows); below AVX-512, row panels of W are converted to f32 per task
    /// and multiplied with OpenBLAS.
    static func forwardPanels(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                              bias: UnsafePointer<Float>?, pool: ThreadPool) {
        nonisolated(unsafe) let x = x, y = y
        let rows = w.rows, cols = w.cols, code = w.dtype.kernelCode, data = w.data, rowBytes = w.rowBytes
        if sentio_sgemm_available() != 0 {
            let chunk = panelChunkRows(rows, threads: pool.threadCount)
            pool.parallelChunks(rows, align: chunk, maxChunks: (rows + chunk - 1) / chunk) { r in
                sentio_sgemm(0, 1, n, r.count, cols, 1, x, cols, data + r.lowerBound * rowBytes, code, cols, 0,
                             y + r.lowerBound, rows)
            }
            if let bias { addBias(y, bias, n: n, rows: rows) }
            return
        }
        let panel = 128
        pool.parallelFor((rows + panel - 1) / panel) { p in
            let r0 = p * panel, r1 = min(rows, r0 + panel)
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: (r1 - r0) * cols)
            defer { buf.deallocate() }
            sentio_dequant_rows(code, data, rowBytes, cols, r0, r1, buf)
            BLAS.sgemm(transA: false, transB: true, m: n, n: r1 - r0, k: cols, alpha: 1, a: x, lda: cols,
                       b: buf, ldb: cols, beta: 0, c: y + r0, ldc: rows)
        }
        if let bias { addBias(y, bias, n: n, rows: rows) }
    }

    static func addBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, n: Int, rows: Int) {
        for i in 0..<n {
            let row = y + i * rows
            for r in 0..<rows { row[r] += bias[r] }
        }
    }

    /// dx[n, cols] (+)= dy[n, rows] · W   (backward w.r.t. the input; the base weights stay frozen, any dtype)
    public static func backwardInput(_ w: WeightMatrix, dy: UnsafePointer<Float>, n: Int, dx: UnsafeMutablePointer<Float>,
                                     accumulate: Bool, pool: ThreadPool = .shared) {
        if n <= 0 || w.cols == 0 { return }
        if w.rows == 0 {
            if !accumulate { dx.update(repeating: 0, count: n * w.cols) }
            return
        }
        if w.dtype == .f32 {
            Gemm.sgemm(transA: false, transB: false, m: n, n: w.cols, k: w.rows, alpha: 1, a: dy, lda: w.rows,
                       b: w.data.assumingMemoryBound(to: Float.self), ldb: w.cols, beta: accumulate ? 1 : 0,
                       c: dx, ldc: w.cols, pool: pool)
            return
        }
        // Column chunks of dx (multiples of the block size) per task; inside, row panels of W are
        // converted to f32 and accumulated with sgemm: dx[:, cc] += dy[:, panel] · W[panel, cc].
        nonisolated(unsafe) let dy = dy, dx = dx
        let rows = w.rows, cols = w.cols, code = w.dtype.kernelCode, rowBytes = w.rowBytes
        let bs = w.dtype.blockSize, bytesPerBlock = w.dtype.bytesPerBlock
        nonisolated(unsafe) let data = w.data
        let panel = 256
        pool.parallelChunks(cols, align: max(bs, 16), maxChunks: pool.threadCount * 4) { cc in
            let width = cc.count
            let buf = UnsafeMutablePointer<Float>.allocate(capacity: min(panel, rows) * width)
            defer { buf.deallocate() }
            let colOffset = cc.lowerBound / bs * bytesPerBlock
            var r0 = 0
            while r0 < rows {
                let r1 = min(rows, r0 + panel)
                sentio_dequant_rows(code, data + colOffset, rowBytes, width, r0, r1, buf)
                BLAS.sgemm(transA: false, transB: false, m: n, n: width, k: r1 - r0, alpha: 1, a: dy + r0, lda: rows,
                           b: buf, ldb: width, beta: (r0 == 0 && !accumulate) ? 0 : 1, c: dx + cc.lowerBound, ldc: cols)
                r0 = r1
            }
        }
    }
}

extension WeightMatrix {
    /// Drops this matrix's resident pages when its bytes are mapped read-only from a file (the next use
    /// faults them back from the page cache, unchanged); a no-op for heap or decompressed memory.
    /// Returns the bytes released. See sentio_release_file_pages.
    @discardableResult
    public func releaseFilePages() -> Int { Int(sentio_release_file_pages(data, byteCount)) }
}
