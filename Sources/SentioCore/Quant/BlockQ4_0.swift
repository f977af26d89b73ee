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

    /// Weight quantizer with importance (`sentio convert --imatrix`): the same blocks, each scale searched to
    /// minimize sum_i w_i (x_i - y_i)^2 with the weights of BlockQ4_1.quantizeRef(importance:)
    /// (importance[col] * sqrt(sigma2 + x_i^2)). Candidates: quantizeRef's scale m / -8 and
    /// m / (-8 + k/4) for k = -4...8, each refitted twice by weighted least squares for its assignment
    /// (d = sum w q x / sum w q^2), scored after f16 rounding; the lowest weighted error wins, the
    /// reference scale unless beaten.
    public static func quantizeWeighted(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer,
                                        importance: UnsafeBufferPointer<Float>) {
        let rowLength = importance.count
        precondition(rowLength % weights == 0 && src.count % rowLength == 0, "importance must cover whole rows of blocks")
        quantizeRef(src, into: dst)
        let w = BlockQ4_1.elementWeights(src, importance: importance)
        defer { w.deallocate() }
        var q = [Int8](repeating: 0, count: weights), bestQ = q
        for b in 0..<(src.count / weights) {
            let x = src.baseAddress! + b * weights, wb = w.baseAddress! + b * weights
            let out = dst.baseAddress! + b * byteSize
            var amax: Float = 0, m: Float = 0
            for i in 0..<weights where abs(x[i]) > amax { amax = abs(x[i]); m = x[i] }
            guard amax > 0, amax.isFinite else { continue }
            func score(_ d: Float, _ lv: inout [Int8]) -> Double {
                let id: Float = d != 0 ? 1 / d : 0
                var err = 0.0
                for i in 0..<weights {
                    let l = max(-8, min(7, (x[i] * id).rounded(.toNearestOrEven)))
                    lv[i] = Int8(l)
                    let e = Double(x[i]) - Double(d * l)
                    err += Double(wb[i]) * (e * e)
                }
                return err
            }
            let h0 = UInt16(littleEndian: out.loadUnaligned(as: UInt16.self))
            let d0 = f16ToFloat(h0)
            // The reference block's own error (its levels as stored).
            let qs = (out + 2).assumingMemoryBound(to: UInt8.self)
            var bestErr = 0.0
            for j in 0..<16 {
                let e0 = Double(x[j]) - Double(d0 * Float(Int(qs[j] & 0x0F) - 8))
                let e1 = Double(x[j + 16]) - Double(d0 * Float(Int(qs[j] >> 4) - 8))
                bestErr += Double(wb[j]) * (e0 * e0) + Double(wb[j + 16]) * (e1 * e1)
            }
            var bestH: UInt16? = nil
            for k in -4...8 {
                var d = m / (-8 + 0.25 * Float(k))
                for _ in 0..<2 {
                    _ = score(d, &q)
                    var sqx: Double = 0, sqq: Double = 0
                    for i in 0..<weights { let l = Double(q[i]), wi = Double(wb[i]); sqx += wi * l * Double(x[i]); sqq += wi * l * l }
                    if sqq > 0 { d = Float(sqx / sqq) }
                }
                let h = floatToF16(d), dh = f16ToFloat(h)
                guard dh.isFinite, dh != 0 else { continue }
                let err = score(dh, &q)
                if err < bestErr { bestErr = err; bestH = h; bestQ = q }
            }
            guard let h = bestH else { continue }
            out.storeBytes(of: h.littleEndian, as: UInt16.self)
            for j in 0..<16 { qs[j] = UInt8(Int(bestQ[j]) + 8) | (UInt8(Int(bestQ[j + 16]) + 8) << 4) }
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
