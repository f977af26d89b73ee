// Bicubic resize of 8-bit RGB that reproduces Pillow's `Image.resize(size, Image.BICUBIC)` bit for bit
// (the reference's SigLIP processor resizes through PIL). The algorithm (Pillow src/libImaging/Resample.c,
// re-derived here, not copied):
//  - separable: a horizontal pass, then a vertical pass; the intermediate image is rounded to uint8;
//  - Keys cubic kernel with a = -0.5, support 2, widened by the scale factor when downscaling
//    (antialiasing): support = 2 * max(1, in/out);
//  - for output sample i: centre c = (i + 0.5) * in/out, taps x in [int(c - support + 0.5), int(c + support + 0.5))
//    clamped to the image, weight w(x) = K((x - c + 0.5) / max(1, in/out)), normalised to sum 1 (in Double);
//  - weights become fixed point with 22 fraction bits (rounded away from zero), sums start at 2^21 (a half,
//    for rounding), and the result is (sum >> 22) clamped to 0...255.
// A pass is skipped when its size does not change (Pillow does the same; with unit scale it is an identity).

enum PillowResize {
    static let precisionBits = 22

    /// Keys cubic convolution kernel, a = -0.5.
    @inline(__always)
    static func cubic(_ t: Double) -> Double {
        let a = -0.5
        let x = abs(t)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// Fixed-point taps for resampling `inSize` samples to `outSize`: per output sample the first input
    /// index and the count of taps, and `ksize` coefficients (zero beyond the count).
    struct Taps {
        var ksize: Int
        var start: [Int]
        var count: [Int]
        var coeffs: [Int32]   // outSize * ksize
    }

    static func taps(inSize: Int, outSize: Int) -> Taps {
        let scale = Double(inSize) / Double(outSize)
        let filterScale = max(1.0, scale)
        let support = 2.0 * filterScale
        let ksize = Int(support.rounded(.up)) * 2 + 1
        var t = Taps(ksize: ksize, start: [Int](repeating: 0, count: outSize), count: [Int](repeating: 0, count: outSize),
                     coeffs: [Int32](repeating: 0, count: outSize * ksize))
        var w = [Double](repeating: 0, count: ksize)
        let one = Double(1 << precisionBits)
        for i in 0..<outSize {
            let center = (Double(i) + 0.5) * scale
            // C's (int) cast truncates toward zero; both values are > -1 here only for xmin, where a negative
            // result is clamped to 0 anyway.
            var xmin = Int(center - support + 0.5)
            if xmin < 0 { xmin = 0 }
            var xmax = Int(center + support + 0.5)
            if xmax > inSize { xmax = inSize }
            let n = xmax - xmin
            var sum = 0.0
            for x in 0..<n {
                w[x] = cubic((Double(x + xmin) - center + 0.5) / filterScale)
                sum += w[x]
            }
            for x in 0..<n {
                let v = sum != 0 ? w[x] / sum : w[x]
                t.coeffs[i * ksize + x] = Int32(v < 0 ? (-0.5 + v * one) : (0.5 + v * one))   // truncation toward 0
            }
            t.start[i] = xmin
            t.count[i] = n
        }
        return t
    }

    @inline(__always)
    static func clip8(_ s: Int32) -> UInt8 {
        let v = s >> Int32(precisionBits)
        return UInt8(truncatingIfNeeded: min(255, max(0, v)))
    }

    /// Resizes packed RGB `src` (w x h) to (outW x outH).
    static func resize(_ src: RGBFrame, width outW: Int, height outH: Int) -> RGBFrame {
        var img = src
        if outW != img.width { img = horizontal(img, outW: outW) }
        if outH != img.height { img = vertical(img, outH: outH) }
        return img
    }

    static func horizontal(_ src: RGBFrame, outW: Int) -> RGBFrame {
        let t = taps(inSize: src.width, outSize: outW)
        let h = src.height, w = src.width
        var out = [UInt8](repeating: 0, count: outW * h * 3)
        let half = Int32(1 << (precisionBits - 1))
        src.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                t.coeffs.withUnsafeBufferPointer { k in
                    for y in 0..<h {
                        let row = y * w * 3
                        for x in 0..<outW {
                            var s0 = half, s1 = half, s2 = half
                            let kb = x * t.ksize
                            var p = row + t.start[x] * 3
                            for j in 0..<t.count[x] {
                                let c = k[kb + j]
                                s0 = s0 &+ Int32(s[p]) &* c
                                s1 = s1 &+ Int32(s[p + 1]) &* c
                                s2 = s2 &+ Int32(s[p + 2]) &* c
                                p += 3
                            }
                            let q = (y * outW + x) * 3
                            o[q] = clip8(s0); o[q + 1] = clip8(s1); o[q + 2] = clip8(s2)
                        }
                    }
                }
            }
        }
        return RGBFrame(width: outW, height: h, pixels: out)
    }

    static func vertical(_ src: RGBFrame, outH: Int) -> RGBFrame {
        let t = taps(inSize: src.height, outSize: outH)
        let w3 = src.width * 3
        var out = [UInt8](repeating: 0, count: w3 * outH)
        let half = Int32(1 << (precisionBits - 1))
        var acc = [Int32](repeating: 0, count: w3)
        src.pixels.withUnsafeBufferPointer { s in
            out.withUnsafeMutableBufferPointer { o in
                acc.withUnsafeMutableBufferPointer { a in
                    for y in 0..<outH {
                        for i in 0..<w3 { a[i] = half }
                        // Row-at-a-time accumulation: the same sums as Pillow's per-pixel loop (integer
                        // addition is exact and associative), in an order LLVM vectorises.
                        for j in 0..<t.count[y] {
                            let c = t.coeffs[y * t.ksize + j]
                            let r = (t.start[y] + j) * w3
                            for i in 0..<w3 { a[i] = a[i] &+ Int32(s[r + i]) &* c }
                        }
                        let ob = y * w3
                        for i in 0..<w3 { o[ob + i] = clip8(a[i]) }
                    }
                }
            }
        }
        return RGBFrame(width: src.width, height: outH, pixels: out)
    }
}
