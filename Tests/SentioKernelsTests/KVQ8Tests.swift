// q8 KV blocks (KVView: int8 rows with one f32 scale per token and KV head): the decode kernel
// (sentio_attn_decode_group_kv, every ISA level) and the gathered prefill path against the Double twin
// reading the same dequantized values, and the row quantizer against its definition. Also keys and values
// of different element types (the q8v cache: f16 keys, q8 values; and the other mixes the kernel takes).
import XCTest
import SentioCore
@testable import SentioKernels
import SentioTestSupport

final class KVQ8Tests: XCTestCase {
    final class Q8Cache {
        let kb: [UnsafeMutableRawPointer], vb: [UnsafeMutableRawPointer]
        let view: KVView
        let k: [Float], v: [Float]
        init(keyType: DType = .q8, valueType: DType = .q8, kvHeads: Int, headDim: Int, blockTokens: Int, length: Int, rng: inout TestRNG) {
            let blocks = (length + blockTokens - 1) / blockTokens
            let kbytes = KVView.blockBytes(dtype: keyType, kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens)
            let vbytes = KVView.blockBytes(dtype: valueType, kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens)
            kb = (0..<blocks).map { _ in .allocate(byteCount: kbytes, alignment: 64) }
            vb = (0..<blocks).map { _ in .allocate(byteCount: vbytes, alignment: 64) }
            view = KVView(keyType: keyType, valueType: valueType, kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens,
                          kBlocks: kb, vBlocks: vb, length: length)
            k = rng.floats(length * kvHeads * headDim, scale: 3); v = rng.floats(length * kvHeads * headDim)
            let cut = length / 3
            view.store(k: k, v: v, start: 0, n: cut)
            k.withUnsafeBufferPointer { kp in v.withUnsafeBufferPointer { vp in
                view.store(k: kp.baseAddress! + cut * kvHeads * headDim, v: vp.baseAddress! + cut * kvHeads * headDim,
                           start: cut, n: length - cut)
            } }
        }
        deinit { kb.forEach { $0.deallocate() }; vb.forEach { $0.deallocate() } }
    }

    /// Each stored row dequantizes to within half a quantum (scale / 2 = max|x| / 254) of the input.
    func testRowQuantizationError() {
        var rng = TestRNG(seed: 7)
        let (kvh, hd, bt, n) = (3, 20, 8, 19)
        let c = Q8Cache(kvHeads: kvh, headDim: hd, blockTokens: bt, length: n, rng: &rng)
        for t in 0..<n {
            for g in 0..<kvh {
                let row = Array(c.k[((t * kvh + g) * hd)..<((t * kvh + g + 1) * hd)])
                let m = row.map { abs($0) }.max()!
                for i in 0..<hd {
                    // half a quantum plus f32 rounding of x * (127 / m) and q * scale
                    XCTAssertEqual(c.view.read(value: false, token: t, head: g, i), row[i], accuracy: m / 254 * 1.0001 + 1e-6)
                }
            }
        }
    }

    func testDecodeAndGatherMatchReference() {
        var rng = TestRNG(seed: 41)
        // (blockTokens, heads, kvHeads, headDim, start, nQ): Qwen2's 14/2 x 64, tails of 16 lanes (20, 72),
        // > 64 dims, lengths off the block, nQ 1...4 (in-place decode) and > 4 (gathered, dequantized rows).
        let cases: [(Int, Int, Int, Int, Int, Int)] = [
            (16, 14, 2, 64, 40, 1), (16, 14, 2, 64, 17, 2), (8, 2, 2, 20, 0, 1), (5, 4, 4, 72, 9, 3),
            (16, 8, 1, 128, 33, 4), (4, 3, 1, 8, 2, 1), (16, 4, 2, 16, 10, 21), (7, 2, 1, 64, 0, 9),
        ]
        forEachISA { isa in
            for (bt, heads, kvh, hd, start, nQ) in cases {
                let cache = Q8Cache(kvHeads: kvh, headDim: hd, blockTokens: bt, length: start + nQ + 2, rng: &rng)
                let q = rng.floats(nQ * heads * hd, scale: 2)
                var ref = [Float](repeating: 0, count: nQ * heads * hd)
                Attention.causalRef(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &ref)
                // Both read the same dequantized values (q * scale); what differs is f32 vs Double arithmetic
                // (scale applied after the int dot in the kernel, before it in the twin): |q| <= 2, |k| <= 3,
                // hd <= 128 terms -> scores off by ~1e-5, outputs |v| <= 1 by a few 1e-6; 4e-5 bounds both.
                assertCausalMatches(ref, q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, maxAbs: 4e-5,
                                    "\(isa) q8 bt=\(bt) h=\(heads)/\(kvh) hd=\(hd) start=\(start) nQ=\(nQ)")
            }
        }
    }

