import XCTest
@testable import SentioCore
import SentioTestSupport

final class QuantBlockTests: XCTestCase {
    func testBlockSizes() {
        XCTAssertEqual(BlockQ8_0.byteSize, 2 + 32)
        XCTAssertEqual(BlockQ4_0.byteSize, 2 + 16)
        XCTAssertEqual(DType.q8.byteCount(elements: 64), 68)
        XCTAssertEqual(DType.q4.byteCount(elements: 64), 36)
        XCTAssertNil(DType.q4.byteCount(elements: 33))
        XCTAssertNil(DType.f32.byteCount(elements: Int.max / 2))
    }

    func testHalfRoundTrips() {
        var rng = TestRNG(seed: 1)
        for _ in 0..<10000 {
            let x = rng.normal() * 100
            let h = floatToF16(x)
            XCTAssertEqual(floatToF16(f16ToFloat(h)), h)
            let b = floatToBF16(x)
            XCTAssertEqual(floatToBF16(bf16ToFloat(b)), b)
            // bf16 keeps 8 significant bits: half a step is at most 2^-8 relative.
            XCTAssertLessThanOrEqual(abs(bf16ToFloat(b) - x), abs(x) * 0x1p-8)
        }
        // Ties round to even: 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125.
        XCTAssertEqual(floatToBF16(1 + 0x1p-8), floatToBF16(1))
        XCTAssertTrue(bf16ToFloat(floatToBF16(.nan)).isNaN)
    }

    /// Q8_0 error budget: |x - x'| <= d/2 per weight (rounding to the nearest step d = amax/127),
    /// plus the f16 rounding of d (relative 2^-11) times 127 steps.
    func testQ8ErrorBudget() {
        var rng = TestRNG(seed: 2)
        let n = 32 * 257
        let x = (0..<n).map { _ in rng.normal() }
        var q = [UInt8](repeating: 0, count: n / 32 * 34)
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { s in q.withUnsafeMutableBytes { BlockQ8_0.quantizeRef(s, into: $0) } }
        q.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { BlockQ8_0.dequantizeRef(s, into: $0) } }
        for b in 0..<(n / 32) {
            let amax = x[b*32..<(b+1)*32].map(abs).max()!
            let d = amax / 127
            for i in b*32..<(b+1)*32 {
                XCTAssertLessThanOrEqual(abs(x[i] - y[i]), d / 2 + amax * 0x1p-11 * 1.01, "block \(b)")
            }
        }
    }

    /// Q4_0 error budget: steps of d = |m|/8, so |x - x'| <= d/2 inside the range, and the
    /// top value (q clamped at 15 where x/d + 8.5 >= 16) is off by at most d; plus f16 rounding of d.
    func testQ4ErrorBudgetAndNibbleOrder() {
        var rng = TestRNG(seed: 3)
        let n = 32 * 129
        let x = (0..<n).map { _ in rng.normal() }
        var q = [UInt8](repeating: 0, count: n / 32 * 18)
        var y = [Float](repeating: 0, count: n)
        x.withUnsafeBufferPointer { s in q.withUnsafeMutableBytes { BlockQ4_0.quantizeRef(s, into: $0) } }
        q.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { BlockQ4_0.dequantizeRef(s, into: $0) } }
        for b in 0..<(n / 32) {
            let amax = x[b*32..<(b+1)*32].map(abs).max()!
            let d = amax / 8
            for i in b*32..<(b+1)*32 {
                XCTAssertLessThanOrEqual(abs(x[i] - y[i]), d + amax * 0x1p-10, "block \(b)")
            }
        }
        // Nibble order: weight j in the low nibble of byte j, weight j+16 in the high nibble.
        var ramp = [Float](repeating: 0, count: 32)
        ramp[0] = -8; ramp[16] = 7   // d = 1: q = x + 8
        var blk = [UInt8](repeating: 0, count: 18)
        ramp.withUnsafeBufferPointer { s in blk.withUnsafeMutableBytes { BlockQ4_0.quantizeRef(s, into: $0) } }
        XCTAssertEqual(blk[2], 0x00 | (15 << 4))
        XCTAssertEqual(blk[3], 8 | (8 << 4))
    }
}
