// ChunkedLZ4: the stored form of codec 1 (lz4+shuffle). The tensor's raw bytes are cut into chunks
// of `chunkBytes` (about 256 KiB, a whole number of dtype units: elements, or q8/q4 blocks); each
// chunk is byte-shuffled on its own (ByteShuffle) and compressed as an independent LZ4 block:
//
//   u32 chunk_bytes            raw bytes per chunk (the last chunk may be shorter), multiple of the unit,
//                              1 KiB ... 64 MiB
//   u32 n_chunks               = ceil(raw_size / chunk_bytes)
//   u32 sizes[n_chunks]        compressed size of each chunk, each >= 1
//   chunk streams, back to back (sum of sizes = stored_size - 8 - 4 * n_chunks)
//
// Independent chunks let the loader decompress all chunks of all tensors in parallel through a small
// per-thread buffer that stays in cache, then unshuffle straight into the destination.
import SentioCore
import CLZ4

public enum ChunkedLZ4 {
    public static let targetChunkBytes = 256 << 10
    static let minChunkBytes = 1 << 10, maxChunkBytes = 64 << 20

    /// Raw bytes per chunk for a dtype: the largest whole number of units not above the target.
    public static func chunkBytes(_ dtype: DType) -> Int {
        let unit = dtype.bytesPerBlock
        return max(1, targetChunkBytes / unit) * unit
    }

    /// An upper bound on the stored size, for sizing the output buffer.
    public static func maxStoredSize(raw: Int, dtype: DType) -> Int {
        let cb = chunkBytes(dtype), n = (raw + cb - 1) / cb
        return 8 + 4 * n + n * Int(LZ4_compressBound(Int32(cb)))
    }

    /// Compresses `src` into `out` (at least maxStoredSize bytes) using `scratch` (at least
    /// chunkBytes(dtype) bytes). Returns the stored size.
    public static func compress(_ dtype: DType, _ src: UnsafeRawBufferPointer, into out: UnsafeMutableRawPointer,
                                scratch: UnsafeMutableRawPointer) -> Int {
        let cb = chunkBytes(dtype), raw = src.count, n = (raw + cb - 1) / cb
        out.storeBytes(of: UInt32(cb).littleEndian, as: UInt32.self)
        out.storeBytes(of: UInt32(n).littleEndian, toByteOffset: 4, as: UInt32.self)
        var pos = 8 + 4 * n
        let bound = Int(LZ4_compressBound(Int32(cb)))
        for c in 0..<n {
            let lo = c * cb, len = min(cb, raw - lo)
            ByteShuffle.shuffle(dtype, UnsafeRawBufferPointer(rebasing: src[lo..<(lo + len)]),
                                into: UnsafeMutableRawBufferPointer(start: scratch, count: len))
            let k = LZ4_compress_default(scratch.assumingMemoryBound(to: CChar.self),
                                         (out + pos).assumingMemoryBound(to: CChar.self), Int32(len), Int32(bound))
            precondition(k > 0, "LZ4_compress_default failed on a \(len)-byte chunk")   // cannot fail with a full bound
            out.storeBytes(of: UInt32(k).littleEndian, toByteOffset: 8 + 4 * c, as: UInt32.self)
            pos += Int(k)
        }
        return pos
    }

    /// One chunk to decode: `srcLen` stored bytes at `src` (relative to the stored data) that must
    /// decode to `rawLen` bytes at `dst` (relative to the tensor).
    public struct Chunk: Sendable { public let src: Int, srcLen: Int, dst: Int, rawLen: Int }

    /// Parses and checks the chunk table of a stored tensor.
    public static func chunks(_ stored: UnsafeRawBufferPointer, rawSize: Int, dtype: DType, fail: (String) -> SentioError) throws -> [Chunk] {
        var r = ByteReader(stored, file: "")
        guard stored.count >= 8 else { throw fail("LZ4 chunk header truncated") }
        let cb = Int(try r.u32("chunk size")), n = Int(try r.u32("chunk count"))
        guard cb >= min(minChunkBytes, rawSize), cb <= maxChunkBytes, cb > 0, cb % dtype.bytesPerBlock == 0 else {
            throw fail("LZ4 chunk size \(cb) is invalid for \(dtype)")
        }
        guard n == (rawSize + cb - 1) / cb, 4 * n <= stored.count - 8 else {
            throw fail("LZ4 chunk count \(n) does not fit raw size \(rawSize) and stored size \(stored.count)")
        }
        var out: [Chunk] = []
        out.reserveCapacity(n)
        var pos = 8 + 4 * n
        for c in 0..<n {
            let k = Int(try r.u32("chunk size"))
            guard k >= 1, k <= stored.count - pos else { throw fail("LZ4 chunk \(c) (\(k) bytes) runs past the stored data") }
            out.append(Chunk(src: pos, srcLen: k, dst: c * cb, rawLen: min(cb, rawSize - c * cb)))
            pos += k
        }
        guard pos == stored.count else { throw fail("LZ4 chunks end at \(pos), stored size is \(stored.count)") }
        return out
    }

    /// Decodes one chunk through `scratch` (at least chunk.rawLen bytes) into `dst` (the tensor start).
    /// Returns false if the LZ4 stream is corrupt or decodes to a different length.
    public static func decode(_ dtype: DType, _ chunk: Chunk, stored: UnsafeRawPointer, dst: UnsafeMutableRawPointer,
                              scratch: UnsafeMutableRawPointer) -> Bool {
        let got = LZ4_decompress_safe((stored + chunk.src).assumingMemoryBound(to: CChar.self),
                                      scratch.assumingMemoryBound(to: CChar.self), Int32(chunk.srcLen), Int32(chunk.rawLen))
        guard got == Int32(chunk.rawLen) else { return false }
        ByteShuffle.unshuffle(dtype, UnsafeRawBufferPointer(start: scratch, count: chunk.rawLen),
                              into: UnsafeMutableRawBufferPointer(start: dst + chunk.dst, count: chunk.rawLen))
        return true
    }
}
