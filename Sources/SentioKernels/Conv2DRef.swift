// Conv2DRef: scalar Double twins of Conv2D, written as textbook convolution / interpolation on PyTorch's
// channels-first layouts (the definitions of nn.Conv2d, nn.Conv3d and F.interpolate(bilinear)), so a test
// checks the fast channels-last path (im2col + GEMM, direct loops) against the plain definition.
import Foundation

extension Conv2D {
    /// nn.Conv2d: x [N, Cin, H, W], weight [Cout, Cin/groups, kh, kw], optional bias -> [N, Cout, oh, ow].
    public static func conv2dRef(_ x: [Float], n: Int, cin: Int, h: Int, w: Int, weight: [Float], cout: Int,
                                 kernel: (h: Int, w: Int), stride: (h: Int, w: Int) = (1, 1),
                                 padding: (h: Int, w: Int) = (0, 0), groups: Int = 1, bias: [Float]? = nil) -> [Float] {
        let oh = outputSize(h, kernel: kernel.h, stride: stride.h, padding: padding.h)
        let ow = outputSize(w, kernel: kernel.w, stride: stride.w, padding: padding.w)
        let cinG = cin / groups, coutG = cout / groups
        var out = [Float](repeating: 0, count: n * cout * oh * ow)
        for b in 0..<n { for o in 0..<cout {
            let g = o / coutG
            for y in 0..<oh { for xx in 0..<ow {
                var s = Double(bias?[o] ?? 0)
                for ci in 0..<cinG { for ky in 0..<kernel.h { for kx in 0..<kernel.w {
                    let iy = y * stride.h + ky - padding.h, ix = xx * stride.w + kx - padding.w
                    if iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                    let xv = x[((b * cin + g * cinG + ci) * h + iy) * w + ix]
                    let wv = weight[((o * cinG + ci) * kernel.h + ky) * kernel.w + kx]
                    s += Double(xv) * Double(wv)
                } } }
                out[((b * cout + o) * oh + y) * ow + xx] = Float(s)
            } }
        } }
        return out
    }

    /// nn.Conv3d (groups 1): x [Cin, T, H, W] (one batch), weight [Cout, Cin, kt, kh, kw], optional bias
    /// -> [Cout, oT, oH, oW] over the full output length.
    public static func conv3dRef(_ x: [Float], cin: Int, t: Int, h: Int, w: Int, weight: [Float], cout: Int,
                                 kernel: (t: Int, h: Int, w: Int), stride: (t: Int, h: Int, w: Int),
                                 padding: (t: Int, h: Int, w: Int), bias: [Float]? = nil) -> [Float] {
        let ot = outputSize(t, kernel: kernel.t, stride: stride.t, padding: padding.t)
        let oh = outputSize(h, kernel: kernel.h, stride: stride.h, padding: padding.h)
        let ow = outputSize(w, kernel: kernel.w, stride: stride.w, padding: padding.w)
        var out = [Float](repeating: 0, count: cout * ot * oh * ow)
        for o in 0..<cout { for a in 0..<ot { for y in 0..<oh { for xx in 0..<ow {
            var s = Double(bias?[o] ?? 0)
            for ci in 0..<cin { for kt in 0..<kernel.t { for ky in 0..<kernel.h { for kx in 0..<kernel.w {
                let it = a * stride.t + kt - padding.t, iy = y * stride.h + ky - padding.h, ix = xx * stride.w + kx - padding.w
                if it < 0 || it >= t || iy < 0 || iy >= h || ix < 0 || ix >= w { continue }
                let xv = x[((ci * t + it) * h + iy) * w + ix]
                let wv = weight[(((o * cin + ci) * kernel.t + kt) * kernel.h + ky) * kernel.w + kx]
                s += Double(xv) * Double(wv)
            } } } }
            out[((o * ot + a) * oh + y) * ow + xx] = Float(s)
        } } } }
        return out
    }

    /// F.interpolate(mode: "bilinear", align_corners: false) on x [N, C, H, W] -> [N, C, oh, ow], in Double.
    public static func bilinearResizeRef(_ x: [Float], n: Int, c: Int, h: Int, w: Int, outHeight oh: Int, outWidth ow: Int) -> [Float] {
        func taps(_ d: Int, _ input: Int, _ output: Int) -> (Int, Int, Double) {
            let s = max(0, (Double(d) + 0.5) * Double(input) / Double(output) - 0.5)
            let i0 = min(Int(s.rounded(.down)), input - 1)
            return (i0, min(i0 + 1, input - 1), s - Double(i0))
        }
        var out = [Float](repeating: 0, count: n * c * oh * ow)
        for p in 0..<(n * c) { for y in 0..<oh {
            let (y0, y1, ly) = taps(y, h, oh)
            for xx in 0..<ow {
                let (x0, x1, lx) = taps(xx, w, ow)
                func at(_ yy: Int, _ xv: Int) -> Double { Double(x[(p * h + yy) * w + xv]) }
                let v = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1))
                out[(p * oh + y) * ow + xx] = Float(v)
            }
        } }
        return out
    }
}
