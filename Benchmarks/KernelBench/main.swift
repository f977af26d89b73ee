// KernelBench: throughput of the layer-1 kernels on the Qwen2-0.5B / Whisper shapes.
//
//   swift build -c release --product KernelBench && .build/release/KernelBench [gemv|gemvn|head|decode|gemm|omni|attn|stream|pool|all] [--threads 1,2] [--cpu-time] [--isa N]
// attn: Whisper-large encoder (n=1500, 20 heads), SigLIP frame (196, 12), BERT (50, 12), Qwen2 causal prefill/decode.
//
// stream: pure read bandwidth (sum of 64-bit words over a 512 MB buffer per thread): the ceiling for GEMV.
// pool: cost of one empty parallelFor (count = threads) on the pool, in microseconds.
// gemvn: q8/q4 (q4_1) GEMV with n = 1..8 (BENCH_N) activation rows (batched decode), GB/s of weights.
// decode: the matmuls of one Qwen2-0.5B decode step (169 matrices, from DRAM); BENCH_DTYPES picks q4,q8 (default), q4_1, f16, bf16.
// Weights sit in huge pages as the runtime keeps them; SENTIO_HUGEPAGES=0 gives 4 KiB pages (for A/B runs).
//
// Measured (Sapphire Rapids-class VM, 2 vCPUs shared with other builds, thread CPU time, +-20% noise):
//   stream 512 MB: 11.7-15 GB/s per thread; 2 threads together 12.1 GB/s wall (no gain over 1 thread).
//   q8 GEMV 1T: 151936x896 10.5-11.0 GB/s (was 6.5), 4864x896 ~22-25, 896x4864 ~20-23 (LLC-resident).
//   q4 GEMV 1T: 151936x896 ~11 GB/s (was 6.2).  Empty parallelFor 2T: 0.2 us (was 28-140 us).
//   sentio bench tg64 1T, Qwen2.5-Coder-0.5B: q8 94.8 -> 54 ms CPU/token, q4 58.3 -> 34.1 ms CPU/token.
//
//   perf2 (thread CPU time, 1T, same machine, before -> after; noise +-20% from the other helper's builds):
//     GEMM n=512 512x4864x896: q4 53 -> 222-341 GOPS, q8 63 -> 236-333 (AMX-INT8; VNNI-512 kernel 133-147),
//       f16 14 -> 68-76 GFLOP/s, bf16 11 -> 70-76, f32 18 -> 66-99 (own packed sgemm; OpenBLAS ran its
//       SSE3 Prescott kernel here).  512x896x4864: q4 51 -> 279-342, q8 70 -> 342-351, f16 18 -> 55-70.
//     Attention full n=1500 h=20 d=64: 889 -> 240 ms; causal nQ=1000 f16 paged: 120 -> 32-35 ms;
//     full n=196 h=12 (SigLIP frame) 2.25 ms, n=50 h=12 (BERT) 0.25 ms.
//
// GEMV: GB/s of weight bytes read per call (decode is bandwidth bound: ~26 GB/s 1 thread, ~32 GB/s 2).
// GEMM: GFLOP/s of 2*n*rows*cols for a 512-token prefill. Attention: ms per call.
import Foundation
import SentioCore
import SentioKernels
import CSentioKernels

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// CPU time of the calling thread. With --cpu-time, 1-thread runs are timed with it: on a machine
/// shared with other jobs it leaves out the time this thread was not scheduled.
func threadCPU() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
nonisolated(unsafe) var useCPUTime = CommandLine.arguments.contains("--cpu-time")
nonisolated(unsafe) var timingThreads = 1

/// Runs body repeatedly for at least `minTime` seconds after one warm-up; returns the fastest call in
/// seconds (the machine is shared: the minimum is the figure least disturbed by other processes).
func timeIt(minTime: Double = 0.4, _ body: () -> Void) -> Double {
    body()
    let t0 = now()
    var best = Double.infinity
    var t = t0
    let cpu = useCPUTime && timingThreads == 1
    repeat {
        let a = now(), ca = cpu ? threadCPU() : 0
        body()
        t = now()
        best = min(best, cpu ? threadCPU() - ca : t - a)
    } while t - t0 < minTime
    return best
}

