// BlockQ4_0: 32 weights as one f16 scale and 16 bytes of 4-bit values (ggml's block_q4_0 layout).
//
//   offset 0: d   (f16, little endian)
//   offset 2: qs  (16 bytes). Nibble order: byte j holds weight j in its LOW nibble and weight j+16
//             in its HIGH nibble (not interleaved pairs). x = d * (q - 8), q in 0...15.
//
// Quantization (ggml quantize_row_q4_0_ref): find the value m with the largest magnitude (sign kept),
// d = m / -8, q = min(15, Int(x / d + 8.5)). Using the signed extreme lets -8 be used exactly.

public struct BlockQ4_0 {
    public static let weights = 32
    public static let byteSize = 18

    public static func quantizeRef(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        precondition(src.count % weights == 0 && dst.count >= src.count / weights * byteSize)
        for b in 0..<(src.count / weights) {
            let x = src.baseAddress! + b * weights
            let out = dst.baseAddress! + b * byteSize
            var amax: Float = 0, m: Float = 0
            for i in 0..<weights where abs(x[i]) > amax { amax = abs(x[i]); m = x[i] }
            let d = m / -8
            let id: Float = d != 0 ? 1 / d : 0
            out.storeBytes(of: floatToF16(d).littleEndian, as: UInt16.self)
            let q = (out + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                let lo = UInt8(min(15, Int8(x[j] * id + 8.5)))
                let hi = UInt8(min(15, Int8(x[j + 16] * id + 8.5)))
                q[j] = lo | (hi << 4)
            }
        }
    }

    public static func dequantizeRef(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(dst.count % weights == 0 && src.count >= dst.count / weights * byteSize)
        for b in 0..<(dst.count / weights) {
            let blk = src.baseAddress! + b * byteSize
            let d = f16ToFloat(UInt16(littleEndian: blk.loadUnaligned(as: UInt16.self)))
            let q = (blk + 2).assumingMemoryBound(to: UInt8.self)
            for j in 0..<16 {
                dst[b * weights + j] = d * Float(Int(q[j] & 0x0F) - 8)
                dst[b * weights + j + 16] = d * Float(Int(q[j] >> 4) - 8)
            }
        }
    }
}
