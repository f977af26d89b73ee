// Byte shuffles applied before LZ4 (the Blosc idea): bytes that play the same role are gathered
// so that LZ4 sees runs of similar values.
//
//   plain dtypes (element size s > 1): byte planes. Output plane k holds byte k of every element:
//       out[k * n + i] = in[i * s + k]                      (f32: 4 planes, f16/bf16: 2, i64: 8)
//   q8 / q8r / q4 (blocks of 34 / 18 bytes = f16 scale + quant bytes):
//       out = [low byte of every scale][high byte of every scale][quant bytes of block 0, 1, ...]
//   q4_1 (blocks of 20 bytes = f16 step + f16 offset + 16 nibble bytes): the same with 4 header byte planes.
//   q5 (blocks of 22 bytes = f16 scale + 4 high-bit bytes + 16 nibble bytes): as q8 / q4 (the high bits stay with the nibbles).
//   u8: unchanged.
// `unshuffle` is the exact inverse. Both are pure byte permutations (sizes unchanged).
import SentioCore
import CLZ4

public enum ByteShuffle {
    /// The permutation's unit: (unit size in bytes, number of leading "scale" bytes in it).
    static func layout(_ dtype: DType) -> (unit: Int, scaleBytes: Int) {
        switch dtype {
        case .q8, .q8r, .q4: return (dtype.bytesPerBlock, 2)
        case .q4_1: return (dtype.bytesPerBlock, 4)
        case .q5: return (dtype.bytesPerBlock, 2)
        default: return (dtype.bytesPerBlock, dtype.bytesPerBlock)
        }
    }

    public static func shuffle(_ dtype: DType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) {
        permute(dtype, src, dst, forward: true)
    }

    public static func unshuffle(_ dtype: DType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) {
        permute(dtype, src, dst, forward: false)
    }

    static func permute(_ dtype: DType, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer, forward: Bool) {
        let (unit, planes) = layout(dtype)
        if unit == planes, unit == 2 || unit == 4, src.count % unit == 0, src.count > 0,
           let s = src.baseAddress, let d = dst.baseAddress {
            precondition(dst.count >= src.count)
            planes2or4(s, d, n: src.count / unit, unit: unit, forward: forward)
            return
        }
        referencePermute(dtype, src, dst, forward: forward)
    }

    /// Single-pass byte planes for 2- and 4-byte elements (f16/bf16, f32/i32): one load and a few
    /// shifts per element instead of one strided pass per plane. `referencePermute` is its scalar twin.
    static func planes2or4(_ s: UnsafeRawPointer, _ d: UnsafeMutableRawPointer, n: Int, unit: Int, forward: Bool) {
        let sb = s.assumingMemoryBound(to: UInt8.self), db = d.assumingMemoryBound(to: UInt8.self)
        if unit == 2 {
            if forward {
                for i in 0..<n {
                    let v = s.loadUnaligned(fromByteOffset: 2 &* i, as: UInt16.self)
                    db[i] = UInt8(truncatingIfNeeded: v); db[n &+ i] = UInt8(truncatingIfNeeded: v &>> 8)
                }
            } else {
                for i in 0..<n {
                    let v = UInt16(sb[i]) | UInt16(sb[n &+ i]) &<< 8
                    d.storeBytes(of: v, toByteOffset: 2 &* i, as: UInt16.self)
                }
            }
        } else {
            if forward {
                for i in 0..<n {
                    let v = s.loadUnaligned(fromByteOffset: 4 &* i, as: UInt32.self)
                    db[i] = UInt8(truncatingIfNeeded: v); db[n &+ i] = UInt8(truncatingIfNeeded: v &>> 8)
                    db[2 &* n &+ i] = UInt8(truncatingIfNeeded: v &>> 16); db[3 &* n &+ i] = UInt8(truncatingIfNeeded: v &>> 24)
                }
            } else {
                for i in 0..<n {
                    let v = UInt32(sb[i]) | UInt32(sb[n &+ i]) &<< 8 | UInt32(sb[2 &* n &+ i]) &<< 16 | UInt32(sb[3 &* n &+ i]) &<< 24
                    d.storeBytes(of: v, toByteOffset: 4 &* i, as: UInt32.self)
                }
            }
        }
    }

    /// The plain definition: one strided pass per plane. Used for other units and as the scalar twin.
    public static func referencePermute(_ dtype: DType, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer, forward: Bool) {
        precondition(dst.count >= src.count)
        let (unit, planes) = layout(dtype)
        guard src.count > 0, let s = src.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let d = dst.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let n = src.count / unit
        precondition(n * unit == src.count, "shuffle: \(src.count) bytes is not a whole number of \(dtype) units")
        if unit == 1 { d.update(from: s, count: src.count); return }
        let rest = unit - planes          // quant bytes per block (0 for plain types)
        for k in 0..<planes {
            if forward { for i in 0..<n { d[k * n + i] = s[i * unit + k] } }
            else { for i in 0..<n { d[i * unit + k] = s[k * n + i] } }
        }
        if rest > 0 {
            let base = planes * n
            for i in 0..<n {
                if forward { (d + base + i * rest).update(from: s + i * unit + planes, count: rest) }
                else { (d + i * unit + planes).update(from: s + base + i * rest, count: rest) }
            }
        }
    }
}

