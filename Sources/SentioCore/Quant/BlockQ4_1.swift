// BlockQ4_1: 32 weights as an affine 4-bit grid: f16 step d, f16 offset m, 16 bytes of unsigned nibbles
// (the byte layout of ggml's block_q4_1, so GGUF Q4_1 tensors are read as they are).
//
//   offset 0: d   (f16, little endian)
//   offset 2: m   (f16, little endian)
//   offset 4: qs  (16 bytes). Nibble order as BlockQ4_0: byte j holds weight j in its LOW nibble and
//             weight j+16 in its HIGH nibble.   x = d * q + m,  q in 0...15.
//
// Why an offset: a block of real weights is rarely symmetric around zero; Q4_0's grid d*(q-8) spends
// levels on the side that has no values. With (d, m) the 16 levels cover [m, m + 15d], chosen per block.
//
// Quantization (least squares, not just min/max): candidates start from the block's range [lo, hi] and
// from ranges shrunk by half or one step at either end (clipping a lone outlier can lower the total
// error); each candidate alternates "assign every weight its nearest level" and "the (d, m) that minimize
// the squared error for that assignment" (a 2-parameter linear regression, closed form) three times.
// Every candidate is scored after rounding d and m to f16, exactly as it will be decoded; the lowest
// squared error wins (ties: the earlier candidate, so the result is deterministic).

public struct BlockQ4_1 {
    public static let weights = 32
    public static let byteSize = 20

