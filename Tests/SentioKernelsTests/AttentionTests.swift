// Attention fast paths vs their Double twins: causal with paged f32/f16 KV, full with and without mask.
import XCTest
import SentioCore
import CSentioKernels
@testable import SentioKernels
import SentioTestSupport

final class AttentionTests: XCTestCase {
    /// A paged cache with `length` tokens of random K/V.
    final class Cache {
        let kb: [UnsafeMutableRawPointer], vb: [UnsafeMutableRawPointer]
        let view: KVView
        init(dtype: DType, kvHeads: Int, headDim: Int, blockTokens: Int, length: Int, rng: inout TestRNG) {
            let blocks = (length + blockTokens - 1) / blockTokens
            let bytes = kvHeads * blockTokens * headDim * dtype.bytesPerBlock
            kb = (0..<blocks).map { _ in .allocate(byteCount: bytes, alignment: 64) }
            vb = (0..<blocks).map { _ in .allocate(byteCount: bytes, alignment: 64) }
            view = KVView(dtype: dtype, kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens,
                          kBlocks: kb, vBlocks: vb, length: length)
            // store in two calls (crossing a block edge) to exercise `store`'s start offset
            let k = rng.floats(length * kvHeads * headDim), v = rng.floats(length * kvHeads * headDim)
            let cut = length / 2
            view.store(k: k, v: v, start: 0, n: cut)
            k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                view.store(k: kp.baseAddress! + cut * kvHeads * headDim, v: vp.baseAddress! + cut * kvHeads * headDim,
                           start: cut, n: length - cut)
            } }
        }
        deinit { kb.forEach { $0.deallocate() }; vb.forEach { $0.deallocate() } }
    }

    func testCausalMatchesReference() {
        var rng = TestRNG(seed: 31)
        // (dtype, blockTokens, heads, kvHeads, headDim, start, nQ): prefill from 0, a chunk after a prefix,
        // single-token decode, length not a multiple of the block, one contiguous block, > one query tile.
        let cases: [(DType, Int, Int, Int, Int, Int, Int)] = [
            (.f32, 16, 4, 2, 8, 0, 21), (.f16, 16, 14, 2, 64, 5, 3), (.f16, 16, 4, 1, 16, 36, 1),
            (.f32, 1000, 2, 2, 8, 3, 70), (.f16, 16, 2, 1, 32, 0, 67), (.f32, 16, 6, 3, 16, 40, 1),
            // 390 keys packed once; the first 128-row tile uses a 378-key prefix, which ends inside the
            // second 256-deep block of the packed V (a shorter depth than the one packed; hd 64 = two
            // 32-column panels, so a wrong panel stride in that block shows).
            (.f16, 16, 2, 1, 64, 250, 140),
        ]
        for (dtype, bt, heads, kvh, hd, start, nQ) in cases {
            let cache = Cache(dtype: dtype, kvHeads: kvh, headDim: hd, blockTokens: bt, length: start + nQ, rng: &rng)
            let q = rng.floats(nQ * heads * hd, scale: 2)
            var ref = [Float](repeating: 0, count: nQ * heads * hd)
            Attention.causalRef(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &ref)
            // f32 scores (sum of hd products) and f32 softmax/weighted sum vs Double: a few ulp per
            // stage of |v| <= 1 outputs; 2e-5 absolute leaves room for exp's ~4e-7 and sgemm order.
            assertCausalMatches(ref, q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, maxAbs: 2e-5,
                                "\(dtype) bt=\(bt) h=\(heads)/\(kvh) hd=\(hd) start=\(start) nQ=\(nQ)")
        }
    }

    /// The decode path (nQ <= Attention.decodeRows: K/V blocks read in place) on every ISA level:
    /// f32 and f16 blocks, group sizes 1, 2, 7 (Qwen2: 14/2), head dims with a 16-lane tail (20, 72)
    /// and > 64 (4+ vectors), lengths not a multiple of the block, nQ 1...4.
    func testCausalDecodePathMatchesReference() {
        var rng = TestRNG(seed: 33)
        let cases: [(DType, Int, Int, Int, Int, Int, Int)] = [
            (.f16, 16, 14, 2, 64, 40, 1), (.f32, 16, 14, 2, 64, 17, 2), (.f16, 8, 2, 2, 20, 0, 1),
            (.f32, 5, 4, 4, 72, 9, 3), (.f16, 16, 8, 1, 128, 33, 4), (.f16, 4, 3, 1, 8, 2, 1),
        ]
        forEachISA { isa in
            for (dtype, bt, heads, kvh, hd, start, nQ) in cases {
                let cache = Cache(dtype: dtype, kvHeads: kvh, headDim: hd, blockTokens: bt, length: start + nQ + 3, rng: &rng)
                let q = rng.floats(nQ * heads * hd, scale: 2)
                var ref = [Float](repeating: 0, count: nQ * heads * hd)
                Attention.causalRef(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &ref)
                for pool in pools {
                    var out = [Float](repeating: .nan, count: nQ * heads * hd)
                    Attention.causal(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &out, pool: pool)
                    // same bound as the gathered path: f32 scores/softmax/sums vs Double for |v| <= 1
                    let d = compare(out, ref)
                    XCTAssertLessThanOrEqual(d.maxAbs, 2e-5, "\(isa) \(dtype) bt=\(bt) h=\(heads)/\(kvh) hd=\(hd) start=\(start) nQ=\(nQ) threads=\(pool.threadCount): \(d)")
                }
            }
        }
    }

    func testCausalFirstTokenReturnsItsValue() {
        // With one key the softmax weight is exactly 1: output = V[0] of the group's KV head.
        var rng = TestRNG(seed: 32)
        let cache = Cache(dtype: .f32, kvHeads: 1, headDim: 8, blockTokens: 4, length: 1, rng: &rng)
        let q = rng.floats(2 * 8)
        var out = [Float](repeating: 0, count: 16)
        Attention.causal(q: q, nQ: 1, start: 0, heads: 2, kv: cache.view, out: &out, pool: pools[0])
        let v0 = cache.vb[0].assumingMemoryBound(to: Float.self)
        for i in 0..<8 { XCTAssertEqual(out[i], v0[i]); XCTAssertEqual(out[8 + i], v0[i]) }
    }

    func testFullMatchesReference() {
        var rng = TestRNG(seed: 33)
        // (300, 2, 16): keys beyond one 256-deep block of the packed V, 3 query tiles of 128.
        // Blocked kernel (hd 16..64, multiple of 16): (300, 2, 64): row blocks of 24 with a tail of 12, key
        // chunks of 32 with a tail of 12, V chunks of 128 with a tail of 44; (61, 5, 48): 3 x 16 lanes,
        // 8-row groups with tail 5 (61 = 2*24 + 13); (33, 1, 32, masked) 1-key chunk tail.
        for (n, heads, hd, masked) in [(1, 1, 8, false), (37, 3, 16, false), (70, 2, 64, true), (129, 1, 8, false), (300, 2, 16, true),
                                       (300, 2, 64, false), (61, 5, 48, true), (33, 1, 32, true)] {
            let q = rng.floats(n * heads * hd, scale: 2), k = rng.floats(n * heads * hd), v = rng.floats(n * heads * hd)
            var mask: [Float]? = nil
            if masked { mask = (0..<n).map { $0 % 5 == 4 ? -Float.infinity : 0 } }
            var ref = [Float](repeating: 0, count: n * heads * hd)
            Attention.fullRef(q: q, k: k, v: v, n: n, heads: heads, headDim: hd, out: &ref, mask: mask)
            defer { Attention.useBlockedFull = true }
            for blocked in [true, false] {
                Attention.useBlockedFull = blocked
                for pool in pools {
                    var out = [Float](repeating: .nan, count: n * heads * hd)
                    Attention.full(q: q, k: k, v: v, n: n, heads: heads, headDim: hd, out: &out, mask: mask, pool: pool)
                    let d = compare(out, ref)
                    XCTAssertLessThanOrEqual(d.maxAbs, 2e-5, "n=\(n) heads=\(heads) hd=\(hd) masked=\(masked) blocked=\(blocked): \(d)")   // as causal
                }
            }
        }
    }

    /// The AMX bf16 tile kernel (head dim 64) against its bf16 twin and the exact f32 twin: n = 1 (one query
    /// row, 31 zero-padded keys), 15/16/17 (16-row query blocks and 16-key block tails), 33 (one key beyond
    /// a 32-key step), 100 and 301 (several key pairs, a partial last step), with and without a key mask.
    func testFullBF16TilesMatchTwin() throws {
        guard sentio_attn_amx_available(64) != 0 else { throw XCTSkip("AMX bf16 tiles not available on this CPU") }
        var rng = TestRNG(seed: 34)
        for (n, heads, masked) in [(1, 1, false), (15, 2, true), (16, 1, false), (17, 3, true), (33, 2, false),
                                   (100, 2, true), (301, 1, false)] {
            let q = rng.floats(n * heads * 64, scale: 2), k = rng.floats(n * heads * 64), v = rng.floats(n * heads * 64)
            var mask: [Float]? = nil
            if masked { mask = (0..<n).map { $0 % 5 == 3 ? -Float.infinity : 0 } }
            var twin = [Float](repeating: 0, count: n * heads * 64), exact = twin
            Attention.fullRefBF16(q: q, k: k, v: v, n: n, heads: heads, headDim: 64, out: &twin, mask: mask)
            Attention.fullRef(q: q, k: k, v: v, n: n, heads: heads, headDim: 64, out: &exact, mask: mask)
            for pool in pools {
                var out = [Float](repeating: .nan, count: n * heads * 64)
                Attention.full(q: q, k: k, v: v, n: n, heads: heads, headDim: 64, out: &out, mask: mask, precision: .bf16, pool: pool)
                let ctx = "n=\(n) heads=\(heads) masked=\(masked) threads=\(pool.threadCount)"
                // vs the bf16 twin: the same bf16 inputs; the f32 score sums (~1e-6) and the cubic exp (<= 1.2e-4
                // relative) differ from the Double twin, which can move a numerator to the neighbouring bf16 value
                // (2^-8 relative): |v| <= 1, so even if every numerator moved the same way the output moves by
                // <= 2^-8 (4e-3); on average the moves cancel (mean bound 2e-4).
                let d = compare(out, twin)
                XCTAssertLessThanOrEqual(d.maxAbs, 4e-3, "\(ctx) vs bf16 twin: \(d)")
                XCTAssertLessThanOrEqual(d.meanAbs, 2e-4, "\(ctx) vs bf16 twin: \(d)")
                // vs exact f32 attention: q, k (|q| <= 2, 64 terms: score error <= 2 * 64 * 2 * 2^-9 = 0.5 at worst,
                // ~0.02 typical) and v, p (2^-9 each): 0.05 absolute.
                XCTAssertLessThanOrEqual(compare(out, exact).maxAbs, 5e-2, "\(ctx) vs f32: \(compare(out, exact))")
            }
        }
    }

    /// Causal prefill on the AMX tile kernel (precision .bf16, head dim 64) against its bf16 twin
    /// Attention.causalRefBF16 (row r sees keys 0 ... start + r; q·scale, k, v and the numerators rounded to bf16):
    /// GQA 14/2 from position 0 (70 rows: 16-row blocks with a tail of 6, key ranges ending inside 32-key
    /// steps), a chunk after a 250-token prefix, one contiguous f32 block, 17 rows after 31 keys.
    func testCausalBF16TilesMatchTwin() throws {
        guard sentio_attn_amx_available(64) != 0 else { throw XCTSkip("AMX bf16 tiles not available on this CPU") }
        var rng = TestRNG(seed: 35)
        let cases: [(DType, Int, Int, Int, Int, Int)] = [(.f16, 16, 14, 2, 0, 70), (.f16, 16, 2, 1, 250, 140),
                                                         (.f32, 1000, 2, 2, 3, 40), (.f16, 16, 4, 2, 31, 17)]
        for (dtype, bt, heads, kvh, start, nQ) in cases {
            let hd = 64, ld = heads * hd
            let cache = Cache(dtype: dtype, kvHeads: kvh, headDim: hd, blockTokens: bt, length: start + nQ, rng: &rng)
            let q = rng.floats(nQ * ld, scale: 2)
            var twin = [Float](repeating: 0, count: nQ * ld)
            Attention.causalRefBF16(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &twin)
            var exact = [Float](repeating: 0, count: nQ * ld)
            Attention.causalRef(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &exact)
            for pool in pools {
                var out = [Float](repeating: .nan, count: nQ * ld)
                Attention.causal(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &out, precision: .bf16, pool: pool)
                // As testFullBF16TilesMatchTwin: numerators may round to the neighbouring bf16 value (<= 2^-8 of |v| <= 1).
                let d = compare(out, twin)
                let ctx = "\(dtype) bt=\(bt) h=\(heads)/\(kvh) start=\(start) nQ=\(nQ) threads=\(pool.threadCount)"
                XCTAssertLessThanOrEqual(d.maxAbs, 4e-3, "\(ctx): \(d)")
                XCTAssertLessThanOrEqual(d.meanAbs, 2e-4, "\(ctx): \(d)")
                // Split scores: within ~2^-16 of the f32 scores, so only V and the numerators are rounded (2^-9
                // each, as in the plain path): 8e-3 as above against exact attention.
                var split = [Float](repeating: .nan, count: nQ * ld)
                Attention.causal(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &split, precision: .bf16SplitScores, pool: pool)
                XCTAssertLessThanOrEqual(compare(split, exact).maxAbs, 8e-3, "\(ctx) split vs exact: \(compare(split, exact))")
            }
            // Large logits (q x 12: scores of tens, as a decoder's): plain bf16 scores are off by ~|s| 2^-8, which
            // moves the softmax; the split scores are not, so their error against exact attention is far smaller.
            let big = q.map { $0 * 12 }
            var exactBig = [Float](repeating: 0, count: nQ * ld), plain = exactBig, split = exactBig
            Attention.causalRef(q: big, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &exactBig)
            Attention.causal(q: big, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &plain, precision: .bf16)
            Attention.causal(q: big, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &split, precision: .bf16SplitScores)
            let ds = compare(split, exactBig), db = compare(plain, exactBig)
            XCTAssertLessThan(ds.meanAbs, db.meanAbs * 0.5, "large logits: split \(ds) vs plain bf16 \(db)")
            XCTAssertLessThanOrEqual(ds.maxAbs, 8e-3, "large logits: split \(ds)")
        }
    }
}