/// Bit shuffle (the bitshuffle idea), measured against ByteShuffle in docs/FORMAT.md but not used by
/// the v1 format. Plain dtypes: bit plane p = 8k + b holds bit b of byte k of every element, packed
/// 8 elements per byte (elements beyond a multiple of 8 are appended unchanged). q8/q4: the scale
/// bytes are byte-planed as in ByteShuffle, and the quant bytes bit-shuffled as 1-byte units.
public enum BitShuffle {
    public static func shuffle(_ dtype: DType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) {
        apply(dtype, src, dst, forward: true)
    }
    public static func unshuffle(_ dtype: DType, _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer) {
        apply(dtype, src, dst, forward: false)
    }

    static func apply(_ dtype: DType, _ src: UnsafeRawBufferPointer, _ dst: UnsafeMutableRawBufferPointer, forward: Bool) {
        precondition(dst.count >= src.count)
        guard src.count > 0, let s = src.baseAddress?.assumingMemoryBound(to: UInt8.self),
              let d = dst.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        if dtype.isQuantized {
            let unit = dtype.bytesPerBlock, n = src.count / unit, q = unit - 2
            if forward {
                for i in 0..<n { d[i] = s[i * unit]; d[n + i] = s[i * unit + 1] }
                let tmp = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n * q, 1)); defer { tmp.deallocate() }
                for i in 0..<n { (tmp + i * q).update(from: s + i * unit + 2, count: q) }
                bits(tmp, d + 2 * n, count: n * q, unit: 1, forward: true)
            } else {
                for i in 0..<n { d[i * unit] = s[i]; d[i * unit + 1] = s[n + i] }
                let tmp = UnsafeMutablePointer<UInt8>.allocate(capacity: max(n * q, 1)); defer { tmp.deallocate() }
                bits(s + 2 * n, tmp, count: n * q, unit: 1, forward: false)
                for i in 0..<n { (d + i * unit + 2).update(from: tmp + i * q, count: q) }
            }
        } else {
            let unit = dtype.bytesPerBlock
            bits(s, d, count: src.count / unit, unit: unit, forward: forward)
        }
    }

    /// Transposes `count` elements of `unit` bytes into 8*unit bit planes (or back).
    static func bits(_ s: UnsafePointer<UInt8>, _ d: UnsafeMutablePointer<UInt8>, count n: Int, unit: Int, forward: Bool) {
        let n8 = n / 8 * 8, planeBytes = n8 / 8
        if !forward { d.update(repeating: 0, count: n8 * unit) }
        for p in 0..<(8 * unit) {
            let k = p >> 3, b = UInt8(p & 7)
            let plane = (forward ? UnsafePointer(d) : s) + p * planeBytes
            for g in 0..<planeBytes {
                if forward {
                    var byte: UInt8 = 0
                    for j in 0..<8 { byte |= ((s[(8 * g + j) * unit + k] >> b) & 1) << UInt8(j) }
                    d[p * planeBytes + g] = byte
                } else {
                    let byte = plane[g]
                    for j in 0..<8 { d[(8 * g + j) * unit + k] |= ((byte >> UInt8(j)) & 1) << b }
                }
            }
        }
        let tail = (n - n8) * unit
        if tail > 0 {
            if forward { (d + n8 * unit).update(from: s + n8 * unit, count: tail) }
            else { (d + n8 * unit).update(from: s + n8 * unit, count: tail) }
        }
    }
}

/// Compressed sizes for reports and measurements (not part of the file format).
public enum LZ4Probe {
    public enum Shuffle: String, Sendable, CaseIterable { case none, byte, bit }

    /// LZ4 (default acceleration) size of `data` after the given shuffle; nil if over the LZ4 limit.
    public static func compressedSize(_ dtype: DType, _ data: UnsafeRawBufferPointer, shuffle: Shuffle) -> Int? {
        let n = data.count
        guard n > 0, n <= 0x7E00_0000 else { return n == 0 ? 0 : nil }
        let bound = Int(LZ4_compressBound(Int32(n)))
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: n + bound, alignment: 64)
        defer { buf.deallocate() }
        let mid = UnsafeMutableRawBufferPointer(rebasing: buf[0..<n])
        switch shuffle {
        case .none: mid.copyMemory(from: data)
        case .byte: ByteShuffle.shuffle(dtype, data, into: mid)
        case .bit: BitShuffle.shuffle(dtype, data, into: mid)
        }
        let c = LZ4_compress_default(mid.baseAddress!.assumingMemoryBound(to: CChar.self),
                                     (buf.baseAddress! + n).assumingMemoryBound(to: CChar.self), Int32(n), Int32(bound))
        return c > 0 ? Int(c) : nil
    }
}
