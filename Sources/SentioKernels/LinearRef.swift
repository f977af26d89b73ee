// Scalar reference twins of Linear: dequantize with SentioCore's reference dequantizers, plain loops.
import SentioCore

extension Linear {
    /// Scalar reference: y = x · dequant(W)ᵀ (+ bias), Double accumulation.
    public static func forwardRef(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                  bias: UnsafePointer<Float>?) {
        forwardRef(w, x: x, n: n, y: y, bias: bias, rounding: { $0 })
    }

    /// Scalar reference of the bf16 tile path: x and dequant(W) rounded to bf16 (nearest even), products
    /// (exact in f32: 8 x 8 significant bits) summed in Double. The tile GEMM sums the same products in f32.
    public static func forwardRefBF16(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                      bias: UnsafePointer<Float>?) {
        forwardRef(w, x: x, n: n, y: y, bias: bias, rounding: roundToBF16)
    }

    /// The twins' one loop: every x and dequantized weight passes through `rounding` before the Double products.
    static func forwardRef(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                           bias: UnsafePointer<Float>?, rounding: (Float) -> Float) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, w.cols))
        defer { row.deallocate() }
        for r in 0..<w.rows {
            w.dequantizeRowRef(r, into: row)
            for k in 0..<w.cols { row[k] = rounding(row[k]) }
            for i in 0..<n {
                var s = 0.0
                for k in 0..<w.cols { s += Double(rounding(x[i * w.cols + k])) * Double(row[k]) }
                y[i * w.rows + r] = Float(s) + (bias?[r] ?? 0)
            }
        }
    }

    /// f32 -> bf16 -> f32, round to nearest even (finite inputs), as vcvtneps2bf16.
    public static func roundToBF16(_ v: Float) -> Float {
        let b = v.bitPattern
        return Float(bitPattern: ((b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16) << 16)
    }

    /// Scalar reference of the integer path for q8/q8r/q4/q4_1/q5 weights: each activation row quantized with
    /// BlockQ8_0.quantizeRef, per block an exact integer dot, scaled by d_w * d_x and summed in f32
    /// in block order (q4_1: dot of the unsigned levels, plus the offset term m_w * d_x * sum(q_x); q5: the signed levels q - 16). The fast path computes the same integers and the same scale products; only the
    /// f32 summation order differs.
    public static func forwardRefQuantizedActivations(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int,
                                                      y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?) {
        precondition(w.dtype.isQ8Blocks || w.dtype == .q4 || w.dtype == .q4_1 || w.dtype == .q5)
        let nb = w.cols / 32
        let xq = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, nb * BlockQ8_0.byteSize), alignment: 16)
        defer { xq.deallocate() }
        for i in 0..<n {
            BlockQ8_0.quantizeRef(UnsafeBufferPointer(start: x + i * w.cols, count: w.cols), into: xq)
            for r in 0..<w.rows {
                let wr = w.data + r * w.rowBytes
                var acc: Float = 0
                for b in 0..<nb {
                    let xb = xq.baseAddress! + b * BlockQ8_0.byteSize
                    let dx = f16ToFloat(UInt16(littleEndian: xb.loadUnaligned(as: UInt16.self)))
                    let qx = (xb + 2).assumingMemoryBound(to: Int8.self)
                    var dot: Int32 = 0
                    let dw: Float
                    if w.dtype.isQ8Blocks {
                        let wb = wr + b * BlockQ8_0.byteSize
                        dw = f16ToFloat(UInt16(littleEndian: wb.loadUnaligned(as: UInt16.self)))
                        let qw = (wb + 2).assumingMemoryBound(to: Int8.self)
                        for j in 0..<32 { dot &+= Int32(qw[j]) &* Int32(qx[j]) }
                    } else if w.dtype == .q4_1 {
                        let wb = wr + b * BlockQ4_1.byteSize
                        dw = f16ToFloat(UInt16(littleEndian: wb.loadUnaligned(as: UInt16.self)))
                        let mw = f16ToFloat(UInt16(littleEndian: (wb + 2).loadUnaligned(as: UInt16.self)))
                        let qw = (wb + 4).assumingMemoryBound(to: UInt8.self)
                        var sx: Int32 = 0
                        for j in 0..<16 {
                            dot &+= Int32(qw[j] & 15) &* Int32(qx[j]) &+ Int32(qw[j] >> 4) &* Int32(qx[j + 16])
                            sx &+= Int32(qx[j]) &+ Int32(qx[j + 16])
                        }
                        acc += mw * (dx * Float(sx))
                    } else if w.dtype == .q5 {
                        let wb = wr + b * BlockQ5_0.byteSize
                        dw = f16ToFloat(UInt16(littleEndian: wb.loadUnaligned(as: UInt16.self)))
                        let qh = UInt32(littleEndian: (wb + 2).loadUnaligned(as: UInt32.self))
                        let qw = (wb + 6).assumingMemoryBound(to: UInt8.self)
                        for j in 0..<16 {
                            let lo = Int32(qw[j] & 15) | Int32((qh >> UInt32(j)) & 1) << 4
                            let hi = Int32(qw[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
                            dot &+= (lo - 16) &* Int32(qx[j]) &+ (hi - 16) &* Int32(qx[j + 16])
                        }
                    } else {
                        let wb = wr + b * BlockQ4_0.byteSize
                        dw = f16ToFloat(UInt16(littleEndian: wb.loadUnaligned(as: UInt16.self)))
                        let qw = (wb + 2).assumingMemoryBound(to: UInt8.self)
                        for j in 0..<16 {
                            dot &+= (Int32(qw[j] & 15) - 8) &* Int32(qx[j])
                            dot &+= (Int32(qw[j] >> 4) - 8) &* Int32(qx[j + 16])
                        }
                    }
                    acc += (dw * dx) * Float(dot)
                }
                y[i * w.rows + r] = acc + (bias?[r] ?? 0)
            }
        }
    }

    /// Scalar twin of forwardPrecise's two-term path: the quantized-activation twin of x plus that of its
    /// Q8_0 residual (q8ResidualRef).
    public static func forwardRefTwoTerm(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int,
                                         y: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>?) {
        let r = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * w.cols))
        let yr = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * w.rows))
        defer { r.deallocate(); yr.deallocate() }
        q8ResidualRef(x, n: n, cols: w.cols, into: r)
        forwardRefQuantizedActivations(w, x: x, n: n, y: y, bias: bias)
        forwardRefQuantizedActivations(w, x: r, n: n, y: yr, bias: nil)
        for j in 0..<(n * w.rows) { y[j] += yr[j] }
    }

    /// r = x - dequant(Q8_0(x)) row by row (BlockQ8_0.quantizeRef, its stored f16 scale): what the first Q8_0 term
    /// of forwardPrecise leaves, the input of its second term.
    public static func q8ResidualRef(_ x: UnsafePointer<Float>, n: Int, cols: Int, into r: UnsafeMutablePointer<Float>) {
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, cols / 32 * BlockQ8_0.byteSize), alignment: 16)
        let back = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, cols))
        defer { bytes.deallocate(); back.deallocate() }
        for i in 0..<n {
            BlockQ8_0.quantizeRef(UnsafeBufferPointer(start: x + i * cols, count: cols), into: bytes)
            BlockQ8_0.dequantizeRef(UnsafeRawBufferPointer(bytes), into: back)
            for k in 0..<cols { r[i * cols + k] = x[i * cols + k] - back[k] }
        }
    }

    /// One activation row as int8 with one scale for the whole row, as sentio_quantize_rows_i8: s = max|x| / 127,
    /// q = round-to-nearest-even(x * (1 / s)) saturated to int8 (0 for a zero row). Returns s.
    public static func quantizeRowI8Ref(_ x: UnsafeBufferPointer<Float>, into q: UnsafeMutableBufferPointer<Int8>) -> Float {
        var amax: Float = 0
        for v in x { amax = max(amax, abs(v)) }
        let d = amax / 127, id: Float = d != 0 ? 1 / d : 0
        for k in 0..<x.count { q[k] = Int8(clamping: Int((x[k] * id).rounded(.toNearestOrEven))) }
        return d
    }

    /// Scalar reference of the int8 tile path for q8r weights: activation rows by quantizeRowI8Ref, exact
    /// integer dots with the stored int8 weights, then fma(Float(dot), s_x * d_w, bias) with d_w the row's
    /// (first block's) f16 scale: the kernel's operations in the kernel's order, so its results are bit-identical.
    public static func forwardRefInt8Rows(_ w: WeightMatrix, x: UnsafePointer<Float>, n: Int, y: UnsafeMutablePointer<Float>,
                                          bias: UnsafePointer<Float>?) {
        precondition(w.dtype == .q8r)
        let q = UnsafeMutableBufferPointer<Int8>.allocate(capacity: max(1, w.cols))
        defer { q.deallocate() }
        for i in 0..<n {
            let sx = quantizeRowI8Ref(UnsafeBufferPointer(start: x + i * w.cols, count: w.cols), into: q)
            for r in 0..<w.rows {
                let wr = w.data + r * w.rowBytes
                let dw = f16ToFloat(UInt16(littleEndian: wr.loadUnaligned(as: UInt16.self)))
                var dot: Int32 = 0
                for b in 0..<(w.cols / 32) {
                    let qw = (wr + b * BlockQ8_0.byteSize + 2).assumingMemoryBound(to: Int8.self)
                    for j in 0..<32 { dot &+= Int32(qw[j]) &* Int32(q[b * 32 + j]) }
                }
                y[i * w.rows + r] = (bias?[r] ?? 0).addingProduct(Float(dot), sx * dw)
            }
        }
    }

    /// Scalar reference: dx (+)= dy · dequant(W), Double accumulation.
    public static func backwardInputRef(_ w: WeightMatrix, dy: UnsafePointer<Float>, n: Int, dx: UnsafeMutablePointer<Float>,
                                        accumulate: Bool) {
        var acc = [Double](repeating: 0, count: n * w.cols)
        let row = UnsafeMutablePointer<Float>.allocate(capacity: max(1, w.cols))
        defer { row.deallocate() }
        for r in 0..<w.rows {
            w.dequantizeRowRef(r, into: row)
            for i in 0..<n {
                let g = Double(dy[i * w.rows + r])
                for k in 0..<w.cols { acc[i * w.cols + k] += g * Double(row[k]) }
            }
        }
        for j in 0..<(n * w.cols) { dx[j] = (accumulate ? dx[j] : 0) + Float(acc[j]) }
    }
}
