// ThreadPool coverage and Gemm.sgemm vs its plain-loop twin for every transpose combination.
import XCTest
@testable import SentioKernels
import SentioTestSupport

final class ThreadPoolGemmTests: XCTestCase {
    /// Back-to-back short jobs of varying size (the decode pattern): a worker waking late must never run
    /// an item of a job twice, skip one, or run one after parallelFor returned.
    func testBackToBackJobsRunEachItemExactlyOnce() {
        for pool in pools where pool.threadCount > 1 {
            let hits = UnsafeMutablePointer<Int32>.allocate(capacity: 16)
            nonisolated(unsafe) let h = hits
            for job in 0..<3000 {
                let count = 2 + job % 15
                hits.initialize(repeating: 0, count: 16)
                pool.parallelFor(count) { i in
                    var s = 0
                    for k in 0..<(i * 50) { s &+= k }       // uneven item lengths
                    if s >= 0 { h[i] += 1 }
                }
                let got = Array(UnsafeBufferPointer(start: hits, count: 16))
                let want = (0..<16).map { Int32($0 < count ? 1 : 0) }
                if got != want { XCTFail("threads=\(pool.threadCount) job \(job) count \(count): \(got)"); break }
            }
            hits.deallocate()
        }
    }

    /// Guided ranges cover 0..<total in order without gaps, are multiples of align (but the last) and at least
    /// minChunk (but the last), and shrink: each takes 1 / (2 * threads) of what is left.
    func testGuidedRanges() {
        XCTAssertEqual(ThreadPool.guidedRanges(0, align: 4, threads: 2, minChunk: 8), [])
        XCTAssertEqual(ThreadPool.guidedRanges(100, align: 4, threads: 2, minChunk: 8).map(\.count),
                       [28, 20, 16, 12, 8, 8, 8])   // 100/4 = 25 -> 28; 72/4 = 18 -> 20; 52/4 -> 16; 36/4 -> 12; 8...
        XCTAssertEqual(ThreadPool.guidedRanges(10, align: 4, threads: 2, minChunk: 1).map(\.count), [4, 4, 2])
        for (total, align, threads, minChunk) in [(896, 4, 2, 36), (4864, 4, 3, 8), (151936, 4, 2, 36), (7, 1, 4, 1), (33, 16, 2, 40)] {
            let r = ThreadPool.guidedRanges(total, align: align, threads: threads, minChunk: minChunk)
            XCTAssertEqual(r.first?.lowerBound, 0)
            XCTAssertEqual(r.last?.upperBound, total)
            for (a, b) in zip(r, r.dropFirst()) {
                XCTAssertEqual(a.upperBound, b.lowerBound)
                XCTAssertTrue(a.count % align == 0 && a.count >= minChunk && a.count >= b.count, "\(total): \(a) then \(b)")
            }
        }
        // Qwen2's head on 2 threads: a few dozen ranges instead of 16 equal ones, the last ones ~32 KiB
        let head = ThreadPool.guidedRanges(151936, align: 4, threads: 2, minChunk: 36)
        XCTAssertLessThan(head.count, 40)
        XCTAssertLessThanOrEqual(head.last!.count, 36)
    }

    func testParallelForVisitsEveryIndexOnce() {
        for pool in pools {
            for count in [0, 1, 2, 3, 100, 1001] {
                let hits = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, count))
                hits.initialize(repeating: 0, count: max(1, count))
                nonisolated(unsafe) let h = hits
                for _ in 0..<3 { pool.parallelFor(count) { i in h[i] += 1 } }   // disjoint indices: no race
                for i in 0..<count { XCTAssertEqual(hits[i], 3, "threads=\(pool.threadCount) count=\(count) i=\(i)") }
                hits.deallocate()
            }
            // nested parallelFor runs inline instead of deadlocking
            let out = UnsafeMutablePointer<Int>.allocate(capacity: 16)
            nonisolated(unsafe) let o = out
            pool.parallelFor(4) { i in pool.parallelFor(4) { j in o[i * 4 + j] = i * 4 + j } }
            XCTAssertEqual(Array(UnsafeBufferPointer(start: out, count: 16)), Array(0..<16))
            out.deallocate()
            // chunks cover the range exactly, aligned
            var seen = [Int](repeating: 0, count: 103)
            seen.withUnsafeMutableBufferPointer { buf in
                nonisolated(unsafe) let b = buf
                pool.parallelChunks(103, align: 4, maxChunks: 7) { r in
                    XCTAssertEqual(r.lowerBound % 4, 0)
                    for i in r { b[i] += 1 }
                }
            }
            XCTAssertEqual(seen, [Int](repeating: 1, count: 103))
        }
    }

    func testSgemmAllTransposes() {
        var rng = TestRNG(seed: 41)
        // (200, 40, 300): crosses the packed kernel's 192-row A block and 256-deep K block;
        // (13, 530, 20): crosses the 512-column B block; small ones: 12-row / 32-column tails.
        forEachISA { isa in
        for (m, n, k) in [(1, 1, 1), (3, 5, 7), (70, 65, 33), (100, 3, 80), (200, 40, 300), (13, 530, 20)] {
            for ta in [false, true] { for tb in [false, true] {
                let lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1, ldc = n + 3
                let a = rng.floats((ta ? k : m) * lda), b = rng.floats((tb ? n : k) * ldb)
                let c0 = rng.floats(m * ldc)
                for pool in pools {
                    var c = c0, ref = c0
                    Gemm.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                               beta: 2, c: &c, ldc: ldc, pool: pool)
                    Gemm.sgemmRef(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.5, a: a, lda: lda, b: b, ldb: ldb,
                                  beta: 2, c: &ref, ldc: ldc)
                    // f32 sums of k products (|terms| <= 1) vs Double: eps * k is a safe cap.
                    XCTAssertLessThanOrEqual(compare(c, ref).maxAbs, 1.2e-7 * Float(k) + 1e-6, "\(isa) m=\(m) n=\(n) k=\(k) ta=\(ta) tb=\(tb)")
                }
            } }
        }
        }
    }
}
