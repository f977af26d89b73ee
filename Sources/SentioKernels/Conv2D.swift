// Conv2D: the convolution pieces the vision towers need, in channels-last layout.
//
// Big convolutions become a GEMM: `patches` / `im2col3d` lay the receptive fields out as rows whose
// column order is PyTorch's weight order (c, [kt,] kh, kw), so the stored conv weight [O, C, ...] is used
// as-is as a Linear matrix [O, C*k...] (any dtype, through Linear.forward). 1x1 convolutions on
// channels-last activations [pixels, C] need no im2col at all: they are Linear on the pixel rows.
// Small ones run as direct loops: depthwise 3x3 (groups = channels), per-image pixel means (squeeze-
// excite) and bilinear resizing (align_corners = false, as F.interpolate(mode: "bilinear")).
//
// Every function here has a scalar Double twin in Conv2DRef.swift, written as the textbook
// convolution / interpolation on PyTorch's channels-first layout.
import SentioCore

public enum Conv2D {
    /// Output length of one convolution axis: (input + 2*padding - kernel) / stride + 1 (0 if the kernel does not fit).
    public static func outputSize(_ input: Int, kernel: Int, stride: Int, padding: Int) -> Int {
        let span = input + 2 * padding - kernel
        return span < 0 ? 0 : span / stride + 1
    }

    /// Non-overlapping patches (kernel = stride = `patch`, no padding) of channels-first images
    /// x [images, C, H, W] -> rows [images * (H/p) * (W/p), C*p*p]. Row order (image, ph, pw) (row-major patch
    /// grid), column order (c, kh, kw) = a PyTorch Conv2d weight [O, C, p, p] flattened. Trailing rows / columns
    /// of pixels that do not fill a patch are ignored, as the strided convolution does.
    public static func patches(_ x: UnsafePointer<Float>, images: Int, channels: Int, height: Int, width: Int,
                               patch p: Int, out: UnsafeMutablePointer<Float>, pool: ThreadPool = .shared) {
        let gh = height / p, gw = width / p, cols = channels * p * p
        if images <= 0 || gh == 0 || gw == 0 || channels == 0 { return }
        nonisolated(unsafe) let x = x, out = out
        pool.parallelFor(images * gh) { task in
            let img = task / gh, ph = task % gh
            for pw in 0..<gw {
                let row = out + ((img * gh + ph) * gw + pw) * cols
                for c in 0..<channels {
                    let plane = x + (img * channels + c) * height * width
                    for kh in 0..<p {
                        let src = plane + (ph * p + kh) * width + pw * p
                        (row + (c * p + kh) * p).update(from: src, count: p)
                    }
                }
            }
        }
    }

    /// im2col for a 3-D convolution of a channels-last volume x [T, H, W, C] with zero padding:
    /// rows [outT * outH * outW, C*kt*kh*kw], row order (t, h, w), column order (c, kt, kh, kw) = a PyTorch
    /// Conv3d weight [O, C, kt, kh, kw] flattened. Only output times 0..<outT are produced (outT may be smaller
    /// than the full output length, so that trailing slices a model drops are never computed).
    public static func im2col3d(_ x: UnsafePointer<Float>, t: Int, h: Int, w: Int, c: Int,
                                kernel: (t: Int, h: Int, w: Int), stride: (t: Int, h: Int, w: Int),
                                padding: (t: Int, h: Int, w: Int), outT: Int,
                                out: UnsafeMutablePointer<Float>, pool: ThreadPool = .shared) {
        let oh = outputSize(h, kernel: kernel.h, stride: stride.h, padding: padding.h)
        let ow = outputSize(w, kernel: kernel.w, stride: stride.w, padding: padding.w)
        let taps = kernel.t * kernel.h * kernel.w, cols = c * taps
        if outT <= 0 || oh == 0 || ow == 0 || cols == 0 { return }
        nonisolated(unsafe) let x = x, out = out
        pool.parallelFor(outT * oh) { task in
            let ot = task / oh, oy = task % oh
            for ox in 0..<ow {
                let row = out + ((ot * oh + oy) * ow + ox) * cols
                var tap = 0
                for dt in 0..<kernel.t {
                    let it = ot * stride.t + dt - padding.t
                    for dy in 0..<kernel.h {
                        let iy = oy * stride.h + dy - padding.h
                        for dx in 0..<kernel.w {
                            let ix = ox * stride.w + dx - padding.w
                            if it < 0 || it >= t || iy < 0 || iy >= h || ix < 0 || ix >= w {
                                for ch in 0..<c { row[ch * taps + tap] = 0 }
                            } else {
                                let src = x + ((it * h + iy) * w + ix) * c
                                for ch in 0..<c { row[ch * taps + tap] = src[ch] }
                            }
                            tap += 1
                        }
                    }
                }
            }
        }
    }

