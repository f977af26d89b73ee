import XCTest
import SentioCore
import Foundation

final class HugePagesTests: XCTestCase {
    /// Buffers of at least one huge page are 2 MiB aligned when huge pages are on; smaller ones 64-byte
    /// aligned; the bytes are writable end to end.
    func testAllocateAlignment() {
        for n in [0, 1, 100, HugePages.size - 1, HugePages.size, 3 * HugePages.size + 4097] {
            let b = HugePages.allocate(byteCount: n)
            defer { b.deallocate() }
            XCTAssertGreaterThanOrEqual(b.count, max(n, 1))
            let a = Int(bitPattern: b.baseAddress!)
            XCTAssertEqual(a % (HugePages.enabled && n >= HugePages.size ? HugePages.size : 64), 0, "n = \(n)")
            for i in stride(from: 0, to: b.count, by: 4093) { b[i] = UInt8(truncatingIfNeeded: i) }
            b[b.count - 1] = 7
            XCTAssertEqual(b[b.count - 1], 7)
        }
    }

    /// Arena pieces are 64-byte aligned, never overlap, keep their bytes while later pieces are handed
    /// out (small ones share slabs, ones of half a slab or more get their own), also from many threads.
    func testArenaPiecesAreDisjointAndKeepTheirBytes() {
        let arena = HugePageArena(slabSize: 4 << 20)
        let sizes = [1, 63, 64, 65, 1000, (2 << 20) - 1, 2 << 20, 5 << 20, 0, 3, 1 << 20, 1 << 20, 1 << 20, 7]
        final class Pieces: @unchecked Sendable {
            let lock = NSLock()
            var all: [(Int, UnsafeMutableRawBufferPointer)] = []
        }
        let got = Pieces()
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for (k, n) in sizes.enumerated() {
                let b = arena.allocate(byteCount: n)
                XCTAssertEqual(b.count, n)
                if let p = b.baseAddress { XCTAssertEqual(Int(bitPattern: p) % 64, 0) }
                let tag = UInt8(truncatingIfNeeded: t * 31 + k + 1)
                if n > 0 { memset(b.baseAddress!, Int32(tag), n) }
                got.lock.withLock { got.all.append((Int(tag), b)) }
            }
        }
        let pieces = got.all
        let spans = pieces.filter { $0.1.count > 0 }.map { (Int(bitPattern: $0.1.baseAddress!), $0.1.count) }.sorted { $0.0 < $1.0 }
        for (a, b) in zip(spans, spans.dropFirst()) { XCTAssertLessThanOrEqual(a.0 + a.1, b.0) }
        for (tag, b) in pieces where b.count > 0 {
            XCTAssertTrue(b.allSatisfy { Int($0) == tag }, "piece of \(b.count) bytes was overwritten")
        }
        // Pieces under half a slab share slabs, and a slab is given up only for a piece that does not fit,
        // so every full slab is more than half used: slabs < 2 x small bytes + one slab.
        let big = 4 * ((2 << 20) + (5 << 20)), small = 4 * sizes.filter { $0 < (2 << 20) }.reduce(0) { $0 + ($1 + 63) / 64 * 64 }
        XCTAssertGreaterThanOrEqual(arena.reservedBytes, big + small)
        XCTAssertLessThan(arena.reservedBytes, big + 2 * small + (4 << 20))
    }
}
