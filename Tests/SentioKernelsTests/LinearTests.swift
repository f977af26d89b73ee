// Linear fast paths vs their scalar twins, every dtype, ISA level and thread count.
import XCTest
import CSentioKernels
import SentioCore
@testable import SentioKernels
import SentioTestSupport

final class LinearTests: XCTestCase {
    // Shapes: odd row counts (tail of the 4-row tile), n over 1, 2, 3 (tile tails), 7, 9 and 33
    // (crosses the 32-row activation panel), cols multiple of 32 for quantized types and odd for floats.
    // (70, 96, 17), (45, 64, 13): the 512-bit VNNI GEMM's 32-row packed groups with a partial last group
    // and 6-row activation tiles with tails 5 and 1 (n = 13: the batched GEMV with VNNI, whose tile-GEMM
    // runs for n <= 16 are in testQuantizedGemvSmallNMatchesTwin); (40, 64, 70): AMX tiles of 32 activation rows
    // (two full, then a zero-padded tail of 6) against a full and a partial weight group.
    let shapes: [(rows: Int, cols: Int, n: Int)] = [(1, 32, 1), (5, 64, 1), (37, 96, 2), (19, 160, 3), (67, 64, 7), (13, 32, 9), (9, 64, 33), (130, 256, 5),
                                                     (70, 96, 17), (45, 64, 13), (40, 64, 70)]

    func testForwardMatchesReference() {
        var rng = TestRNG(seed: 1)
        forEachISA { isa in
            for dtype in weightDTypes {
                for (rows, baseCols, n) in shapes {
                    // float weights: also odd widths (the 16/8-lane tails)
                    let cols = dtype.isQuantized ? baseCols : baseCols + 3
                    let w = OwnedWeight(dtype: dtype, rows: rows, cols: cols, rng: &rng)
                    let x = rng.floats(n * cols)
                    let bias = rng.floats(rows)
                    var ref = [Float](repeating: 0, count: n * rows)
                    Linear.forwardRef(w.matrix, x: x, n: n, y: &ref, bias: bias)
                    var refQ = ref
                    if dtype.isQuantized { Linear.forwardRefQuantizedActivations(w.matrix, x: x, n: n, y: &refQ, bias: bias) }
                    for pool in pools {
                        var y = [Float](repeating: .nan, count: n * rows)
                        Linear.forward(w.matrix, x: x, n: n, y: &y, bias: bias, pool: pool)
                        let ctx = "\(isa) \(dtype) \(rows)x\(cols) n=\(n) threads=\(pool.threadCount)"
                        if Linear.usesInt8Tiles(w.matrix, n: n) {
                            checkInt8Tiles(w.matrix, x: x, n: n, bias: bias, y: y, ref: ref, ctx: ctx)
                        } else if Linear.usesBF16Tiles(w.matrix, n: n) {
                            checkBF16Tiles(w.matrix, x: x, n: n, bias: bias, y: y, ref: ref, ctx: ctx)
                        } else if dtype.isQuantized {
                            // Same integers and scale products as the twin: only the f32 order of the
                            // per-block sums differs (<= nb terms): 1e-6 * sqrt(cols) relative to the output scale.
                            let d = compare(y, refQ)
                            XCTAssertLessThanOrEqual(d.maxRel, 1e-6 * Float(cols).squareRoot(), "\(ctx) vs quantized-activation twin: \(d)")
                            // Against the pure-f32 product: Q8_0 rounds each x to within d/2 = amax_block/254,
                            // and the f16 scale moves it by <= 2^-11 |x|, so per output
                            // |err| <= sum_k |w_k| (amax_b/254 + |x_k| 2^-11)  (+ f32 rounding slack).
                            let bound = q8ActivationBound(w.matrix, x: x, n: n)
                            for j in 0..<(n * rows) {
                                XCTAssertLessThanOrEqual(abs(y[j] - ref[j]), bound[j] * 1.01 + 1e-6, "\(ctx) vs f32 product at \(j)")
                            }
                        } else {
                            // f32 accumulation in another order than the Double twin: ~eps * sqrt(cols).
                            let d = compare(y, ref)
                            XCTAssertLessThanOrEqual(d.maxRel, 1e-6 * Float(cols).squareRoot(), "\(ctx): \(d)")
                        }
                    }
                }
            }
        }
    }

