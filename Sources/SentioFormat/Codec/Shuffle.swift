// Byte shuffles applied before LZ4 (the Blosc idea): bytes that play the same role are gathered
// so that LZ4 sees runs of similar values.
//
//   plain dtypes (element size s > 1): byte planes. Output plane k holds byte k of every element:
//       out[k * n + i] = in[i * s + k]                      (f32: 4 planes, f16/bf16: 2, i64: 8)
//   q8 / q4 (blocks of 34 / 18 bytes = f16 scale + quant bytes):
//       out = [low byte of every scale][high byte of every scale][quant bytes of block 0, 1, ...]
//   u8: unchanged.
// `unshuffle` is the exact inverse. Both are pure byte permutations (sizes unchanged).
import SentioCore

public enum ByteShuffle {
    /// The permutation's unit: (unit size in bytes, number of leading "scale" bytes in it).
    static func layout(_ dtype: DType) -> (unit: Int, scaleBytes: Int) {
        switch dtype {
        case .q8, .q4: return (dtype.bytesPerBlock, 2)
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
