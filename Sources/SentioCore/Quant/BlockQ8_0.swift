// BlockQ8_0: 32 weights as one f16 scale and 32 signed bytes (ggml's block_q8_0 layout).
//
//   offset 0: d   (f16, little endian)   x[i] = d * qs[i]
//   offset 2: qs  (32 x int8)
//
// Quantization: d = max|x| / 127, qs[i] = round(x[i] / d) (round half away from zero, as ggml's
// roundf). The scale is rounded to f16 before use in dequantization only; quantization divides by
// the f32 scale, exactly as ggml's quantize_row_q8_0_ref, so the two agree bit for bit.

public struct BlockQ8_0 {
    public static let weights = 32
    public static let byteSize = 34

    /// Scalar reference quantizer: `src` holds a multiple of 32 floats, `dst` receives
    /// `src.count / 32 * 34` bytes.
    public static func quantizeRef(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        precondition(src.count % weights == 0 && dst.count >= src.count / weights * byteSize)
        for b in 0..<(src.count / weights) {
            let x = src.baseAddress! + b * weights
            let out = dst.baseAddress! + b * byteSize
            var amax: Float = 0
            for i in 0..<weights { amax = max(amax, abs(x[i])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            out.storeBytes(of: floatToF16(d).littleEndian, as: UInt16.self)
            let q = (out + 2).assumingMemoryBound(to: Int8.self)
            for i in 0..<weights { q[i] = Int8((x[i] * id).rounded(.toNearestOrAwayFromZero)) }
        }
    }

    /// Scalar reference dequantizer.
    public static func dequantizeRef(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(dst.count % weights == 0 && src.count >= dst.count / weights * byteSize)
        for b in 0..<(dst.count / weights) {
            let blk = src.baseAddress! + b * byteSize
            let d = f16ToFloat(UInt16(littleEndian: blk.loadUnaligned(as: UInt16.self)))
            let q = (blk + 2).assumingMemoryBound(to: Int8.self)
            for i in 0..<weights { dst[b * weights + i] = d * Float(q[i]) }
        }
    }

    /// Weight quantizer (converter): the same blocks, with the scale chosen by least squares instead of
    /// amax/127 only. Candidates d = amax / t for t = 127, 126, ..., 64 (f16-rounded, as decoded); the
    /// block keeps quantizeRef's result unless a candidate has a strictly smaller squared error, and the
    /// search stops at an exact fit. Why: weights that were already on a coarser grid (a dequantized
    /// Q5_0 / Q6_K / Q4_0 checkpoint: x = d' * k with |k| <= 32) sit exactly on d = d' / c for an integer c
    /// with amax / d in 64...127, so they are stored without loss where amax/127 would re-round every one;
    /// on unstructured weights the search can only lower the error (amax/127 stays a candidate).
    public static func quantizeWeights(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        quantizeRef(src, into: dst)
        for b in 0..<(src.count / weights) {
            let x = src.baseAddress! + b * weights
            let out = dst.baseAddress! + b * byteSize
            let q = (out + 2).assumingMemoryBound(to: Int8.self)
            let d0 = f16ToFloat(UInt16(littleEndian: out.loadUnaligned(as: UInt16.self)))
            var best: Float = 0, amax: Float = 0
            for i in 0..<weights {
                let e = x[i] - d0 * Float(q[i]); best += e * e
                amax = max(amax, abs(x[i]))
            }
            if best == 0 || amax == 0 || !amax.isFinite { continue }
            var bestH: UInt16? = nil
            for t in stride(from: 127, through: 64, by: -1) {
                let h = floatToF16(amax / Float(t))
                let d = f16ToFloat(h)
                guard d > 0, d.isFinite else { continue }
                let id = 1 / d
                var err: Float = 0
                for i in 0..<weights {
                    let l = max(-127, min(127, (x[i] * id).rounded(.toNearestOrAwayFromZero)))
                    let e = x[i] - d * l; err += e * e
                }
                if err < best {
                    best = err; bestH = h
                    if err == 0 { break }
                }
            }
            guard let h = bestH else { continue }
            let d = f16ToFloat(h), id = 1 / d
            out.storeBytes(of: h.littleEndian, as: UInt16.self)
            for i in 0..<weights { q[i] = Int8(max(-127, min(127, (x[i] * id).rounded(.toNearestOrAwayFromZero)))) }
        }
    }

    /// q8r (DType.q8r): one row `src` (a multiple of 32 floats) as Q8_0 blocks that all carry the row's scale:
    /// h = f16(max|x| / 127), q = round(x / d) with d = the f16 value h decodes to (the scale every kernel
    /// multiplies by; half away from zero, clamped to +-127). A zero row (or one whose scale rounds to 0 in
    /// f16) stores zeros. One scale per output row is what lets the AMX-INT8 GEMM accumulate a whole row in
    /// int32 (CTranslate2's int8 layout); the price is a coarser grid where a row's blocks differ in range.
    public static func quantizeRowShared(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        precondition(src.count % weights == 0 && dst.count >= src.count / weights * byteSize)
        var amax: Float = 0
        for v in src { amax = max(amax, abs(v)) }
        let h = floatToF16(amax / 127)
        let d = f16ToFloat(h)
        let id: Float = d != 0 && d.isFinite ? 1 / d : 0
        for b in 0..<(src.count / weights) {
            let x = src.baseAddress! + b * weights
            let out = dst.baseAddress! + b * byteSize
            out.storeBytes(of: (id == 0 ? 0 : h).littleEndian, as: UInt16.self)
            let q = (out + 2).assumingMemoryBound(to: Int8.self)
            for i in 0..<weights { q[i] = Int8(max(-127, min(127, (x[i] * id).rounded(.toNearestOrAwayFromZero)))) }
        }
    }
}
