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
}
