// Block layouts of the GGML quantized types Sentio reads from GGUF files (Q8_0, Q4_0 and Q5_0 live in
// SentioCore as BlockQ8_0 / BlockQ4_0 / BlockQ5_0 because .sentio stores them too). All multi-byte fields are
// little endian; `d`, `m`, `dmin` are IEEE f16. Each struct documents its byte layout and has a
// scalar dequantizer. Arithmetic order is chosen to match the Python `gguf` package's numpy
// reference (gguf/quants.py) exactly: the products `d * sc` and `dmin * m` are formed in f32
// first, then `x = (d*sc) * q - (dmin*m)`; no fused multiply-add.
import SentioCore

@inline(__always) private func f16At(_ p: UnsafeRawPointer, _ off: Int) -> Float {
    f16ToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: off, as: UInt16.self)))
}

/// Q4_1: 32 weights, 20 bytes.
///   0: d (f16)   2: m (f16)   4: qs[16]: byte j = weight j (low nibble) | weight j+16 (high nibble)
///   x = d * q + m, q in 0...15
public enum GGMLBlockQ4_1 {
    public static let weights = 32, byteSize = 20
    public static func dequantize(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * byteSize, o = dst + b * weights
            let d = f16At(p, 0), m = f16At(p, 2)
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 4 + j, as: UInt8.self)
                o[j] = d * Float(q & 0x0F) + m
                o[j + 16] = d * Float(q >> 4) + m
            }
        }
    }
}

/// IQ4_NL: 32 weights, 18 bytes. A non-uniform 4-bit grid: each nibble indexes a fixed table of 16 int8
/// levels (ggml's kvalues_iq4nl), one f16 scale per block.
///   0: d (f16)   2: qs[16] (nibbles as Q4_0: byte j = weight j low, weight j+16 high)
///   x = d * table[q]
public enum GGMLBlockIQ4_NL {
    public static let weights = 32, byteSize = 18
    public static let table: [Float] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
    public static func dequantize(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
        table.withUnsafeBufferPointer { t in
            for b in 0..<blocks {
                let p = src + b * byteSize, o = dst + b * weights
                let d = f16At(p, 0)
                for j in 0..<16 {
                    let q = p.load(fromByteOffset: 2 + j, as: UInt8.self)
                    o[j] = d * t[Int(q & 0x0F)]
                    o[j + 16] = d * t[Int(q >> 4)]
                }
            }
        }
    }
}

/// Q5_1: 32 weights, 24 bytes.
///   0: d (f16)   2: m (f16)   4: qh (u32)   8: qs[16]
///   x = d * q + m, q in 0...31
public enum GGMLBlockQ5_1 {
    public static let weights = 32, byteSize = 24
    public static func dequantize(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * byteSize, o = dst + b * weights
            let d = f16At(p, 0), m = f16At(p, 2)
            let qh = UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            for j in 0..<16 {
                let q = p.load(fromByteOffset: 8 + j, as: UInt8.self)
                let lo = UInt32(q & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
                let hi = UInt32(q >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
                o[j] = d * Float(lo) + m
                o[j + 16] = d * Float(hi) + m
            }
        }
    }
}

/// The 12 bytes holding eight 6-bit scales and eight 6-bit mins of Q4_K / Q5_K:
///   bytes 0-3:  scale j (j<4) in bits 0-5; bits 6-7 are bits 4-5 of scale j+4
///   bytes 4-7:  min j (j<4)   in bits 0-5; bits 6-7 are bits 4-5 of min j+4
///   bytes 8-11: low nibble = bits 0-3 of scale j+4, high nibble = bits 0-3 of min j+4
@inline(__always) func kScaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (sc: UInt8, m: UInt8) {
    let b = { (i: Int) in s.load(fromByteOffset: i, as: UInt8.self) }
    if j < 4 { return (b(j) & 0x3F, b(j + 4) & 0x3F) }
    let sc = (b(j + 4) & 0x0F) | ((b(j - 4) >> 2) & 0x30)
    let m = (b(j + 4) >> 4) | ((b(j) >> 2) & 0x30)
    return (sc, m)
}

/// Q4_K: 256 weights in 8 sub-blocks of 32, 144 bytes.
///   0: d (f16)   2: dmin (f16)   4: scales[12] (see kScaleMin)   16: qs[128]
///   Sub-block s = 2c + h (c = 0...3, h = 0/1) takes nibble h (0 = low) of qs[32c ..< 32c+32].
///   x = (d * sc[s]) * q - (dmin * m[s])
public enum GGMLBlockQ4_K {
    public static let weights = 256, byteSize = 144
    public static func dequantize(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * byteSize, o = dst + b * weights
            let d = f16At(p, 0), dmin = f16At(p, 2)
            for s in 0..<8 {
                let (sc, m) = kScaleMin(p + 4, s)
                let ds = d * Float(sc), dm = dmin * Float(m)
                let c = s >> 1, shift = UInt8((s & 1) * 4)
                for j in 0..<32 {
                    let q = (p.load(fromByteOffset: 16 + 32 * c + j, as: UInt8.self) >> shift) & 0x0F
                    o[32 * s + j] = ds * Float(q) - dm
                }
            }
        }
    }
}