/// Weight bytes with values that are finite and small for every dtype.
func makeWeight(_ dtype: DType, rows: Int, cols: Int, arena: HugePageArena? = nil) -> (UnsafeMutableRawPointer, WeightMatrix) {
    let rowBytes = cols / dtype.blockSize * dtype.bytesPerBlock
    // As the runtime holds weights: huge pages unless SENTIO_HUGEPAGES=0 (SentioCore/HugePages.swift); with an arena,
    // packed one after another in huge-page slabs as a GGUF converted in memory (InMemoryWeights).
    let p = arena?.allocate(byteCount: rows * rowBytes).baseAddress ?? HugePages.allocate(byteCount: rows * rowBytes).baseAddress!
    var s: UInt32 = 12345
    func rnd() -> UInt32 { s = s &* 1664525 &+ 1013904223; return s >> 8 }
    let f = Float(0.01)
    switch dtype {
    case .f32:
        let q = p.assumingMemoryBound(to: Float.self)
        for i in 0..<(rows * cols) { q[i] = Float(Int(rnd() & 255) - 128) * f / 128 }
    case .f16, .bf16:
        let q = p.assumingMemoryBound(to: UInt16.self)
        for i in 0..<(rows * cols) {
            let v = Float(Int(rnd() & 255) - 128) * f / 128
            q[i] = dtype == .f16 ? floatToF16(v) : floatToBF16(v)
        }
    default:
        let b = p.assumingMemoryBound(to: UInt8.self)
        for i in 0..<(rows * rowBytes) { b[i] = UInt8(truncatingIfNeeded: rnd()) }
        let scale = floatToF16(0.001)
        for r in 0..<rows { for blk in 0..<(cols / 32) {
            (p + r * rowBytes + blk * dtype.bytesPerBlock).storeBytes(of: scale, as: UInt16.self)
            if dtype == .q4_1 { (p + r * rowBytes + blk * dtype.bytesPerBlock + 2).storeBytes(of: scale, as: UInt16.self) }
        } }
    }
    return (p, WeightMatrix(dtype: dtype, rows: rows, cols: cols, data: p))
}

let args = CommandLine.arguments.dropFirst()
let what = args.first { !$0.hasPrefix("--") && Int($0) == nil } ?? "all"
var threadList = [1, 2]
if let i = args.firstIndex(of: "--threads"), i + 1 < args.endIndex {
    threadList = args[i + 1].split(separator: ",").compactMap { Int($0) }
}
// --isa N caps the kernels' ISA level (0 scalar, 1 AVX2, 2 AVX-512, 3 VNNI, 4 AMX): the AVX2 paths measured on
// an AVX-512 machine.
if let i = args.firstIndex(of: "--isa"), i + 1 < args.endIndex, let level = Int(args[i + 1]) { KernelISA.limit(level) }
print("KernelBench  isa=\(KernelISA.name)  timing=\(useCPUTime ? "thread CPU time for 1T" : "wall")  cpus=\(ProcessInfo.processInfo.activeProcessorCount)")

if what == "gemv" || what == "all" {
    print("\nGEMV (n=1): GB/s of weights, ms per call")
    print("shape (rows x cols)   dtype  " + threadList.map { "  \($0)T GB/s     ms" }.joined())
    let only = ProcessInfo.processInfo.environment["BENCH_DTYPES"]?.split(separator: ",").map(String.init)
    for (rows, cols) in [(4864, 896), (896, 4864), (151936, 896)] {
        for dtype in [DType.q4, .q4_1, .q5, .q8, .bf16, .f16, .f32] where only?.contains(dtype.name) ?? true {
            let (p, w) = makeWeight(dtype, rows: rows, cols: cols)
            let x = (0..<cols).map { Float(sin(Double($0))) }
            var y = [Float](repeating: 0, count: rows)
            var line = String(format: "%-21@ %-5@ ", "\(rows)x\(cols)" as NSString, dtype.name as NSString)
            for t in threadList {
                let pool = ThreadPool(threads: t)
                timingThreads = t
                let sec = timeIt(minTime: rows > 100_000 ? 0.8 : 0.3) { Linear.forward(w, x: x, n: 1, y: &y, pool: pool) }
                line += String(format: "  %8.1f %7.3f", Double(w.byteCount) / sec / 1e9, sec * 1e3)
            }
            print(line)
            p.deallocate()
        }
    }
}