    /// Depthwise 3x3 convolution (groups = channels), stride 1, zero padding 1, no bias, on channels-last
    /// images x [images, H, W, C] -> out [images, H, W, C]. weight [C, 9] = PyTorch's [C, 1, 3, 3].
    /// `out` must not alias `x`.
    public static func depthwise3x3(_ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels c: Int,
                                    weight: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, pool: ThreadPool = .shared) {
        if images <= 0 || height <= 0 || width <= 0 || c <= 0 { return }
        // Tap-major copy of the weights [9, C], so the inner loop runs over contiguous channels.
        let wt = UnsafeMutablePointer<Float>.allocate(capacity: 9 * c)
        defer { wt.deallocate() }
        for ch in 0..<c { for k in 0..<9 { wt[k * c + ch] = weight[ch * 9 + k] } }
        nonisolated(unsafe) let x = x, out = out, wtp = UnsafePointer(wt)
        pool.parallelFor(images * height) { task in
            let img = task / height, y = task % height
            let base = x + img * height * width * c
            for xx in 0..<width {
                let o = out + ((img * height + y) * width + xx) * c
                for ch in 0..<c { o[ch] = 0 }
                for dy in -1...1 {
                    let iy = y + dy
                    if iy < 0 || iy >= height { continue }
                    for dx in -1...1 {
                        let ix = xx + dx
                        if ix < 0 || ix >= width { continue }
                        let src = base + (iy * width + ix) * c
                        let wk = wtp + ((dy + 1) * 3 + (dx + 1)) * c
                        for ch in 0..<c { o[ch] += src[ch] * wk[ch] }
                    }
                }
            }
        }
    }

    /// Per-image mean over pixels: x [images, pixels, C] -> out [images, C] (adaptive average pooling to 1x1).
    public static func meanPixels(_ x: UnsafePointer<Float>, images: Int, pixels: Int, channels c: Int,
                                  out: UnsafeMutablePointer<Float>) {
        guard pixels > 0 else { return }
        let inv = 1 / Float(pixels)
        for img in 0..<images {
            let o = out + img * c
            for ch in 0..<c { o[ch] = 0 }
            for p in 0..<pixels {
                let src = x + (img * pixels + p) * c
                for ch in 0..<c { o[ch] += src[ch] }
            }
            for ch in 0..<c { o[ch] *= inv }
        }
    }

    /// Source coordinate of bilinear interpolation with align_corners = false (PyTorch's rule):
    /// s = (dst + 0.5) * in/out - 0.5, clamped below at 0; returns the two taps and their weights.
    @inline(__always)
    static func bilinearTaps(_ dst: Int, input: Int, output: Int) -> (i0: Int, i1: Int, w0: Float, w1: Float) {
        let scale = Float(input) / Float(output)
        let s = max(0, (Float(dst) + 0.5) * scale - 0.5)
        let i0 = min(Int(s), input - 1)
        let i1 = i0 < input - 1 ? i0 + 1 : i0
        let w1 = s - Float(i0)
        return (i0, i1, 1 - w1, w1)
    }

    /// Bilinear resize (align_corners = false, no antialiasing: F.interpolate(mode: "bilinear")) of channels-last
    /// images x [images, H, W, C] -> out [images, outH, outW, C]. At an exact 2x downscale every output is the mean
    /// of a 2x2 block.
    public static func bilinearResize(_ x: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels c: Int,
                                      outHeight: Int, outWidth: Int, out: UnsafeMutablePointer<Float>) {
        if images <= 0 || height <= 0 || width <= 0 || outHeight <= 0 || outWidth <= 0 { return }
        let xs = (0..<outWidth).map { bilinearTaps($0, input: width, output: outWidth) }
        for img in 0..<images {
            let base = x + img * height * width * c
            for oy in 0..<outHeight {
                let ty = bilinearTaps(oy, input: height, output: outHeight)
                for ox in 0..<outWidth {
                    let tx = xs[ox]
                    let o = out + ((img * outHeight + oy) * outWidth + ox) * c
                    let a = base + (ty.i0 * width + tx.i0) * c, b = base + (ty.i0 * width + tx.i1) * c
                    let d = base + (ty.i1 * width + tx.i0) * c, e = base + (ty.i1 * width + tx.i1) * c
                    for ch in 0..<c {
                        o[ch] = ty.w0 * (tx.w0 * a[ch] + tx.w1 * b[ch]) + ty.w1 * (tx.w0 * d[ch] + tx.w1 * e[ch])
                    }
                }
            }
        }
    }

    /// Channels-first [n, C, P] <-> channels-last [n, P, C] transposition (P = pixels of one image).
    public static func toChannelsLast(_ x: UnsafePointer<Float>, images: Int, channels c: Int, pixels: Int,
                                      out: UnsafeMutablePointer<Float>) {
        for img in 0..<images {
            for ch in 0..<c { for p in 0..<pixels { out[(img * pixels + p) * c + ch] = x[(img * c + ch) * pixels + p] } }
        }
    }

    /// Channels-last [n, P, C] -> channels-first [n, C, P].
    public static func toChannelsFirst(_ x: UnsafePointer<Float>, images: Int, channels c: Int, pixels: Int,
                                       out: UnsafeMutablePointer<Float>) {
        for img in 0..<images {
            for ch in 0..<c { for p in 0..<pixels { out[(img * c + ch) * pixels + p] = x[(img * pixels + p) * c + ch] } }
        }
    }
}