    /// Task sizes of the tile GEMM: whole 32-row groups, at most 4, and balanced waves on the model shapes
    /// (Qwen2's 896 rows on 2 threads: 14 tasks of 64 rows, not 7 of 128).
    func testTileChunkRows() {
        XCTAssertEqual(Linear.tileChunkRows(896, threads: 2), 64)
        XCTAssertEqual(Linear.tileChunkRows(896, threads: 1), 128)
        XCTAssertEqual(Linear.tileChunkRows(1280, threads: 2), 128)
        XCTAssertEqual(Linear.tileChunkRows(128, threads: 2), 64)
        XCTAssertEqual(Linear.tileChunkRows(4864, threads: 2), 128)
        // the f16/bf16 sgemm's tasks: one per thread where the 32-row panels split evenly
        XCTAssertEqual(Linear.panelChunkRows(896, threads: 2), 448)
        XCTAssertEqual(Linear.panelChunkRows(4864, threads: 2), 2432)
        XCTAssertEqual(Linear.panelChunkRows(896, threads: 1), 896)
        XCTAssertEqual(Linear.panelChunkRows(100, threads: 4), 32)   // 4 panels (the last partial), one each
        XCTAssertEqual(Linear.panelChunkRows(896, threads: 3), 320)  // 28 panels: 10 + 10 + 8 (93 % full)
        for rows in [1, 31, 33, 100, 896, 1280, 4864, 5120, 151936] {
            for threads in 1...6 {
                let c = Linear.tileChunkRows(rows, threads: threads)
                XCTAssertTrue(c % 32 == 0 && (32...128).contains(c), "\(rows) rows, \(threads) threads: \(c)")
            }
        }
    }

    /// The decode GEMV paths (n <= 4: AVX-512 VNNI pairs of blocks, AVX2 per block), the VNNI batched-decode
    /// GEMVs (n = 5...16: the row-lane kernel on whole 16-row groups, rows 21 and 35 give one and two groups
    /// plus a tail; the activation-lane kernel on the tail rows, one or two 8-row vectors, weight scales
    /// gathered 16 blocks at a time) and the tile paths (n = 5...16 below VNNI, or with the batched GEMV
    /// off) against the scalar quantized-activation twin: odd row counts (4-row tile tails), nb odd and even
    /// (the single-block tail of the pair loop), nb 17 and 28 (a partial last 16-block scale chunk), every
    /// n in 1...16 (partial activation vectors), threads 1...3, every ISA.
    func testQuantizedGemvSmallNMatchesTwin() {
        var rng = TestRNG(seed: 11)
        defer { sentio_qgemm_set_batch_gemv_max(-1); sentio_qgemm_set_batch_gemv_rowlane(1) }
        // (5, 160): 5120 columns, the activation-side scratch of the VNNI GEMVs moves to the heap (q8/q4 n >= 4, q4_1 n >= 7).
        // (16, 1), (19, 37): one-block rows on one row-lane group; 37 blocks (past the 16- and 32-block scale chunks).
        let shapes: [(rows: Int, k: Int)] = [(1, 1), (3, 2), (6, 3), (13, 4), (21, 5), (9, 28), (35, 7), (7, 17), (5, 160),
                                             (16, 1), (19, 37)]
        forEachISA { isa in
            for dtype in [DType.q8, .q4, .q4_1, .q5] {
                for (rows, k) in shapes {
                    let cols = 32 * k
                    let w = OwnedWeight(dtype: dtype, rows: rows, cols: cols, rng: &rng)
                    for n in 1...16 {
                        let x = rng.floats(n * cols, scale: 2)
                        let bias: [Float]? = n % 2 == 0 ? rng.floats(rows) : nil
                        var ref = [Float](repeating: 0, count: n * rows)
                        Linear.forwardRefQuantizedActivations(w.matrix, x: x, n: n, y: &ref, bias: bias)
                        // (pool, batched-GEMV max n, row-lane kernel): the defaults on 1...3 threads; with VNNI and
                        // n > 4 also the activation-lane kernel alone and the tile GEMM (batched GEMV off).
                        let alternatives: [(ThreadPool, Int, Int32)] = n > 4 && sentio_isa_level() >= 3 ? [(pools[1], -1, 0), (pools[1], 4, 1)] : []
                        for (pool, batchMax, rowLane) in pools.map({ ($0, -1, Int32(1)) }) + alternatives {
                            sentio_qgemm_set_batch_gemv_max(batchMax)
                            sentio_qgemm_set_batch_gemv_rowlane(rowLane)
                            defer { sentio_qgemm_set_batch_gemv_max(-1); sentio_qgemm_set_batch_gemv_rowlane(1) }
                            var y = [Float](repeating: .nan, count: n * rows)
                            if let bias { Linear.forward(w.matrix, x: x, n: n, y: &y, bias: bias, pool: pool) }
                            else { Linear.forward(w.matrix, x: x, n: n, y: &y, pool: pool) }
                            // Same integer dots and scale products as the twin; the f32 sum runs over
                            // 8 (or 16) lane partials per block in another order (the batched GEMV on q4 /
                            // q4_1: each block's dot as two f32 terms, low and high nibbles, the latter
                            // scaled by an exact 1/16): eps * sqrt(terms) scale, 1e-6 * sqrt(cols) relative
                            // to the largest output (as for the tile path).
                            let d = compare(y, ref)
                            XCTAssertLessThanOrEqual(d.maxRel, 1e-6 * Float(cols).squareRoot(),
                                                     "\(isa) \(dtype) \(rows)x\(cols) n=\(n) threads=\(pool.threadCount) batch-gemv max \(batchMax) row-lane \(rowLane): \(d)")
                        }
                    }
                }
            }
        }
    }