if what == "head" || what == "all" {
    // The output head's two decode paths: Linear.forward (Q8_0 activations, integer dots) and
    // Linear.forwardPrecise (two Q8_0 terms of the activations, 8 rows per pass), n = 1 ... 128.
    print("\nHead GEMV 151936x896: GB/s of weights, ms per call (int = Q8_0 activations, 2q8 = Linear.forwardPrecise)")
    print("dtype n path" + threadList.map { "  \($0)T GB/s     ms" }.joined())
    let only = ProcessInfo.processInfo.environment["BENCH_DTYPES"]?.split(separator: ",").map(String.init)
    for dtype in [DType.q8, .q4, .q4_1, .q5] where only?.contains(dtype.name) ?? true {
        let (rows, cols) = (151936, 896)
        let (p, w) = makeWeight(dtype, rows: rows, cols: cols)
        for n in [1, 4, 16, 32, 64, 128] {
            let x = (0..<(n * cols)).map { Float(sin(Double($0))) }
            var y = [Float](repeating: 0, count: n * rows)
            for precise in [false, true] {
                var line = String(format: "%-5@ %d %@ ", dtype.name as NSString, n, precise ? "2q8" : "int")
                for t in threadList {
                    let pool = ThreadPool(threads: t)
                    timingThreads = t
                    let sec = timeIt(minTime: 0.8) {
                        if precise { Linear.forwardPrecise(w, x: x, n: n, y: &y, pool: pool) }
                        else { Linear.forward(w, x: x, n: n, y: &y, pool: pool) }
                    }
                    line += String(format: "  %8.1f %7.3f", Double(w.byteCount) / sec / 1e9, sec * 1e3)
                }
                print(line)
            }
        }
        p.deallocate()
    }
}

if what == "gemm" || what == "all" {
    print("\nGEMM (prefill n=512): GFLOP/s, ms per call")
    print("n x rows x cols        dtype  " + threadList.map { "  \($0)T GFLOP/s    ms" }.joined())
    let only = ProcessInfo.processInfo.environment["BENCH_DTYPES"]?.split(separator: ",").map(String.init)
    for (rows, cols) in [(4864, 896), (896, 4864)] {
        for dtype in [DType.q4, .q4_1, .q8, .bf16, .f16, .f32] where only?.contains(dtype.name) ?? true {
            let n = 512
            let (p, w) = makeWeight(dtype, rows: rows, cols: cols)
            let x = (0..<(n * cols)).map { Float(sin(Double($0) * 0.37)) }
            var y = [Float](repeating: 0, count: n * rows)
            var line = String(format: "%-22@ %-5@ ", "512x\(rows)x\(cols)" as NSString, dtype.name as NSString)
            for t in threadList {
                let pool = ThreadPool(threads: t)
                timingThreads = t
                let sec = timeIt(minTime: 0.5) { Linear.forward(w, x: x, n: n, y: &y, pool: pool) }
                line += String(format: "  %10.1f %7.2f", 2.0 * Double(n * rows * cols) / sec / 1e9, sec * 1e3)
            }
            print(line)
            p.deallocate()
        }
    }
}

