import XCTest
import SentioCore
import SentioKernels
import SentioRuntime
import SentioTestSupport

final class PagedKVCacheTests: XCTestCase {
    let layout = KVCacheLayout(layers: 2, kvHeads: 2, headDim: 4, blockTokens: 4, dtype: .f32)

    /// Appends `n` tokens whose K value encodes (layer, token, head, dim) so reads can be checked.
    func append(_ c: any KVCache, _ n: Int, tag: Float = 0) throws {
        try c.reserve(n)
        let w = layout.kvHeads * layout.headDim
        for l in 0..<layout.layers {
            var k = [Float](repeating: 0, count: n * w), v = k
            for t in 0..<n { for j in 0..<w { k[t * w + j] = tag + Float(l * 10000 + (c.length + t) * 100 + j); v[t * w + j] = -k[t * w + j] } }
            c.view(layer: l, tokens: c.length + n).store(k: k, v: v, start: c.length, n: n)
        }
        c.advance(n)
    }

    func key(_ c: any KVCache, layer: Int, token: Int, j: Int) -> Float {
        let v = c.view(layer: layer, tokens: c.length)
        let block = UnsafeRawPointer(v.kBlocks[token / layout.blockTokens]).assumingMemoryBound(to: Float.self)
        let head = j / layout.headDim, d = j % layout.headDim
        return block[(head * layout.blockTokens + token % layout.blockTokens) * layout.headDim + d]
    }

    func testAppendTruncateFork() throws {
        let a = F32KVCache(layout: layout)
        try append(a, 6)
        XCTAssertEqual(a.length, 6)
        XCTAssertEqual(key(a, layer: 1, token: 5, j: 7), Float(10000 + 500 + 7))
        // Fork shares blocks; writing into the fork's shared tail block must not change the parent.
        let b = a.fork()
        try append(b, 3, tag: 0.5)
        XCTAssertEqual(b.length, 9)
        XCTAssertEqual(key(b, layer: 0, token: 6, j: 1), 0.5 + Float(600 + 1))
        XCTAssertEqual(a.length, 6)
        try append(a, 1, tag: 0.25)
        XCTAssertEqual(key(a, layer: 0, token: 6, j: 1), 0.25 + Float(600 + 1))
        XCTAssertEqual(key(b, layer: 0, token: 6, j: 1), 0.5 + Float(600 + 1))
        XCTAssertEqual(key(b, layer: 0, token: 3, j: 2), Float(300 + 2))   // shared prefix intact
        // Rollback and re-append.
        b.truncate(to: 2)
        XCTAssertEqual(b.length, 2)
        try append(b, 2, tag: 0.75)
        XCTAssertEqual(key(b, layer: 1, token: 3, j: 0), 0.75 + Float(10000 + 300))
        XCTAssertEqual(key(a, layer: 1, token: 3, j: 0), Float(10000 + 300))
    }

    func testForksShareMemoryUntilWritten() throws {
        let before = KVCacheMemory.liveBytes
        let a = F32KVCache(layout: layout)
        try append(a, 16)   // 4 full blocks
        let afterPrompt = KVCacheMemory.liveBytes - before
        XCTAssertEqual(afterPrompt, 4 * layout.blockBytes)
        let forks = (0..<8).map { _ in a.fork() }
        XCTAssertEqual(KVCacheMemory.liveBytes - before, 4 * layout.blockBytes, "forks of full blocks cost nothing")
        for f in forks { try append(f, 1) }
        XCTAssertEqual(KVCacheMemory.liveBytes - before, 12 * layout.blockBytes, "each fork adds one tail block")
    }
}