    /// Scalar reference quantizer: `src` holds a multiple of 32 floats, `dst` receives
    /// `src.count / 32 * 20` bytes.
    ///
    /// `importance` (optional): one non-negative weight per column of a row of `rowLength` values (an
    /// importance matrix: the mean squared activation that meets each column in the matmul, see
    /// ImportanceMatrix). Each block then minimizes sum_i w_i (x_i - y_i)^2 with
    /// w_i = importance[col(i)] * sqrt(sigma2 + x_i^2), sigma2 the row's mean square: the expected squared
    /// error of the matmul's output when the columns' activations are uncorrelated, leaning towards the
    /// larger weights of a column as the weighted quantizers of llama.cpp do. Without it every w_i = 1 (the
    /// plain least squares above; the same arithmetic, so the same bytes as before importance existed).
    public static func quantizeRef(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer,
                                   importance: UnsafeBufferPointer<Float>? = nil) {
        precondition(src.count % weights == 0 && dst.count >= src.count / weights * byteSize)
        if let importance {
            precondition(importance.count % weights == 0 && src.count % importance.count == 0, "importance must cover whole rows of blocks")
        }
        var q = [UInt8](repeating: 0, count: weights), best = [UInt8](repeating: 0, count: weights)
        let ones = UnsafeMutablePointer<Float>.allocate(capacity: weights)
        ones.initialize(repeating: 1, count: weights)
        let elementW = importance.map { elementWeights(src, importance: $0) }
        defer { elementW?.deallocate(); ones.deallocate() }
        for b in 0..<(src.count / weights) {
            let x = UnsafeBufferPointer(rebasing: src[(b * weights)..<((b + 1) * weights)])
            let w = UnsafePointer(elementW.map { $0.baseAddress! + b * weights } ?? ones)
            let (dh, mh) = quantizeBlock(x, w: w, q: &q, best: &best)
            let out = dst.baseAddress! + b * byteSize
            out.storeBytes(of: dh.littleEndian, as: UInt16.self)
            (out + 2).storeBytes(of: mh.littleEndian, as: UInt16.self)
            let qs = (out + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 { qs[j] = best[j] | (best[j + 16] << 4) }
        }
    }

    /// Per-element error weights for `src` (rows of `importance.count` values): importance[col] *
    /// sqrt(sigma2 + x^2), sigma2 the row's mean square. Columns the calibration never exercised
    /// (importance 0, or not finite) count with a floor of 1e-3 of the mean importance, so their values still
    /// land on a sensible grid. The caller deallocates.
    public static func elementWeights(_ src: UnsafeBufferPointer<Float>, importance: UnsafeBufferPointer<Float>) -> UnsafeMutableBufferPointer<Float> {
        let rowLength = importance.count
        var s: Double = 0
        for v in importance { s += Double(v.isFinite ? max(0, v) : 0) }
        let floor = Float(s / Double(max(1, rowLength))) * 1e-3
        let out = UnsafeMutableBufferPointer<Float>.allocate(capacity: src.count)
        for r in 0..<(src.count / max(1, rowLength)) {
            let row = src.baseAddress! + r * rowLength
            var ss: Double = 0
            for j in 0..<rowLength { ss += Double(row[j]) * Double(row[j]) }
            let sigma2 = Float(ss / Double(rowLength))
            for j in 0..<rowLength {
                let v = importance[j]
                out[r * rowLength + j] = max(floor, v.isFinite ? v : 0) * (sigma2 + row[j] * row[j]).squareRoot()
            }
        }
        return out
    }

    /// Levels of x for the f16-rounded (d, m); returns the weighted squared error.
    @inline(__always)
    static func assign(_ x: UnsafeBufferPointer<Float>, w: UnsafePointer<Float>, d: Float, m: Float, into q: inout [UInt8]) -> Double {
        let id: Float = d != 0 ? 1 / d : 0
        var err = 0.0
        for i in 0..<weights {
            let v = ((x[i] - m) * id).rounded(.toNearestOrEven)
            let l = UInt8(max(0, min(15, v.isNaN ? 0 : v)))
            q[i] = l
            let e = Double(x[i]) - Double(d * Float(l) + m)
            err += Double(w[i]) * (e * e)
        }
        return err
    }

    /// One block: returns the f16 bit patterns of (d, m) and leaves the levels in `best`.
    static func quantizeBlock(_ x: UnsafeBufferPointer<Float>, w: UnsafePointer<Float>, q: inout [UInt8], best: inout [UInt8]) -> (UInt16, UInt16) {
        var lo = x[0], hi = x[0]
        for v in x { lo = min(lo, v); hi = max(hi, v) }
        var bestErr = Double.infinity, bestD: UInt16 = 0, bestM: UInt16 = 0
        func consider(_ d: Float, _ m: Float) -> Bool {
            let dh = floatToF16(d), mh = floatToF16(m)
            let df = f16ToFloat(dh), mf = f16ToFloat(mh)
            guard df.isFinite, mf.isFinite else { return false }
            let err = assign(x, w: w, d: df, m: mf, into: &q)
            if err < bestErr { bestErr = err; bestD = dh; bestM = mh; best = q; return true }
            return false
        }
        _ = consider((hi - lo) / 15, lo)
        if bestErr == .infinity {               // range not representable in f16: clamp the step
            _ = consider(min(65504, (hi - lo) / 15), max(-65504, min(65504, lo)))
            if bestErr == .infinity { best = [UInt8](repeating: 0, count: weights); return (0, 0) }
        }
        var n: Float = 0
        for i in 0..<weights { n += w[i] }
        guard n > 0 else { return (bestD, bestM) }   // all weights zero: any grid is as good; keep min/max
        for a: Float in [0, 0.5, 1] {
            for c: Float in [0, 0.5, 1] {
                var d = (hi - lo) / (15 + a + c), m = lo + a * d
                for _ in 0..<3 {
                    _ = assign(x, w: w, d: d, m: m, into: &q)
                    var sq: Float = 0, sqq: Float = 0, sx: Float = 0, sqx: Float = 0
                    for i in 0..<weights {
                        let l = Float(q[i]), wi = w[i]
                        sq += wi * l; sqq += wi * l * l; sx += wi * x[i]; sqx += wi * l * x[i]
                    }
                    let det = n * sqq - sq * sq
                    if det > 0 {
                        d = (n * sqx - sq * sx) / det
                        m = (sx - d * sq) / n
                    } else {
                        d = 0; m = sx / n
                    }
                }
                _ = consider(d, m)
            }
        }
        return (bestD, bestM)
    }

    /// Scalar reference dequantizer: x = d * q + m.
    public static func dequantizeRef(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(dst.count % weights == 0 && src.count >= dst.count / weights * byteSize)
        for b in 0..<(dst.count / weights) {
            let blk = src.baseAddress! + b * byteSize
            let d = f16ToFloat(UInt16(littleEndian: blk.loadUnaligned(as: UInt16.self)))
            let m = f16ToFloat(UInt16(littleEndian: (blk + 2).loadUnaligned(as: UInt16.self)))
            let q = (blk + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                dst[b * weights + j] = d * Float(q[j] & 0x0F) + m
                dst[b * weights + j + 16] = d * Float(q[j] >> 4) + m
            }
        }
    }
}