if what == "omni" {
    // R1-Omni encoder / prefill shapes: Whisper-large-v3 (n=1500 frames, 1280 wide, MLP 5120) and the
    // Qwen2-0.5B prefill of the R1-Omni prompt (n=974). % of peak against the per-core peaks that
    // Benchmarks/peak/peak.c measures (override with PEAK_INT8 / PEAK_F32, GOPS per core).
    let env = ProcessInfo.processInfo.environment
    let peakInt8 = Double(env["PEAK_INT8"] ?? "") ?? 649, peakF32 = Double(env["PEAK_F32"] ?? "") ?? 167
    let peakTileInt8 = Double(env["PEAK_TILE_INT8"] ?? "") ?? 1280   // tdpbssd, q8r on the int8 tiles
    let only = env["BENCH_DTYPES"]?.split(separator: ",").map(String.init) ?? ["q8", "q4", "f32"]
    print("\nGEMM, R1-Omni shapes: GOPS (2*n*rows*cols / s), % of peak (int8 \(peakInt8), q8r tiles \(peakTileInt8), f32 \(peakF32) per core), ms")
    print("n x rows x cols           dtype  " + threadList.map { "  \($0)T  GOPS   %peak      ms" }.joined())
    let shapes = [(1500, 1280, 1280), (1500, 5120, 1280), (1500, 1280, 5120),
                  (974, 896, 896), (974, 128, 896), (974, 4864, 896), (974, 896, 4864)]
    for (n, rows, cols) in shapes {
        for name in only {
            guard let dtype = DType.allCases.first(where: { $0.name == name }) else { continue }
            let (p, w) = makeWeight(dtype, rows: rows, cols: cols)
            let x = (0..<(n * cols)).map { Float(sin(Double($0) * 0.37)) }
            var y = [Float](repeating: 0, count: n * rows)
            var line = String(format: "%-25@ %-5@ ", "\(n)x\(rows)x\(cols)" as NSString, dtype.name as NSString)
            let peak = dtype == .q8r && KernelISA.level >= 4 ? peakTileInt8 : dtype.isQuantized ? peakInt8 : peakF32
            for t in threadList {
                let pool = ThreadPool(threads: t)
                timingThreads = t
                let sec = timeIt(minTime: 0.6) { Linear.forward(w, x: x, n: n, y: &y, pool: pool) }
                let gops = 2.0 * Double(n * rows * cols) / sec / 1e9
                line += String(format: "  %7.1f %6.1f%% %7.2f", gops, 100 * gops / (peak * Double(t)), sec * 1e3)
            }
            print(line)
            p.deallocate()
        }
    }
}

