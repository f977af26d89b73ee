// BlockQ5_0: 32 weights as one f16 scale and 5-bit values (the byte layout of ggml's block_q5_0, so GGUF
// Q5_0 tensors are read as they are).
//
//   offset 0: d   (f16, little endian)
//   offset 2: qh  (u32, little endian): bit j = bit 4 of weight j
//   offset 6: qs  (16 bytes): byte j holds the low 4 bits of weight j in its LOW nibble and of weight j+16
//             in its HIGH nibble (BlockQ4_0's order).   x = d * (q - 16),  q in 0...31.
//
// 22 bytes per 32 weights (5.5 bits): between q4 (4.5) and q8 (8.5). Twice q4's levels per block, so a
// quarter of its rounding error, for 22 % more bytes.
//
// quantizeRef: ggml's quantize_row_q5_0_ref (the signed extreme m, d = m / -16, q = min(31, Int(x / d + 16.5))).
// quantizeWeights: the converter's quantizer, a search over scales (see there).

public struct BlockQ5_0 {
    public static let weights = 32
    public static let byteSize = 22

    /// Scalar reference quantizer (ggml's rule): `src` holds a multiple of 32 floats, `dst` receives
    /// `src.count / 32 * 22` bytes.
    public static func quantizeRef(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        precondition(src.count % weights == 0 && dst.count >= src.count / weights * byteSize)
        var q = [UInt8](repeating: 0, count: weights)
        for b in 0..<(src.count / weights) {
            let x = src.baseAddress! + b * weights
            var amax: Float = 0, m: Float = 0
            for i in 0..<weights where abs(x[i]) > amax { amax = abs(x[i]); m = x[i] }
            let d = m / -16
            let id: Float = d != 0 ? 1 / d : 0
            for i in 0..<weights { q[i] = UInt8(min(31, Int8(x[i] * id + 16.5))) }
            store(dst.baseAddress! + b * byteSize, d: floatToF16(d), levels: q)
        }
    }

