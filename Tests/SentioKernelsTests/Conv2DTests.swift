// Conv2D fast paths (channels-last, im2col + Linear, direct loops) vs their Double twins in Conv2DRef.swift,
// which follow PyTorch's channels-first definitions of Conv2d / Conv3d / bilinear interpolation.
// Shapes include odd sizes, 1-pixel images, trailing pixels that fill no patch, and 1 / 2 / 3 threads.
//
// Tolerance: the fast paths sum K products in f32 (K = receptive field size) in some order; the twin sums in
// Double. Worst-case f32 summation error is K * 2^-24 * sum|terms|; with inputs in [-1, 1] sum|terms| is at
// most K, so we allow maxAbs <= 4 * K * 2^-24 * K' where K' = K (a loose but math-derived bound), which is
// still ~1e-4 or tighter for every shape here and far below what a wrong index would give (O(1)).
import XCTest
import SentioCore
@testable import SentioKernels
import SentioTestSupport

final class Conv2DTests: XCTestCase {
    func bound(_ k: Int) -> Float { 4 * Float(k) * Float(k) * 0x1p-24 }

    func testPatchEmbeddingMatchesConv2d() {
        var rng = TestRNG(seed: 11)
        // (images, C, H, W, patch, Cout): includes H/W not divisible by the patch and a single-patch image.
        for (n, c, h, w, p, o) in [(2, 3, 10, 13, 4, 5), (1, 1, 5, 5, 5, 3), (3, 2, 9, 7, 3, 7), (1, 3, 32, 32, 16, 8)] {
            let x = rng.floats(n * c * h * w), wt = rng.floats(o * c * p * p), bias = rng.floats(o)
            let ref = Conv2D.conv2dRef(x, n: n, cin: c, h: h, w: w, weight: wt, cout: o, kernel: (p, p), stride: (p, p), bias: bias)
            let gh = h / p, gw = w / p, rows = n * gh * gw
            for pool in [ThreadPool(threads: 1), ThreadPool(threads: 3)] {
                var cols = [Float](repeating: .nan, count: rows * c * p * p)
                x.withUnsafeBufferPointer { Conv2D.patches($0.baseAddress!, images: n, channels: c, height: h, width: w, patch: p, out: &cols, pool: pool) }
                var y = [Float](repeating: .nan, count: rows * o)
                wt.withUnsafeBytes { wb in
                    let m = WeightMatrix(dtype: .f32, rows: o, cols: c * p * p, data: wb.baseAddress!)
                    Linear.forward(m, x: cols, n: rows, y: &y, bias: bias, pool: pool)
                }
                // y is channels-last [n, gh*gw, o]; the twin is [n, o, gh, gw].
                var yFirst = [Float](repeating: 0, count: y.count)
                Conv2D.toChannelsFirst(y, images: n, channels: o, pixels: gh * gw, out: &yFirst)
                let d = compare(yFirst, ref)
                XCTAssertLessThanOrEqual(d.maxAbs, bound(c * p * p), "patches \(n)x\(c)x\(h)x\(w) p\(p): \(d)")
            }
        }
    }

    func testIm2col3dMatchesConv3d() {
        var rng = TestRNG(seed: 12)
        typealias K = (t: Int, h: Int, w: Int)
        // (T, H, W, C, Cout, kernel, stride, padding): the projector's sampler, and odd others.
        let cases: [(Int, Int, Int, Int, Int, K, K, K)] = [
            (8, 14, 14, 3, 4, (2, 2, 2), (1, 2, 2), (1, 0, 0)),
            (3, 5, 7, 5, 6, (2, 2, 2), (1, 2, 2), (1, 0, 0)),
            (4, 3, 5, 2, 3, (3, 3, 1), (2, 1, 1), (1, 1, 0)),
            (1, 1, 1, 7, 2, (1, 1, 1), (1, 1, 1), (0, 0, 0)),
        ]
        for (t, h, w, c, o, k, s, p) in cases {
            let xFirst = rng.floats(c * t * h * w), wt = rng.floats(o * c * k.t * k.h * k.w), bias = rng.floats(o)
            let ref = Conv2D.conv3dRef(xFirst, cin: c, t: t, h: h, w: w, weight: wt, cout: o, kernel: k, stride: s, padding: p, bias: bias)
            let ot = Conv2D.outputSize(t, kernel: k.t, stride: s.t, padding: p.t)
            let oh = Conv2D.outputSize(h, kernel: k.h, stride: s.h, padding: p.h)
            let ow = Conv2D.outputSize(w, kernel: k.w, stride: s.w, padding: p.w)
            // channels-last input [T, H, W, C]
            var x = [Float](repeating: 0, count: xFirst.count)
            Conv2D.toChannelsLast(xFirst, images: 1, channels: c, pixels: t * h * w, out: &x)
            for outT in Set([ot, max(1, ot - 1)]) {
                let rows = outT * oh * ow, cols = c * k.t * k.h * k.w
                var col = [Float](repeating: .nan, count: rows * cols)
                x.withUnsafeBufferPointer {
                    Conv2D.im2col3d($0.baseAddress!, t: t, h: h, w: w, c: c, kernel: k, stride: s, padding: p, outT: outT,
                                    out: &col, pool: ThreadPool(threads: 2))
                }
                var y = [Float](repeating: .nan, count: rows * o)
                wt.withUnsafeBytes { wb in
                    Linear.forward(WeightMatrix(dtype: .f32, rows: o, cols: cols, data: wb.baseAddress!), x: col, n: rows, y: &y, bias: bias)
                }
                var yFirst = [Float](repeating: 0, count: y.count)
                Conv2D.toChannelsFirst(y, images: 1, channels: o, pixels: rows, out: &yFirst)
                // The twin covers all ot slices: compare the first outT of each output channel.
                var refCut: [Float] = []
                for oc in 0..<o { refCut += ref[(oc * ot * oh * ow)..<((oc * ot + outT) * oh * ow)] }
                let d = compare(yFirst, refCut)
                XCTAssertLessThanOrEqual(d.maxAbs, bound(cols), "conv3d T\(t) H\(h) W\(w) C\(c) outT \(outT): \(d)")
            }
        }
    }