if what == "attn" || what == "all" {
    print("\nAttention: ms per call")
    for t in threadList {
        let pool = ThreadPool(threads: t)
                timingThreads = t
        // Whisper encoder: n=1500, 20 heads x 64
        let (n, heads, hd) = (1500, 20, 64)
        let q = (0..<(n * heads * hd)).map { Float(sin(Double($0) * 0.01)) }
        var out = [Float](repeating: 0, count: n * heads * hd)
        for path in ["sgemm", "blocked", "amx-bf16"] {
            if path == "amx-bf16" && sentio_attn_amx_available(hd) == 0 { continue }
            Attention.useBlockedFull = path != "sgemm"
            let precision: AttentionPrecision = path == "amx-bf16" ? .bf16 : .f32
            let sec = timeIt(minTime: 0.5) {
                Attention.full(q: q, k: q, v: q, n: n, heads: heads, headDim: hd, out: &out, precision: precision, pool: pool)
            }
            print(String(format: "full n=1500 h=20 d=64 %-8@ %dT  %8.2f ms  (%.1f GFLOP/s)", path as NSString, t, sec * 1e3,
                         4.0 * Double(n * n * heads * hd) / sec / 1e9))
        }
        // SigLIP (one frame: n=196, 12 heads x 64) and BERT (n=50, 12 heads x 64) encoder layers
        for (n2, h2, label) in [(196, 12, "full n=196 h=12 d=64 (SigLIP)"), (50, 12, "full n=50 h=12 d=64 (BERT)  ")] {
            let q2 = (0..<(n2 * h2 * 64)).map { Float(sin(Double($0) * 0.013)) }
            var o2 = [Float](repeating: 0, count: n2 * h2 * 64)
            let s2 = timeIt(minTime: 0.3) { Attention.full(q: q2, k: q2, v: q2, n: n2, heads: h2, headDim: 64, out: &o2, pool: pool) }
            print(String(format: "%@ %dT  %8.3f ms  (%.1f GFLOP/s)", label as NSString, t, s2 * 1e3,
                         4.0 * Double(n2 * n2 * h2 * 64) / s2 / 1e9))
        }
        // Qwen2 prefill 1000 tokens, 14/2 heads, f16 paged KV (16-token blocks), then one decode step at 1000
        for (nQ, start) in [(1000, 0), (1, 999)] {
            let (kvh, h2, bt, len) = (2, 14, 16, 1000)
            let blocks = (len + bt - 1) / bt
            let blockBytes = kvh * bt * hd * 2
            let kb = (0..<blocks).map { _ in UnsafeMutableRawPointer.allocate(byteCount: blockBytes, alignment: 64) }
            let vb = (0..<blocks).map { _ in UnsafeMutableRawPointer.allocate(byteCount: blockBytes, alignment: 64) }
            let kv = KVView(dtype: .f16, kvHeads: kvh, headDim: hd, blockTokens: bt, kBlocks: kb, vBlocks: vb, length: len)
            let kvals = (0..<(len * kvh * hd)).map { Float(cos(Double($0) * 0.003)) }
            kv.store(k: kvals, v: kvals, start: 0, n: len)
            let qq = (0..<(nQ * h2 * hd)).map { Float(sin(Double($0) * 0.01)) }
            var o = [Float](repeating: 0, count: nQ * h2 * hd)
            for (name, precision) in [("f32", AttentionPrecision.f32), ("bf16", .bf16), ("bf16-split", .bf16SplitScores)] {
                if precision != .f32 && (nQ == 1 || sentio_attn_amx_available(hd) == 0) { continue }
                let s2 = timeIt(minTime: 0.3) {
                    Attention.causal(q: qq, nQ: nQ, start: start, heads: h2, kv: kv, out: &o, precision: precision, pool: pool)
                }
                print(String(format: "causal nQ=%4d start=%3d f16 paged %-10@ %dT  %8.3f ms", nQ, start, name as NSString, t, s2 * 1e3))
            }
            kb.forEach { $0.deallocate() }; vb.forEach { $0.deallocate() }
        }
    }
}

if what == "gemvn" {
    // BENCH_N: the n values (default 1...8, e.g. BENCH_N=1,4,8,16); BENCH_DTYPES: q4,q8,q4_1 (default q4,q8).
    let ns = ProcessInfo.processInfo.environment["BENCH_N"]?.split(separator: ",").compactMap { Int($0) } ?? Array(1...8)
    let only = ProcessInfo.processInfo.environment["BENCH_DTYPES"]?.split(separator: ",").map(String.init)
    print("\nGEMV n = \(ns.map(String.init).joined(separator: ",")) (batched decode): GB/s of weights read once per call, 1 thread")
    for (rows, cols) in [(4864, 896), (896, 4864), (151936, 896)] {
        for dtype in [DType.q4, .q8, .q4_1] where only?.contains(dtype.name) ?? (dtype != .q4_1) {
            let (p, w) = makeWeight(dtype, rows: rows, cols: cols)
            var line = String(format: "%-13@ %-3@", "\(rows)x\(cols)" as NSString, dtype.name as NSString)
            let pool = ThreadPool(threads: 1)
            timingThreads = 1
            for n in ns {
                let x = (0..<(n * cols)).map { Float(sin(Double($0) * 0.7)) }
                var y = [Float](repeating: 0, count: n * rows)
                let sec = timeIt(minTime: rows > 100_000 ? 0.6 : 0.2) { Linear.forward(w, x: x, n: n, y: &y, pool: pool) }
                line += String(format: "  n=%-2d %5.1f", n, Double(w.byteCount) / sec / 1e9)
            }
            print(line)
            p.deallocate()
        }
    }
}