    /// Weight quantizer (converter, `sentio convert --quant q5`): the same blocks, each scale chosen by a search
    /// instead of the extreme alone. Candidates: quantizeRef's scale; d = m / -(16 + s / 10) for s = -9...9 (the
    /// signed extreme m near level -16, as llama.cpp's make_qx_quants searches); and for t = 9...16 the scales that
    /// put m on level -t (d = m / -t) or, for t <= 15, on level +t (d = m / t); each candidate's
    /// assignment is refitted once by (weighted) least squares (d = sum w l x / sum w l^2) and scored after f16
    /// rounding, as decoded; the lowest error wins, the reference block unless beaten; an exact fit stops the
    /// search. Why these: weights already on a 5-bit grid (a dequantized Q5_0 checkpoint, x = d' l with integer
    /// l in -16...15) are stored without loss (the extreme's level is one of the candidates), where the
    /// reference rule re-rounds every block whose extreme is positive or inside the range; on unstructured
    /// weights the search can only lower the error.
    /// `importance` (optional, one value per column of a row): minimizes sum_i w_i (x_i - y_i)^2 with
    /// BlockQ4_1.elementWeights' w_i (as the 4-bit quantizers with `convert --imatrix`); nil: plain squared error.
    public static func quantizeWeights(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer,
                                       importance: UnsafeBufferPointer<Float>? = nil) {
        if let importance {
            precondition(importance.count % weights == 0 && importance.count > 0 && src.count % importance.count == 0,
                         "importance must cover whole rows of blocks")
        }
        quantizeRef(src, into: dst)
        let w: UnsafeMutableBufferPointer<Float>
        if let importance { w = BlockQ4_1.elementWeights(src, importance: importance) }
        else { w = .allocate(capacity: src.count); w.initialize(repeating: 1) }
        defer { w.deallocate() }
        var q = [UInt8](repeating: 0, count: weights), bestQ = q, ref = q
        for b in 0..<(src.count / weights) {
            let x = src.baseAddress! + b * weights, out = dst.baseAddress! + b * byteSize
            let wb = w.baseAddress! + b * weights
            @inline(__always) func wt(_ i: Int) -> Double { Double(wb[i]) }
            var amax: Float = 0, m: Float = 0
            for i in 0..<weights where abs(x[i]) > amax { amax = abs(x[i]); m = x[i] }
            guard amax > 0, amax.isFinite else { continue }
            func assign(_ d: Float, _ lv: inout [UInt8]) -> Double {
                let id: Float = d != 0 ? 1 / d : 0
                var err = 0.0
                for i in 0..<weights {
                    let l = max(-16, min(15, (x[i] * id).rounded(.toNearestOrEven)))
                    lv[i] = UInt8(Int(l) + 16)
                    let e = Double(x[i]) - Double(d * l)
                    err += wt(i) * (e * e)
                }
                return err
            }
            let d0 = f16ToFloat(UInt16(littleEndian: out.loadUnaligned(as: UInt16.self)))
            levels(out, into: &ref)
            var bestErr = 0.0
            for i in 0..<weights { let e = Double(x[i]) - Double(d0 * Float(Int(ref[i]) - 16)); bestErr += wt(i) * (e * e) }
            var bestH: UInt16? = nil
            var candidates: [Float] = []
            for s in -9...9 { candidates.append(m / -(16 + 0.1 * Float(s))) }
            for t in 9...16 { candidates.append(m / -Float(t)); if t <= 15 { candidates.append(m / Float(t)) } }
            for c in candidates where bestErr > 0 {
                _ = assign(c, &q)
                var sqx = 0.0, sqq = 0.0
                for i in 0..<weights { let l = Double(Int(q[i]) - 16); sqx += wt(i) * l * Double(x[i]); sqq += wt(i) * l * l }
                let d = sqq > 0 ? Float(sqx / sqq) : c
                let h = floatToF16(d), dh = f16ToFloat(h)
                guard dh.isFinite, dh != 0 else { continue }
                let err = assign(dh, &q)
                if err < bestErr { bestErr = err; bestH = h; bestQ = q }
            }
            if let h = bestH { store(out, d: h, levels: bestQ) }
        }
    }

    /// Writes one block: f16 scale bits, 32 levels 0...31.
    static func store(_ out: UnsafeMutableRawPointer, d: UInt16, levels q: [UInt8]) {
        out.storeBytes(of: d.littleEndian, as: UInt16.self)
        var qh: UInt32 = 0
        for i in 0..<weights where q[i] & 16 != 0 { qh |= 1 << UInt32(i) }
        (out + 2).storeBytes(of: qh.littleEndian, toByteOffset: 0, as: UInt32.self)
        let qs = (out + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 { qs[j] = (q[j] & 15) | ((q[j + 16] & 15) << 4) }
    }

    /// The 32 levels 0...31 of one block.
    static func levels(_ blk: UnsafeRawPointer, into q: inout [UInt8]) {
        let qh = UInt32(littleEndian: (blk + 2).loadUnaligned(as: UInt32.self))
        let qs = (blk + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            q[j] = (qs[j] & 15) | UInt8((qh >> UInt32(j)) & 1) << 4
            q[j + 16] = (qs[j] >> 4) | UInt8((qh >> UInt32(j + 16)) & 1) << 4
        }
    }

    /// Scalar reference dequantizer: x = d * (q - 16).
    public static func dequantizeRef(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(dst.count % weights == 0 && src.count >= dst.count / weights * byteSize)
        var q = [UInt8](repeating: 0, count: weights)
        for b in 0..<(dst.count / weights) {
            let blk = src.baseAddress! + b * byteSize
            let d = f16ToFloat(UInt16(littleEndian: blk.loadUnaligned(as: UInt16.self)))
            levels(blk, into: &q)
            for j in 0..<weights { dst[b * weights + j] = d * Float(Int(q[j]) - 16) }
        }
    }
}