/// Q5_K: 256 weights in 8 sub-blocks of 32, 176 bytes.
///   0: d   2: dmin   4: scales[12]   16: qh[32] (bit s of qh[j] = 5th bit of weight 32s+j)   48: qs[128]
///   Low 4 bits as Q4_K. x = (d * sc[s]) * q - (dmin * m[s]), q in 0...31
public enum GGMLBlockQ5_K {
    public static let weights = 256, byteSize = 176
    public static func dequantize(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * byteSize, o = dst + b * weights
            let d = f16At(p, 0), dmin = f16At(p, 2)
            for s in 0..<8 {
                let (sc, m) = kScaleMin(p + 4, s)
                let ds = d * Float(sc), dm = dmin * Float(m)
                let c = s >> 1, shift = UInt8((s & 1) * 4)
                for j in 0..<32 {
                    let lo = (p.load(fromByteOffset: 48 + 32 * c + j, as: UInt8.self) >> shift) & 0x0F
                    let hi = (p.load(fromByteOffset: 16 + j, as: UInt8.self) >> UInt8(s)) & 1
                    o[32 * s + j] = ds * Float(lo | hi << 4) - dm
                }
            }
        }
    }
}

/// Q6_K: 256 weights in 16 groups of 16, 210 bytes.
///   0: ql[128]   128: qh[64]   192: scales[16] (int8)   208: d (f16)
///   Weight i = 128h + r (h = 0/1, r = 0...127): low 4 bits = ql[64h + r%64] >> (4 * (r/64)),
///   high 2 bits = qh[32h + r%32] >> (2 * (r/32)); q = that 6-bit value - 32.
///   x = (d * scales[i/16]) * q
public enum GGMLBlockQ6_K {
    public static let weights = 256, byteSize = 210
    public static func dequantize(_ src: UnsafeRawPointer, blocks: Int, into dst: UnsafeMutablePointer<Float>) {
        for b in 0..<blocks {
            let p = src + b * byteSize, o = dst + b * weights
            let d = f16At(p, 208)
            for i in 0..<256 {
                let h = i >> 7, r = i & 127
                let lo = (p.load(fromByteOffset: 64 * h + (r & 63), as: UInt8.self) >> UInt8(4 * (r >> 6))) & 0x0F
                let hi = (p.load(fromByteOffset: 128 + 32 * h + (r & 31), as: UInt8.self) >> UInt8(2 * (r >> 5))) & 0x03
                let q = Int(lo | hi << 4) - 32
                let sc = Float(p.load(fromByteOffset: 192 + (i >> 4), as: Int8.self))
                o[i] = (d * sc) * Float(q)
            }
        }
    }
}