// decode: the matrices of one Qwen2-0.5B decode step (24 layers x q/k/v/o/gate/up/down and the 151936-row
// head; q4 ~280 MB, q8 ~530 MB, so they stream from DRAM as in real decode) at n = 1 and the batched n
// (BENCH_N, default 1,8,16), DECODE_THREADS threads (default 1); each batched n with the tile GEMM, the activation-lane batched GEMV
// and (n <= 8) the row-lane batched GEMV, interleaved in the same process. Prints ms per step (best of 3) and the aggregate speedup n * t(1) / t(n).
if what == "decode" {
    let ns = ProcessInfo.processInfo.environment["BENCH_N"]?.split(separator: ",").compactMap { Int($0) } ?? [1, 8, 16]
    let only = ProcessInfo.processInfo.environment["BENCH_DTYPES"]?.split(separator: ",").map(String.init)
    // DECODE_MERGED=1: the same bytes as 8 matrices (each kind's 24 layers stacked into one), to separate the per-matrix
    // costs (dispatch, barrier, prefetch ramp at each matrix start) from the streaming itself.
    let merged = ProcessInfo.processInfo.environment["DECODE_MERGED"] == "1"
    let layer: [(Int, Int)] = [(896, 896), (128, 896), (128, 896), (896, 896), (4864, 896), (4864, 896), (896, 4864)]
    let shapes: [(Int, Int)] = merged ? layer.map { ($0.0 * 24, $0.1) } + [(151936, 896)]
                                      : Array(repeating: layer, count: 24).flatMap { $0 } + [(151936, 896)]
    // DECODE_THREADS: thread count (default 1: thread CPU time; more: wall time).
    let threads = Int(ProcessInfo.processInfo.environment["DECODE_THREADS"] ?? "") ?? 1
    print("\nDecode step matmuls (Qwen2-0.5B, \(shapes.count) matrices), \(threads) thread(s): ms per step, n * t(1) / t(n)")
    for dtype in [DType.q4, .q8, .q4_1, .q5, .f16, .bf16] where only?.contains(dtype.name) ?? (dtype == .q4 || dtype == .q8) {
        // (the runtime's placement: every matrix in huge-page slabs, in order of use, as InMemoryWeights holds a GGUF)
        let arena = HugePageArena()
        let ws = shapes.map { makeWeight(dtype, rows: $0.0, cols: $0.1, arena: arena) }
        let pool = ThreadPool(threads: threads)
        timingThreads = threads
        // wall seconds per matrix kind (q, k, v, o, gate, up, down, head) of the last step
        var kindSecs = [Double](repeating: 0, count: 8)
        func step(_ n: Int, _ x: [Float], _ y: inout [Float]) {
            kindSecs = kindSecs.map { _ in 0 }
            for (i, (_, w)) in ws.enumerated() {
                let t0 = now()
                Linear.forward(w, x: x, n: n, y: &y, pool: pool)
                kindSecs[i == ws.count - 1 ? 7 : i % 7] += now() - t0
            }
        }
        var kindBest = [Double](repeating: .infinity, count: 8)
        var t1 = Double.nan
        for n in ns {
            let x = (0..<(n * 4864)).map { Float(sin(Double($0) * 0.7)) }
            var y = [Float](repeating: 0, count: n * 151936)
            // (name, batched-GEMV max n, row-lane kernel on)
            let modes: [(String, Int, Int32)] = n <= 4 ? [("gemv", -1, 1)]
                : [("tile", 4, 1), ("act-lane", 16, 0), ("row-lane", 16, 1)]
            var best = [Double](repeating: .infinity, count: modes.count)
            let rounds = Int(ProcessInfo.processInfo.environment["DECODE_ROUNDS"] ?? "") ?? 3
            for _ in 0..<rounds {
                for (m, mode) in modes.enumerated() {
                    sentio_qgemm_set_batch_gemv_max(mode.1)
                    sentio_qgemm_set_batch_gemv_rowlane(mode.2)
                    let c0 = threads == 1 ? threadCPU() : now()
                    step(n, x, &y)
                    best[m] = min(best[m], (threads == 1 ? threadCPU() : now()) - c0)
                    if n == 1 { kindBest = zip(kindBest, kindSecs).map { min($0, $1) } }
                }
            }
            sentio_qgemm_set_batch_gemv_max(-1)
            sentio_qgemm_set_batch_gemv_rowlane(1)
            if n == 1 { t1 = best[0] }
            let cols = modes.enumerated().map { m, mode in
                String(format: "%@ %7.1f ms  x%.2f", mode.0 as NSString, best[m] * 1e3, Double(n) * t1 / best[m]) }
            print(String(format: "%-5@ n=%-2d  ", dtype.name as NSString, n) + cols.joined(separator: "   "))
            if n == 1 {   // GB/s (wall) of each matrix kind, its best step
                let names = ["q", "k", "v", "o", "gate", "up", "down", "head"]
                let bytes = (0..<8).map { k in ws.enumerated().filter { ($0.offset == ws.count - 1 ? 7 : $0.offset % 7) == k }
                    .reduce(0) { $0 + $1.element.1.byteCount } }
                print("      per kind GB/s (wall): " + (0..<8).map { String(format: "%@ %.1f", names[$0] as NSString,
                    Double(bytes[$0]) / kindBest[$0] / 1e9) }.joined(separator: "  "))
            }
        }
        withExtendedLifetime(arena) {}
    }
}