    /// Keys and values of different types (q8v = f16 keys + q8 values, and the other mixes): decode in place
    /// and gathered prefill against the Double twin; each row stored and read back at its own plane's type.
    func testMixedKeyValueTypesMatchReference() {
        var rng = TestRNG(seed: 47)
        let cases: [(Int, Int, Int, Int, Int, Int)] = [
            (16, 14, 2, 64, 40, 1), (16, 14, 2, 64, 17, 3), (5, 4, 4, 72, 9, 2), (8, 2, 2, 20, 0, 1),
            (7, 2, 1, 64, 3, 9), (16, 4, 2, 16, 10, 21),
        ]
        let mixes: [(DType, DType)] = [(.f16, .q8), (.q8, .f16), (.f32, .q8), (.q8, .f32), (.f16, .f32)]
        forEachISA { isa in
            for (kt, vt) in mixes {
                for (bt, heads, kvh, hd, start, nQ) in cases {
                    let cache = Q8Cache(keyType: kt, valueType: vt, kvHeads: kvh, headDim: hd, blockTokens: bt,
                                        length: start + nQ + 2, rng: &rng)
                    // Stored rows read back within their type's rounding: f32 exact, f16 2^-11 relative, q8 half a quantum.
                    for (t, g, i) in [(0, 0, 0), (start + nQ + 1, kvh - 1, hd - 1), (start, 0, hd / 2)] {
                        for value in [false, true] {
                            let x = (value ? cache.v : cache.k)[(t * kvh + g) * hd + i]
                            let row = (value ? cache.v : cache.k)[((t * kvh + g) * hd)..<((t * kvh + g + 1) * hd)]
                            let dt = value ? vt : kt
                            let tol: Float = dt == .f32 ? 0 : dt == .f16 ? abs(x) / 2048 + 1e-7 : row.map { abs($0) }.max()! / 254 * 1.0001 + 1e-6
                            XCTAssertEqual(cache.view.read(value: value, token: t, head: g, i), x, accuracy: tol, "\(kt)/\(vt) value=\(value)")
                        }
                    }
                    let q = rng.floats(nQ * heads * hd, scale: 2)
                    var ref = [Float](repeating: 0, count: nQ * heads * hd)
                    Attention.causalRef(q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, out: &ref)
                    // as testDecodeAndGatherMatchReference: same stored values, f32 vs Double arithmetic
                    assertCausalMatches(ref, q: q, nQ: nQ, start: start, heads: heads, kv: cache.view, maxAbs: 4e-5,
                                        "\(isa) k \(kt) v \(vt) bt=\(bt) h=\(heads)/\(kvh) hd=\(hd) start=\(start) nQ=\(nQ)")
                }
            }
        }
    }

    /// Attention.decodeRows (one dispatch for B sequences, each over its own cache of its own length) equals
    /// the Double twin per sequence; caches of q8, and for comparison f16/f32 via AttentionTests' Cache.
    func testDecodeRowsMatchesPerSequenceReference() {
        var rng = TestRNG(seed: 43)
        let (heads, kvh, hd) = (14, 2, 64)
        let lengths = [1, 17, 64, 5, 40]
        let caches = lengths.enumerated().map { i, n in
            // q8, and q8v (f16 keys) for every other sequence: one dispatch over caches of both kinds
            Q8Cache(keyType: i % 2 == 0 ? .q8 : .f16, kvHeads: kvh, headDim: hd, blockTokens: 16, length: n, rng: &rng)
        }
        let q = rng.floats(lengths.count * heads * hd, scale: 2)
        var ref = [Float](repeating: 0, count: q.count)
        q.withUnsafeBufferPointer { qb in
            ref.withUnsafeMutableBufferPointer { rb in
                for (i, c) in caches.enumerated() {
                    Attention.causalRef(q: qb.baseAddress! + i * heads * hd, nQ: 1, start: c.view.length - 1, heads: heads,
                                        kv: c.view, out: rb.baseAddress! + i * heads * hd)
                }
            }
        }
        forEachISA { isa in
            for pool in pools {
                var out = [Float](repeating: .nan, count: q.count)
                Attention.decodeRows(q: q, views: caches.map { $0.view }, heads: heads, out: &out, pool: pool)
                let d = compare(out, ref)
                // as testDecodeAndGatherMatchReference
                XCTAssertLessThanOrEqual(d.maxAbs, 4e-5, "\(isa) threads=\(pool.threadCount): \(d)")
            }
        }
    }
}
