// BlockQ5_0 (ggml's Q5_0 layout): bit layout, the reference quantizer's error budget, and the converter's
// search quantizer (never worse than the reference; lossless on weights already on a 5-bit grid).
import XCTest
@testable import SentioCore
import SentioTestSupport

final class QuantQ5Tests: XCTestCase {
    func quantize(_ x: [Float], _ body: (UnsafeBufferPointer<Float>, UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
        var q = [UInt8](repeating: 0, count: x.count / 32 * BlockQ5_0.byteSize)
        x.withUnsafeBufferPointer { s in q.withUnsafeMutableBytes { body(s, $0) } }
        return q
    }
    func dequantize(_ q: [UInt8]) -> [Float] {
        var y = [Float](repeating: 0, count: q.count / BlockQ5_0.byteSize * 32)
        q.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { BlockQ5_0.dequantizeRef(s, into: $0) } }
        return y
    }
    func blockError(_ x: [Float], _ y: [Float], _ b: Int, weights: [Float]? = nil) -> Double {
        var e = 0.0
        for i in (b * 32)..<(b * 32 + 32) { let d = Double(x[i]) - Double(y[i]); e += Double(weights?[i] ?? 1) * d * d }
        return e
    }

    /// Layout: byte 2...5 the high bits (bit j = bit 4 of weight j), bytes 6... the low nibbles (weight j low,
    /// weight j+16 high); x = d (q - 16).
    func testBitLayout() {
        // d = 1 (extreme -16): levels q = x + 16
        var x = [Float](repeating: 0, count: 32)
        x[0] = -16; x[1] = 15; x[16] = 1; x[17] = -1; x[31] = 7
        let q = quantize(x) { BlockQ5_0.quantizeRef($0, into: $1) }
        XCTAssertEqual(f16ToFloat(UInt16(q[0]) | UInt16(q[1]) << 8), 1)
        let qh = UInt32(q[2]) | UInt32(q[3]) << 8 | UInt32(q[4]) << 16 | UInt32(q[5]) << 24
        // levels: w0 = 0, w1 = 31, w2..15 = 16, w16 = 17, w17 = 15, w18..30 = 16, w31 = 23
        var want: UInt32 = 0
        for j in 1..<32 where j != 17 { want |= 1 << UInt32(j) }
        XCTAssertEqual(qh, want)
        XCTAssertEqual(q[6], 0 | (17 & 15) << 4)         // w0 = 0 low, w16 = 17 high
        XCTAssertEqual(q[7], (31 & 15) | (15 << 4))      // w1 = 31, w17 = 15
        XCTAssertEqual(q[6 + 15], 0 | (23 & 15) << 4)    // w15 = 16, w31 = 23
        XCTAssertEqual(dequantize(q), x)
    }

    /// Reference rule: steps of d = |m| / 16, |x - x'| <= d / 2 inside the range, the top level (clamped at 31)
    /// off by at most d; plus the f16 rounding of d (2^-11 relative, times 16 levels).
    func testReferenceErrorBudget() {
        var rng = TestRNG(seed: 5)
        let n = 32 * 129
        let x = (0..<n).map { _ in rng.normal() }
        let y = dequantize(quantize(x) { BlockQ5_0.quantizeRef($0, into: $1) })
        for b in 0..<(n / 32) {
            let amax = x[(b * 32)..<(b * 32 + 32)].map(abs).max()!
            for i in (b * 32)..<(b * 32 + 32) {
                XCTAssertLessThanOrEqual(abs(x[i] - y[i]), amax / 16 + amax * 0x1p-10, "block \(b)")
            }
        }
    }

    /// The search quantizer never loses to the reference, block by block (plain and importance-weighted
    /// squared error), and on normal rows lowers the total error.
    func testSearchNeverWorseThanReference() {
        var rng = TestRNG(seed: 6)
        let cols = 256, rows = 24
        let x = (0..<(rows * cols)).map { _ in rng.normal() * (rng.uniform() > 0.97 ? 6 : 1) }
        let imp = (0..<cols).map { _ in abs(rng.normal()) + 0.01 }
        let ref = dequantize(quantize(x) { BlockQ5_0.quantizeRef($0, into: $1) })
        let plain = dequantize(quantize(x) { BlockQ5_0.quantizeWeights($0, into: $1) })
        let weightsBuf = x.withUnsafeBufferPointer { s in imp.withUnsafeBufferPointer { BlockQ4_1.elementWeights(s, importance: $0) } }
        defer { weightsBuf.deallocate() }
        let w = Array(weightsBuf)
        let weighted = dequantize(quantize(x) { s, d in imp.withUnsafeBufferPointer { BlockQ5_0.quantizeWeights(s, into: d, importance: $0) } })
        var totRef = 0.0, totPlain = 0.0
        for b in 0..<(x.count / 32) {
            let er = blockError(x, ref, b), ep = blockError(x, plain, b)
            XCTAssertLessThanOrEqual(ep, er, "block \(b)")
            XCTAssertLessThanOrEqual(blockError(x, weighted, b, weights: w), blockError(x, ref, b, weights: w), "weighted block \(b)")
            totRef += er; totPlain += ep
        }
        XCTAssertLessThan(totPlain, totRef * 0.95, "search: \(totPlain) vs reference \(totRef)")
    }

    /// Weights already on a 5-bit grid (x = d' l, l in -16...15, d' an f16 value: a dequantized Q5_0 checkpoint)
    /// come back exactly, whatever the block's extreme (the reference rule re-rounds blocks whose extreme is a
    /// positive level or inside the range).
    func testSearchIsLosslessOnAFiveBitGrid() {
        var rng = TestRNG(seed: 7)
        let blocks = 400
        var x = [Float](repeating: 0, count: blocks * 32)
        for b in 0..<blocks {
            let d = f16ToFloat(floatToF16(abs(rng.uniform()) * 0.02 + 1e-4))
            let lo = -16 + rng.int(0..<8), hi = 15 - rng.int(0..<8)   // levels used: a sub-range of -16...15
            for j in 0..<32 { x[b * 32 + j] = d * Float(rng.int(lo..<(hi + 1))) }
        }
        let ref = dequantize(quantize(x) { BlockQ5_0.quantizeRef($0, into: $1) })
        let got = dequantize(quantize(x) { BlockQ5_0.quantizeWeights($0, into: $1) })
        XCTAssertEqual(got, x)
        XCTAssertNotEqual(ref, x, "the reference rule re-rounds some blocks (else this test shows nothing)")
    }
}
