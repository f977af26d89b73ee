// Rope vs a direct formula (the rotate-half / interleaved definitions written out in Double).
import XCTest
import Foundation
@testable import SentioKernels
import SentioTestSupport

final class RopeTests: XCTestCase {
    func testInvFreqMatchesTransformersF32Formula() {
        // transformers: 1 / (base ** (arange(0, d, 2).float() / d)) in f32
        let rope = Rope(headDim: 64, theta: 1_000_000, style: .neox)
        for i in 0..<32 {
            let e = Float(2 * i) / 64
            let want = 1 / Float(pow(1_000_000.0, Double(e)))
            XCTAssertEqual(rope.invFreq[i], want)
        }
        XCTAssertEqual(rope.invFreq[0], 1)
    }

    func testApplyMatchesDirectFormulaAndInverseUndoes() {
        var rng = TestRNG(seed: 21)
        for style in [RopeStyle.neox, .interleaved] {
            for (hd, heads, n) in [(64, 14, 3), (8, 2, 5), (128, 1, 2)] {
                let rope = Rope(headDim: hd, theta: 10_000, style: style)
                let pos: [Int32] = (0..<n).map { [0, 1, 7, 999, 32767][$0 % 5] }
                let x = rng.floats(n * heads * hd)
                var fast = x, ref = x
                rope.apply(&fast, n: n, heads: heads, positions: pos)
                rope.applyRef(&ref, n: n, heads: heads, positions: pos)
                // direct formula, Double
                let half = hd / 2
                for r in 0..<n { for h in 0..<heads { for i in 0..<half {
                    let ang = Double(Float(pos[r]) * (1 / Float(pow(10_000.0, Double(Float(2 * i) / Float(hd))))))
                    let (a, b) = style == .neox ? (i, i + half) : (2 * i, 2 * i + 1)
                    let base = (r * heads + h) * hd
                    let xa = Double(x[base + a]), xb = Double(x[base + b])
                    // One f32 rounding of cos/sin and of the products: ~2 ulp of |x| ≲ 3e-7.
                    XCTAssertEqual(Double(fast[base + a]), xa * cos(ang) - xb * sin(ang), accuracy: 3e-7, "\(style) r=\(r) i=\(i)")
                    XCTAssertEqual(Double(fast[base + b]), xb * cos(ang) + xa * sin(ang), accuracy: 3e-7, "\(style) r=\(r) i=\(i)")
                } } }
                XCTAssertLessThanOrEqual(compare(fast, ref).maxAbs, 3e-7, "\(style) vs twin")
                if pos[0] == 0 { XCTAssertEqual(Array(fast[0..<(heads * hd)]), Array(x[0..<(heads * hd)]), "position 0 is identity") }
                rope.applyInverse(&fast, n: n, heads: heads, positions: pos)
                XCTAssertLessThanOrEqual(compare(fast, x).maxAbs, 1e-6, "\(style) inverse")
            }
        }
    }
}