    func testDepthwise3x3MatchesGroupedConv2d() {
        var rng = TestRNG(seed: 13)
        for (n, h, w, c) in [(1, 1, 1, 3), (2, 2, 3, 1), (3, 5, 7, 17), (2, 14, 14, 33)] {
            let xFirst = rng.floats(n * c * h * w), wt = rng.floats(c * 9)
            let ref = Conv2D.conv2dRef(xFirst, n: n, cin: c, h: h, w: w, weight: wt, cout: c, kernel: (3, 3),
                                       padding: (1, 1), groups: c)
            var x = [Float](repeating: 0, count: xFirst.count)
            Conv2D.toChannelsLast(xFirst, images: n, channels: c, pixels: h * w, out: &x)
            for pool in [ThreadPool(threads: 1), ThreadPool(threads: 2)] {
                var y = [Float](repeating: .nan, count: x.count)
                Conv2D.depthwise3x3(x, images: n, height: h, width: w, channels: c, weight: wt, out: &y, pool: pool)
                var yFirst = [Float](repeating: 0, count: y.count)
                Conv2D.toChannelsFirst(y, images: n, channels: c, pixels: h * w, out: &yFirst)
                let d = compare(yFirst, ref)
                XCTAssertLessThanOrEqual(d.maxAbs, bound(9), "depthwise \(n)x\(h)x\(w)x\(c): \(d)")
            }
        }
    }

    func testBilinearResizeMatchesInterpolate() {
        var rng = TestRNG(seed: 14)
        // Downscales (exact 2x, odd ratios), upscales and identity.
        for (n, c, h, w, oh, ow) in [(2, 5, 14, 14, 7, 7), (1, 3, 9, 13, 4, 5), (1, 2, 3, 4, 7, 9), (1, 1, 6, 6, 6, 6), (1, 4, 1, 5, 2, 2)] {
            let xFirst = rng.floats(n * c * h * w)
            let ref = Conv2D.bilinearResizeRef(xFirst, n: n, c: c, h: h, w: w, outHeight: oh, outWidth: ow)
            var x = [Float](repeating: 0, count: xFirst.count)
            Conv2D.toChannelsLast(xFirst, images: n, channels: c, pixels: h * w, out: &x)
            var y = [Float](repeating: .nan, count: n * oh * ow * c)
            Conv2D.bilinearResize(x, images: n, height: h, width: w, channels: c, outHeight: oh, outWidth: ow, out: &y)
            var yFirst = [Float](repeating: 0, count: y.count)
            Conv2D.toChannelsFirst(y, images: n, channels: c, pixels: oh * ow, out: &yFirst)
            // Four taps with weights summing to 1, inputs in [-1, 1]: f32 error a few ulps of 1.
            let d = compare(yFirst, ref)
            XCTAssertLessThanOrEqual(d.maxAbs, 1e-6, "bilinear \(h)x\(w)->\(oh)x\(ow): \(d)")
            if oh * 2 == h && ow * 2 == w {
                // Exact 2x: each output is the plain mean of its 2x2 block (checked independently of the twin).
                for p in 0..<(n * c) { for yy in 0..<oh { for xx in 0..<ow {
                    let s = xFirst[(p * h + 2 * yy) * w + 2 * xx] + xFirst[(p * h + 2 * yy) * w + 2 * xx + 1]
                          + xFirst[(p * h + 2 * yy + 1) * w + 2 * xx] + xFirst[(p * h + 2 * yy + 1) * w + 2 * xx + 1]
                    XCTAssertEqual(yFirst[(p * oh + yy) * ow + xx], s / 4, accuracy: 1e-6)
                } } }
            }
        }
    }

    func testMeanPixelsAndLayoutRoundTrip() {
        var rng = TestRNG(seed: 15)
        let (n, p, c) = (3, 11, 7)
        let x = rng.floats(n * p * c)
        var m = [Float](repeating: .nan, count: n * c)
        Conv2D.meanPixels(x, images: n, pixels: p, channels: c, out: &m)
        for i in 0..<n { for ch in 0..<c {
            var s = 0.0
            for k in 0..<p { s += Double(x[(i * p + k) * c + ch]) }
            XCTAssertEqual(Double(m[i * c + ch]), s / Double(p), accuracy: 1e-6)
        } }
        var first = [Float](repeating: 0, count: x.count), back = first
        Conv2D.toChannelsFirst(x, images: n, channels: c, pixels: p, out: &first)
        Conv2D.toChannelsLast(first, images: n, channels: c, pixels: p, out: &back)
        XCTAssertEqual(back, x)
        XCTAssertEqual(first[(1 * c + 2) * p + 3], x[(1 * p + 3) * c + 2])
    }
}