    /// The 512-bit VNNI GEMM's cache blocking (qgemm_512.c): k slices of 16 Q8_0 blocks (cols 32 * 37:
    /// two full slices and a tail of 5 blocks; the f32 outputs pass through y between slices) and blocks
    /// of 192 activation rows (n = 200: one full block, then 8 rows = one 6-row tile + a 2-row tail), with
    /// a partial last 32-row weight group (rows 45; for q4 and q5 packed one group per pass) and a bias added only
    /// after the last slice. Against
    /// the scalar quantized-activation twin at the VNNI level (and at every other level the CPU has).
    func testQuantizedGemmCacheBlockingTails() {
        var rng = TestRNG(seed: 21)
        let shapes: [(rows: Int, cols: Int, n: Int)] = [(45, 32 * 37, 200), (32, 32 * 16, 193), (7, 32 * 17, 12)]
        let top = KernelISA.maxSupported
        // n = 12 would run the batched GEMV by default: this test is about the tile GEMM.
        sentio_qgemm_set_batch_gemv_max(4)
        defer { KernelISA.limit(top); sentio_qgemm_set_pack_limit(0); sentio_qgemm_set_batch_gemv_max(-1) }
        for level in Set([min(3, top), top]) {
            KernelISA.limit(level)
            for dtype in [DType.q8, .q4, .q5] {
                for (rows, cols, n) in shapes {
                    // Packing passes: the whole range at once, or one 32-row group per pass (2 groups: 45 rows).
                    sentio_qgemm_set_pack_limit(rows == 45 && dtype != .q8 ? 1 : 0)
                    let w = OwnedWeight(dtype: dtype, rows: rows, cols: cols, rng: &rng)
                    let x = rng.floats(n * cols, scale: 3)
                    let bias = rng.floats(rows)
                    var ref = [Float](repeating: 0, count: n * rows)
                    Linear.forwardRefQuantizedActivations(w.matrix, x: x, n: n, y: &ref, bias: bias)
                    for pool in pools.prefix(2) {
                        var y = [Float](repeating: .nan, count: n * rows)
                        Linear.forward(w.matrix, x: x, n: n, y: &y, bias: bias, pool: pool)
                        if Linear.usesBF16Tiles(w.matrix, n: n) {
                            var exact = [Float](repeating: 0, count: n * rows)
                            Linear.forwardRef(w.matrix, x: x, n: n, y: &exact, bias: bias)
                            checkBF16Tiles(w.matrix, x: x, n: n, bias: bias, y: y, ref: exact,
                                           ctx: "\(KernelISA.name) \(dtype) \(rows)x\(cols) n=\(n) threads=\(pool.threadCount)")
                            continue
                        }
                        // Same integer dots and scale products as the twin; only the f32 order of the
                        // per-block sums differs: 1e-6 * sqrt(cols) relative (as the other quantized tests).
                        let d = compare(y, ref)
                        XCTAssertLessThanOrEqual(d.maxRel, 1e-6 * Float(cols).squareRoot(),
                                                 "\(KernelISA.name) \(dtype) \(rows)x\(cols) n=\(n) threads=\(pool.threadCount): \(d)")
                    }
                }
            }
        }
    }

