// BlockQ8_0.quantizeWeights: the converter's q8 weight quantizer (scale searched by least squares).
import XCTest
@testable import SentioCore
import SentioTestSupport

final class QuantQ8WeightsTests: XCTestCase {
    func roundTrip(_ x: [Float], search: Bool) -> [Float] {
        var q = [UInt8](repeating: 0, count: x.count / 32 * 34)
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { s in
            q.withUnsafeMutableBytes { search ? BlockQ8_0.quantizeWeights(s, into: $0) : BlockQ8_0.quantizeRef(s, into: $0) }
        }
        q.withUnsafeBytes { s in y.withUnsafeMutableBufferPointer { BlockQ8_0.dequantizeRef(s, into: $0) } }
        return y
    }

    /// Weights on a coarser symmetric grid (as a dequantized Q5_0 / Q4_0 block: d' * k, d' an f16, |k| <= 31)
    /// are stored exactly; amax/127 (quantizeRef) re-rounds them.
    func testCoarseGridIsStoredExactly() {
        var rng = TestRNG(seed: 31)
        var refExact = 0
        for t in 0..<200 {
            let dp = f16ToFloat(floatToF16(0.001 + abs(rng.normal()) * 0.01))
            let kmax = 1 + t % 31
            let x = (0..<32).map { i in dp * Float(i == 0 ? -kmax : Int(rng.next() % UInt64(2 * kmax + 1)) - kmax) }
            XCTAssertEqual(roundTrip(x, search: true), x, "block \(t) kmax \(kmax)")
            if roundTrip(x, search: false) == x { refExact += 1 }
        }
        XCTAssertLessThan(refExact, 100, "amax/127 alone should not already be exact on most of these blocks")
    }

    /// On unstructured weights the search never loses to amax/127, block by block.
    func testNeverWorseThanReference() {
        var rng = TestRNG(seed: 32)
        let n = 32 * 200
        let x = (0..<n).map { _ in rng.normal() * 0.05 }
        let a = roundTrip(x, search: false), b = roundTrip(x, search: true)
        var ta = 0.0, tb = 0.0
        for blk in 0..<(n / 32) {
            var ea = 0.0, eb = 0.0
            for i in (blk * 32)..<((blk + 1) * 32) {
                ea += Double(x[i] - a[i]) * Double(x[i] - a[i]); eb += Double(x[i] - b[i]) * Double(x[i] - b[i])
            }
            // f32 vs f64 error sums of the same candidate may differ in the last bits: relative slack 1e-5.
            XCTAssertLessThanOrEqual(eb, ea * (1 + 1e-5), "block \(blk)")
            ta += ea; tb += eb
        }
        XCTAssertLessThanOrEqual(tb, ta)
    }
}
