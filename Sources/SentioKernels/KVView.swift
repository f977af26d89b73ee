// KVView: a paged key/value cache seen by the attention kernels.
//
// A block holds `blockTokens` tokens for all KV heads: layout [kvHeads][blockTokens][headDim], elements
// f32 or f16. Token t lives in block t / blockTokens, slot t % blockTokens. A contiguous cache is one block.
import CSentioKernels
import SentioCore

public struct KVView: @unchecked Sendable {
    public let dtype: DType             // .f32 or .f16
    public let kvHeads: Int
    public let headDim: Int
    public let blockTokens: Int
    public let kBlocks: UnsafePointer<UnsafeMutableRawPointer>
    public let vBlocks: UnsafePointer<UnsafeMutableRawPointer>
    public let length: Int              // valid tokens

    public init(dtype: DType, kvHeads: Int, headDim: Int, blockTokens: Int,
                kBlocks: UnsafePointer<UnsafeMutableRawPointer>, vBlocks: UnsafePointer<UnsafeMutableRawPointer>, length: Int) {
        precondition(dtype == .f32 || dtype == .f16, "KVView: dtype must be f32 or f16")
        precondition(kvHeads > 0 && headDim > 0 && blockTokens > 0 && length >= 0)
        self.dtype = dtype
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.blockTokens = blockTokens
        self.kBlocks = kBlocks
        self.vBlocks = vBlocks
        self.length = length
    }

    /// Bytes of one block (K or V).
    public var blockBytes: Int { kvHeads * blockTokens * headDim * dtype.bytesPerBlock }

    /// Address of token t, head g in a block table.
    @inline(__always) func slot(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, token t: Int, head g: Int) -> UnsafeMutableRawPointer {
        blocks[t / blockTokens] + ((g * blockTokens + t % blockTokens) * headDim) * dtype.bytesPerBlock
    }

    /// Writes k/v rows [n, kvHeads*headDim] for tokens start..<start+n (blocks must exist).
    public func store(k: UnsafePointer<Float>, v: UnsafePointer<Float>, start: Int, n: Int) {
        for j in 0..<n {
            for g in 0..<kvHeads {
                let src = (j * kvHeads + g) * headDim
                let kd = slot(kBlocks, token: start + j, head: g), vd = slot(vBlocks, token: start + j, head: g)
                if dtype == .f32 {
                    kd.assumingMemoryBound(to: Float.self).update(from: k + src, count: headDim)
                    vd.assumingMemoryBound(to: Float.self).update(from: v + src, count: headDim)
                } else {
                    sentio_f32_to_f16(k + src, kd.assumingMemoryBound(to: UInt16.self), headDim)
                    sentio_f32_to_f16(v + src, vd.assumingMemoryBound(to: UInt16.self), headDim)
                }
            }
        }
    }

    /// Copies tokens 0..<count of KV head g into contiguous f32 rows [count][headDim].
    func gather(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, head g: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        var t = 0
        while t < count {
            let run = min(blockTokens - t % blockTokens, count - t)   // tokens contiguous in this block
            let src = slot(blocks, token: t, head: g)
            if dtype == .f32 {
                (out + t * headDim).update(from: src.assumingMemoryBound(to: Float.self), count: run * headDim)
            } else {
                sentio_f16_to_f32(src.assumingMemoryBound(to: UInt16.self), out + t * headDim, run * headDim)
            }
            t += run
        }
    }

    /// Element i of token t, head g as f32 (reference path).
    func element(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, token t: Int, head g: Int, _ i: Int) -> Float {
        let p = slot(blocks, token: t, head: g)
        return dtype == .f32 ? p.assumingMemoryBound(to: Float.self)[i] : f16ToFloat(p.assumingMemoryBound(to: UInt16.self)[i])
    }
}