/// Sum of 64-bit words, 4 independent 512-bit accumulators (vectorized with the target CPU's widest registers).
@inline(never) func streamSum(_ p: UnsafePointer<SIMD8<UInt64>>, _ count: Int) -> UInt64 {
    var a = SIMD8<UInt64>(), b = a, c = a, d = a
    var i = 0
    while i + 4 <= count {
        a &+= p[i]; b &+= p[i + 1]; c &+= p[i + 2]; d &+= p[i + 3]
        i += 4
    }
    return ((a &+ b) &+ (c &+ d)).wrappedSum()
}

if what == "stream" || what == "all" {
    print("\nStream read (bandwidth ceiling): 512 MB per thread, GB/s per thread and total")
    let bytes = 512 << 20
    for t in threadList {
        let bufs = (0..<t).map { _ -> UnsafeMutableRawPointer in
            let b = HugePages.allocate(byteCount: bytes).baseAddress!   // as weights are held
            memset(b, 1, bytes)
            return b
        }
        nonisolated(unsafe) let ptrs = bufs
        let pool = ThreadPool(threads: t)
        nonisolated(unsafe) var cpuSecs = [Double](repeating: .infinity, count: t)
        nonisolated(unsafe) var sink: UInt64 = 0
        var wallBest = Double.infinity
        for _ in 0..<4 {
            let w0 = now()
            pool.parallelFor(t) { j in
                let c0 = threadCPU()
                let s = streamSum(UnsafePointer(ptrs[j].assumingMemoryBound(to: SIMD8<UInt64>.self)), bytes / 64)
                cpuSecs[j] = min(cpuSecs[j], threadCPU() - c0)
                if s == 42 { sink &+= s }
            }
            wallBest = min(wallBest, now() - w0)
        }
        let per = cpuSecs.map { Double(bytes) / $0 / 1e9 }
        print(String(format: "%dT  per-thread CPU-time GB/s: %@   total (wall) %.1f GB/s", t,
                     per.map { String(format: "%.1f", $0) }.joined(separator: ", ") as NSString,
                     Double(bytes * t) / wallBest / 1e9))
        bufs.forEach { $0.deallocate() }
    }
}

if what == "pool" || what == "all" {
    print("\nEmpty parallelFor (count = threads), back to back: microseconds per call")
    for t in threadList where t > 1 {
        let pool = ThreadPool(threads: t)
        nonisolated(unsafe) var hits = 0
        let calls = 20000
        for _ in 0..<3 {
            let w0 = now(), c0 = threadCPU()
            for _ in 0..<calls { pool.parallelFor(t) { i in if i < 0 { hits += 1 } } }
            let wall = now() - w0, cpu = threadCPU() - c0
            print(String(format: "%dT  wall %.2f us/call   caller CPU %.2f us/call", t, wall / Double(calls) * 1e6, cpu / Double(calls) * 1e6))
        }
    }
}