    /// The bf16 tile GEMM (ISA level 4, n >= Linear.amxMinRows) against its twin (same bf16 products, exact in
    /// f32, summed in Double: only the f32 accumulation order differs, eps * sqrt(cols) relative to the output
    /// scale as for the float paths) and against the f32 product `ref`: rounding x and w to bf16 moves each
    /// product by <= (2^-8 + 2^-18) |x w|, so per output |err| <= 2^-8 * 1.01 * sum_k |x_k w_k| (+ f32 slack).
    func checkBF16Tiles(_ w: WeightMatrix, x: [Float], n: Int, bias: [Float]?, y: [Float], ref: [Float], ctx: String) {
        var twin = [Float](repeating: 0, count: n * w.rows)
        Linear.forwardRefBF16(w, x: x, n: n, y: &twin, bias: bias)
        let d = compare(y, twin)
        XCTAssertLessThanOrEqual(d.maxRel, 1e-6 * Float(w.cols).squareRoot(), "\(ctx) vs bf16 twin: \(d)")
        var row = [Float](repeating: 0, count: w.cols)
        for r in 0..<w.rows {
            row.withUnsafeMutableBufferPointer { w.dequantizeRowRef(r, into: $0.baseAddress!) }
            for i in 0..<n {
                var absSum: Float = 0
                for k in 0..<w.cols { absSum += abs(x[i * w.cols + k] * row[k]) }
                let j = i * w.rows + r
                XCTAssertLessThanOrEqual(abs(y[j] - ref[j]), absSum * 0.00395 + 1e-5, "\(ctx) vs f32 product at \(j)")
            }
        }
    }

    /// The int8 tile GEMM (q8r weights, ISA level 4, n >= Linear.amxMinRows) against its twin, bit for bit (same
    /// int8 activations, exact int32 dots, the same scale product and fma), and against the f32 product `ref`:
    /// each activation moves by <= max|x_i| / 254 (half a step of its row's scale) and the weights are the stored
    /// ones, so per output |err| <= (max|x_i| / 254) * sum_k |w_k| (+ f32 slack).
    func checkInt8Tiles(_ w: WeightMatrix, x: [Float], n: Int, bias: [Float]?, y: [Float], ref: [Float], ctx: String) {
        var twin = [Float](repeating: 0, count: n * w.rows)
        Linear.forwardRefInt8Rows(w, x: x, n: n, y: &twin, bias: bias)
        let mismatches = (0..<(n * w.rows)).filter { y[$0].bitPattern != twin[$0].bitPattern && !(y[$0] == 0 && twin[$0] == 0) }
        XCTAssertTrue(mismatches.isEmpty, "\(ctx) vs int8 twin: \(mismatches.count) outputs differ, first at \(mismatches.first ?? -1)")
        var row = [Float](repeating: 0, count: w.cols)
        for r in 0..<w.rows {
            row.withUnsafeMutableBufferPointer { w.dequantizeRowRef(r, into: $0.baseAddress!) }
            for i in 0..<n {
                var amax: Float = 0, wSum: Float = 0
                for k in 0..<w.cols { amax = max(amax, abs(x[i * w.cols + k])); wSum += abs(row[k]) }
                let j = i * w.rows + r
                XCTAssertLessThanOrEqual(abs(y[j] - ref[j]), amax / 254 * wSum * 1.01 + 1e-5, "\(ctx) vs f32 product at \(j)")
            }
        }
    }

    func testForwardWithoutBiasAndLargeNForFloatPanels() {
        // n >= 16 takes the packed sgemm path for f16/bf16/f32 (and the tile kernel for q8/q4).
        // Second shape: cols > 256 crosses the sgemm depth block (KC), odd cols the 16-lane tails,
        // rows 45 a partial 32-row panel; n = 17 a partial 12-row panel.
        var rng = TestRNG(seed: 2)
        for dtype in weightDTypes { for (rows, baseCols, n) in [(131, 64, 20), (45, 288, 17)] {
            let cols = dtype.isQuantized || baseCols == 64 ? baseCols : baseCols + 13
            let w = OwnedWeight(dtype: dtype, rows: rows, cols: cols, rng: &rng)
            let x = rng.floats(n * cols)
            var ref = [Float](repeating: 0, count: n * rows)
            if dtype.isQuantized { Linear.forwardRefQuantizedActivations(w.matrix, x: x, n: n, y: &ref, bias: nil) }
            else { Linear.forwardRef(w.matrix, x: x, n: n, y: &ref, bias: nil) }
            for pool in pools {
                var y = [Float](repeating: .nan, count: n * rows)
                Linear.forward(w.matrix, x: x, n: n, y: &y, pool: pool)
                let d = compare(y, ref)
                XCTAssertLessThanOrEqual(d.maxRel, 1e-6 * Float(cols).squareRoot(), "\(dtype) \(rows)x\(cols) n=\(n) threads=\(pool.threadCount): \(d)")
            }
        } }
    }

