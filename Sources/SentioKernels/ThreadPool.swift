// ThreadPool: persistent worker threads for the kernels (CSentioKernels/pool.c does the work).
//
// Workers live as long as the pool; each parallelFor hands out indices through an atomic counter,
// the calling thread takes part, and workers spin briefly between jobs (decode issues hundreds of
// short jobs per token) before sleeping. A parallelFor started inside a body runs inline.
import CSentioKernels
import Foundation

public final class ThreadPool: @unchecked Sendable {
    private let handle: OpaquePointer
    public let threadCount: Int

    /// `threads` persistent threads including the caller; threads = 1 runs everything inline.
    public init(threads: Int) {
        threadCount = max(1, threads)
        handle = sentio_pool_create(Int32(threadCount))
    }

    deinit { sentio_pool_destroy(handle) }

    /// The pool kernels use by default: one thread per active processor. Settable (e.g. to pin a
    /// benchmark to 1 or 2 threads).
    nonisolated(unsafe) public static var shared = ThreadPool(threads: ProcessInfo.processInfo.activeProcessorCount)

    /// Runs body(i) for every i in 0..<count, spread over the threads; returns when all are done.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            var fn = escapable
            withUnsafeMutablePointer(to: &fn) { p in
                sentio_pool_run(handle, count, { ctx, i in
                    ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(Int(i))
                }, UnsafeMutableRawPointer(p))
            }
        }
    }

    /// Splits 0..<total into at most `maxChunks` contiguous ranges whose sizes are multiples of
    /// `align` (the last may be shorter), runs body(range) for each.
    public func parallelChunks(_ total: Int, align: Int = 1, maxChunks: Int, _ body: (Range<Int>) -> Void) {
        let ranges = Self.chunkRanges(total, align: align, maxChunks: maxChunks)
        parallelFor(ranges.count) { c in body(ranges[c]) }
    }

    /// Guided cut of 0..<total for equal-cost rows handed out in order: each range takes 1 / (2 * threads) of
    /// what is left (multiples of `align`, at least `minChunk`), so ranges shrink towards the end and the
    /// threads finish within one small range of each other. (Equal ranges leave, on average, half a range of
    /// idle time per thread at the end: for Qwen2's decode ~0.7 ms per token at 2 threads, the head's 16
    /// ranges of 9 MB alone ~0.3 ms.) The last range may be shorter than `minChunk`.
    public static func guidedRanges(_ total: Int, align: Int = 1, threads: Int, minChunk: Int) -> [Range<Int>] {
        let a = max(1, align), t = max(1, threads)
        let least = (max(a, minChunk) + a - 1) / a * a
        var out: [Range<Int>] = []
        var start = 0
        while start < total {
            let share = (total - start) / (2 * t)
            let size = min(total - start, max(least, (share + a - 1) / a * a))
            out.append(start ..< start + size)
            start += size
        }
        return out
    }

    /// The ranges `parallelChunks` runs: 0..<total cut into at most `maxChunks` contiguous ranges of a size
    /// that is a multiple of `align` (the last may be shorter); none for total <= 0.
    public static func chunkRanges(_ total: Int, align: Int = 1, maxChunks: Int) -> [Range<Int>] {
        if total <= 0 { return [] }
        let chunks = max(1, min(maxChunks, (total + align - 1) / align))
        let size = ((total + chunks - 1) / chunks + align - 1) / align * align
        return stride(from: 0, to: total, by: size).map { $0 ..< min(total, $0 + size) }
    }
}

/// Instruction-set control for the C kernels (tests run every level the CPU has).
public enum KernelISA {
    /// 0 scalar C, 1 AVX2+FMA+F16C, 2 AVX-512, 3 AVX-512 VNNI, 4 AMX-BF16 tiles (GEMM n >= 32, encoder attention); capped by `limit`.
    public static var level: Int { Int(sentio_isa_level()) }
    /// Highest level this CPU supports.
    public static var maxSupported: Int {
        let saved = level
        sentio_set_isa_limit(4)
        let m = Int(sentio_isa_level())
        sentio_set_isa_limit(Int32(saved))
        return m
    }
    /// Caps the level used from now on (process wide; for tests and benchmarks).
    public static func limit(_ level: Int) { sentio_set_isa_limit(Int32(level)) }
    public static var name: String { ["scalar", "avx2", "avx512", "avx512-vnni", "amx-bf16"][level] }
}
