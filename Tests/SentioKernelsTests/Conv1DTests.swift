// Conv1D (im2col + Linear.forward) against its direct-loop twin Conv1D.forwardRef (Double sums) on random
// shapes: odd channel counts and lengths, stride 1 and 2, padding 0..2, kernel 1..5, both input layouts,
// 1-3 threads and every weight dtype.
//
// Tolerances: float weights (f32/f16/bf16): both sides use the same dequantized weight values, so they
// differ only by f32 accumulation order in sgemm vs Double: relative error ~ sqrt(Cin*K) * 2^-24, far below
// 1e-5 for Cin*K <= 500. q8/q4: Linear.forward also quantizes the im2col rows to Q8_0 (int8 per 32 values,
// step max|x|/127 -> relative error per value <= 1/254), and the ref does not: the dot error is a sum of
// independent rounding errors, ~ sqrt(Cin*K)/254 * |x||w| against a sum of ~sqrt(Cin*K) |x||w| -> ~1/254 =
// 4e-3 of the output scale; bound 2e-2.
import XCTest
import SentioCore
import SentioKernels
import SentioTestSupport

final class Conv1DTests: XCTestCase {
    func testOutputLength() {
        XCTAssertEqual(Conv1D.outputLength(3000, kernel: 3, stride: 1, padding: 1), 3000)
        XCTAssertEqual(Conv1D.outputLength(3000, kernel: 3, stride: 2, padding: 1), 1500)
        XCTAssertEqual(Conv1D.outputLength(7, kernel: 3, stride: 2, padding: 1), 4)
        XCTAssertEqual(Conv1D.outputLength(1, kernel: 5, stride: 1, padding: 0), 0)
    }

    func testIm2colLayoutsAgree() {
        var rng = TestRNG(seed: 11)
        let c = 5, L = 13, k = 3
        let xf = rng.floats(c * L)          // [C, L]
        var xl = [Float](repeating: 0, count: c * L)   // [L, C]
        for ch in 0..<c { for t in 0..<L { xl[t * c + ch] = xf[ch * L + t] } }
        let tOut = Conv1D.outputLength(L, kernel: k, stride: 2, padding: 1)
        var a = [Float](repeating: .nan, count: tOut * c * k), b = a
        Conv1D.im2col(xf, layout: .channelsFirst, channels: c, length: L, kernel: k, stride: 2, padding: 1, cols: &a)
        Conv1D.im2col(xl, layout: .channelsLast, channels: c, length: L, kernel: k, stride: 2, padding: 1, cols: &b)
        XCTAssertEqual(a, b)
        // Row 0 looks at positions -1, 0, 1: the first column of each channel is padding.
        for ch in 0..<c {
            XCTAssertEqual(a[ch * k], 0)
            XCTAssertEqual(a[ch * k + 1], xf[ch * L])
            XCTAssertEqual(a[ch * k + 2], xf[ch * L + 1])
        }
    }

    func testForwardMatchesReferenceOnRandomShapes() {
        var rng = TestRNG(seed: 2024)
        for trial in 0..<40 {
            let dtype = weightDTypes[trial % weightDTypes.count]
            let kernel = [1, 3, 3, 5, 2][rng.int(0..<5)]
            var cin = rng.int(1..<23)
            if dtype.isQuantized {   // the integer path needs Cin*K to be a multiple of 32
                cin = 32 * rng.int(1..<4)
            }
            let cout = rng.int(1..<37)
            let length = rng.int(1..<70)
            let stride = rng.int(1..<3), padding = rng.int(0..<3)
            let layout: Conv1D.Layout = rng.int(0..<2) == 0 ? .channelsFirst : .channelsLast
            let tOut = Conv1D.outputLength(length, kernel: kernel, stride: stride, padding: padding)
            if tOut == 0 { continue }
            let w = OwnedWeight(dtype: dtype, rows: cout, cols: cin * kernel, rng: &rng, scale: 0.5)
            let x = rng.floats(cin * length)
            let bias = rng.floats(cout)
            var ref = [Float](repeating: 0, count: tOut * cout)
            Conv1D.forwardRef(w.matrix, kernel: kernel, x: x, layout: layout, channels: cin, length: length,
                              stride: stride, padding: padding, bias: bias, out: &ref)
            for pool in pools {
                var got = [Float](repeating: .nan, count: tOut * cout)
                Conv1D.forward(w.matrix, kernel: kernel, x: x, layout: layout, channels: cin, length: length,
                               stride: stride, padding: padding, bias: bias, out: &got, pool: pool)
                let d = compare(got, ref)
                let tol: Float = dtype.isQuantized ? 2e-2 : 1e-5
                XCTAssertLessThan(d.maxRel, tol, "\(dtype) cin \(cin) cout \(cout) L \(length) k \(kernel) s \(stride) p \(padding) \(layout) threads \(pool.threadCount): \(d)")
            }
        }
    }
}