    func testBackwardInputMatchesReference() {
        var rng = TestRNG(seed: 3)
        for dtype in weightDTypes {
            for (rows, baseCols, n) in [(7, 64, 1), (37, 96, 3), (20, 160, 9)] {
                let cols = dtype.isQuantized ? baseCols : baseCols + 5
                let w = OwnedWeight(dtype: dtype, rows: rows, cols: cols, rng: &rng)
                let dy = rng.floats(n * rows)
                let prior = rng.floats(n * cols)
                for accumulate in [false, true] {
                    var ref = prior
                    Linear.backwardInputRef(w.matrix, dy: dy, n: n, dx: &ref, accumulate: accumulate)
                    for pool in pools {
                        var dx = prior
                        Linear.backwardInput(w.matrix, dy: dy, n: n, dx: &dx, accumulate: accumulate, pool: pool)
                        // sums over `rows` products in f32 (sgemm order) vs Double: eps * sqrt(rows) scale.
                        let d = compare(dx, ref)
                        XCTAssertLessThanOrEqual(d.maxRel, 1e-6 * Float(rows).squareRoot() * 4,
                                                 "\(dtype) \(rows)x\(cols) n=\(n) acc=\(accumulate) threads=\(pool.threadCount): \(d)")
                    }
                }
            }
        }
    }

    func testActivationQuantIsBitIdenticalToReference() {
        var rng = TestRNG(seed: 4)
        forEachISA { isa in
            for count in [32, 96, 896] {
                var x = rng.floats(count, scale: 3)
                x[0] = 0; if count > 64 { for i in 32..<64 { x[i] = 0 } }   // an all-zero block (d = 0)
                x[5] = 127.5 / 127 * 3     // values landing on .5 after scaling exercise round-half-away
                var fast = [UInt8](repeating: 0, count: count / 32 * 34)
                var ref = fast
                ActivationQuant.quantizeQ8(x, count: count, into: &fast)
                x.withUnsafeBufferPointer { src in
                    ref.withUnsafeMutableBytes { BlockQ8_0.quantizeRef(src, into: $0) }
                }
                XCTAssertEqual(fast, ref, "\(isa) count=\(count)")
            }
            // exact halves: x = (k + 0.5) * d with d = 1 (amax 127)
            var h = (0..<32).map { Float($0) - 15.5 }
            h[31] = 127
            var fast = [UInt8](repeating: 0, count: 34), ref = fast
            ActivationQuant.quantizeQ8(h, count: 32, into: &fast)
            h.withUnsafeBufferPointer { src in ref.withUnsafeMutableBytes { BlockQ8_0.quantizeRef(src, into: $0) } }
            XCTAssertEqual(fast, ref, "\(isa) halves")
        }
    }

    func testEmbeddingLookup() {
        var rng = TestRNG(seed: 5)
        for dtype in weightDTypes {
            let w = OwnedWeight(dtype: dtype, rows: 11, cols: 64, rng: &rng)
            let ids: [Int32] = [0, 10, 3, 3]
            var out = [Float](repeating: .nan, count: ids.count * 64), ref = out
            Ops.embeddingLookup(w.matrix, ids: ids, out: &out)
            Ops.embeddingLookupRef(w.matrix, ids: ids, out: &ref)
            XCTAssertEqual(out, ref, "\(dtype): dequantization is exact in both")
        }
    }

    /// forwardMany (q, k, v of one input) equals one forward per weight bit for bit, on the bf16 and int8 tiles (x
    /// staged once), on the float-weight GEMVs (one dispatch) and on the other paths (n below the tile threshold,
    /// float weights, mixed column counts).
    func testForwardManyEqualsSeparateForwards() {
        var rng = TestRNG(seed: 41)
        for (dtype, n, colsB) in [(DType.q8, 45, 96), (.q4, 70, 64), (.q8, 7, 64), (.f32, 40, 64), (.q4_1, 33, 96), (.q8r, 40, 96), (.q8r, 9, 64),
                                    (.f16, 1, 64), (.bf16, 3, 96), (.f16, 15, 64), (.f32, 2, 64)] {   // (one-dispatch float GEMVs)
            let cols = 32 * (colsB / 32)
            let ws = [OwnedWeight(dtype: dtype, rows: 37, cols: cols, rng: &rng), OwnedWeight(dtype: dtype, rows: 64, cols: cols, rng: &rng),
                      OwnedWeight(dtype: dtype, rows: 33, cols: cols, rng: &rng)]
            let x = rng.floats(n * cols), b0 = rng.floats(37), b2 = rng.floats(33)
            for pool in pools.prefix(2) {
                var sep = ws.map { [Float](repeating: 0, count: n * $0.matrix.rows) }
                Linear.forward(ws[0].matrix, x: x, n: n, y: &sep[0], bias: b0, pool: pool)
                Linear.forward(ws[1].matrix, x: x, n: n, y: &sep[1], pool: pool)
                Linear.forward(ws[2].matrix, x: x, n: n, y: &sep[2], bias: b2, pool: pool)
                let ys = ws.map { w -> UnsafeMutablePointer<Float> in
                    let p = UnsafeMutablePointer<Float>.allocate(capacity: n * w.matrix.rows)
                    p.initialize(repeating: .nan, count: n * w.matrix.rows)
                    return p
                }
                defer { ys.forEach { $0.deallocate() } }
                b0.withUnsafeBufferPointer { bb0 in b2.withUnsafeBufferPointer { bb2 in
                    Linear.forwardMany([(ws[0].matrix, ys[0], bb0.baseAddress!), (ws[1].matrix, ys[1], nil),
                                        (ws[2].matrix, ys[2], bb2.baseAddress!)], x: x, n: n, pool: pool)
                } }
                let many = zip(ws, ys).map { w, p in Array(UnsafeBufferPointer(start: p, count: n * w.matrix.rows)) }
                XCTAssertEqual(many, sep, "\(dtype) n=\(n) threads=\(pool.threadCount)")
            }
        }
    }

    /// forwardMany over weights of different tile kinds (Whisper: q8r q/k on the int8 tiles, q8 v on the bf16
    /// tiles) and below the tile threshold: equal to separate forwards bit for bit.
    func testForwardManyMixedTileKindsEqualsSeparateForwards() {
        var rng = TestRNG(seed: 42)
        for n in [40, 9] {
            let ws = [OwnedWeight(dtype: .q8r, rows: 37, cols: 96, rng: &rng), OwnedWeight(dtype: .q8, rows: 64, cols: 96, rng: &rng),
                      OwnedWeight(dtype: .q8r, rows: 33, cols: 96, rng: &rng)]
            let x = rng.floats(n * 96), b = rng.floats(64)
            for pool in pools.prefix(2) {
                var sep = ws.map { [Float](repeating: 0, count: n * $0.matrix.rows) }
                Linear.forward(ws[0].matrix, x: x, n: n, y: &sep[0], pool: pool)
                Linear.forward(ws[1].matrix, x: x, n: n, y: &sep[1], bias: b, pool: pool)
                Linear.forward(ws[2].matrix, x: x, n: n, y: &sep[2], pool: pool)
                var y0 = [Float](repeating: .nan, count: n * 37), y1 = [Float](repeating: .nan, count: n * 64)
                var y2 = [Float](repeating: .nan, count: n * 33)
                y0.withUnsafeMutableBufferPointer { p0 in y1.withUnsafeMutableBufferPointer { p1 in
                    y2.withUnsafeMutableBufferPointer { p2 in b.withUnsafeBufferPointer { bb in
                        Linear.forwardMany([(ws[0].matrix, p0.baseAddress!, nil), (ws[1].matrix, p1.baseAddress!, bb.baseAddress!),
                                            (ws[2].matrix, p2.baseAddress!, nil)], x: x, n: n, pool: pool)
                    } }
                } }
                let many = [y0, y1, y2]
                XCTAssertEqual(many, sep, "n=\(n) threads=\(pool.threadCount)")
            }
        }
    }
}
