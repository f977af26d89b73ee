// KVView: a paged key/value cache seen by the attention kernels.
//
// A block holds `blockTokens` tokens for all KV heads. Token t lives in block t / blockTokens, slot
// t % blockTokens. A contiguous cache is one block. Per KV head g a block has one region:
//   f32 / f16: [blockTokens][headDim] elements                        (region = bt * hd * 4 or 2 bytes)
//   q8       : [blockTokens][headDim] int8, then [blockTokens] f32 scales (region = bt * hd + bt * 4 bytes)
// Keys and values each have their own element type (`keyType`, `valueType`): the K plane's regions are
// laid out for keyType, the V plane's for valueType (q8v cache: f16 keys, q8 values).
// q8 rows are quantized symmetrically per (token, head) row: scale = max|x| / 127, q = round(x / scale)
// clamped to [-127, 127]; the attention kernels dequantize in registers (sentio_attn_decode_group_kv) or
// while gathering into f32 (prefill). Regions of q8 stay 4-byte aligned for any hd; with hd a multiple
// of 64 and bt a multiple of 16 they are 64-byte aligned.
import CSentioKernels
import SentioCore

public struct KVView: @unchecked Sendable {
    public let keyType: DType           // .f32, .f16 or .q8
    public let valueType: DType         // .f32, .f16 or .q8
    public let kvHeads: Int
    public let headDim: Int
    public let blockTokens: Int
    public let kBlocks: UnsafePointer<UnsafeMutableRawPointer>
    public let vBlocks: UnsafePointer<UnsafeMutableRawPointer>
    public let length: Int              // valid tokens

    /// A view whose keys are `keyType` and values `valueType` (each .f32, .f16 or .q8).
    public init(keyType: DType, valueType: DType, kvHeads: Int, headDim: Int, blockTokens: Int,
                kBlocks: UnsafePointer<UnsafeMutableRawPointer>, vBlocks: UnsafePointer<UnsafeMutableRawPointer>, length: Int) {
        precondition([keyType, valueType].allSatisfy { $0 == .f32 || $0 == .f16 || $0 == .q8 }, "KVView: types must be f32, f16 or q8")
        precondition(kvHeads > 0 && headDim > 0 && blockTokens > 0 && length >= 0)
        // the plane's type is told by its table (planeType), so keys and values of different types need two
        precondition(keyType == valueType || kBlocks != vBlocks, "KVView: keys and values of different types share one block table")
        self.keyType = keyType
        self.valueType = valueType
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.blockTokens = blockTokens
        self.kBlocks = kBlocks
        self.vBlocks = vBlocks
        self.length = length
    }

    /// A view whose keys and values are both `dtype`.
    public init(dtype: DType, kvHeads: Int, headDim: Int, blockTokens: Int,
                kBlocks: UnsafePointer<UnsafeMutableRawPointer>, vBlocks: UnsafePointer<UnsafeMutableRawPointer>, length: Int) {
        self.init(keyType: dtype, valueType: dtype, kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens,
                  kBlocks: kBlocks, vBlocks: vBlocks, length: length)
    }

    /// Element type of the keys (`value` false) or values.
    @inline(__always) func elementType(value: Bool) -> DType { value ? valueType : keyType }
    @inline(__always) func planeType(_ blocks: UnsafePointer<UnsafeMutableRawPointer>) -> DType { blocks == vBlocks ? valueType : keyType }

    /// Bytes per element of a row (1 for q8, whose scales sit after the rows).
    @inline(__always) static func elementBytes(_ dtype: DType) -> Int { dtype == .f32 ? 4 : dtype == .f16 ? 2 : 1 }

    /// Bytes of one KV head's region in a block.
    public static func headRegionBytes(dtype: DType, headDim: Int, blockTokens: Int) -> Int {
        dtype == .q8 ? blockTokens * headDim + blockTokens * 4 : blockTokens * headDim * elementBytes(dtype)
    }

    /// Bytes of one block (K or V) of this shape.
    public static func blockBytes(dtype: DType, kvHeads: Int, headDim: Int, blockTokens: Int) -> Int {
        kvHeads * headRegionBytes(dtype: dtype, headDim: headDim, blockTokens: blockTokens)
    }

    /// Bytes of one K block (`value` false) or V block.
    public func blockBytes(value: Bool) -> Int {
        Self.blockBytes(dtype: elementType(value: value), kvHeads: kvHeads, headDim: headDim, blockTokens: blockTokens)
    }

    /// Address of token t, head g's row in a block table.
    @inline(__always) func slot(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, token t: Int, head g: Int) -> UnsafeMutableRawPointer {
        let dt = planeType(blocks)
        return blocks[t / blockTokens] + g * Self.headRegionBytes(dtype: dt, headDim: headDim, blockTokens: blockTokens)
            + (t % blockTokens) * headDim * Self.elementBytes(dt)
    }

    /// Address of the f32 scale of token t, head g (q8 only).
    @inline(__always) func scaleSlot(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, token t: Int, head g: Int) -> UnsafeMutablePointer<Float> {
        (blocks[t / blockTokens] + g * Self.headRegionBytes(dtype: .q8, headDim: headDim, blockTokens: blockTokens)
            + blockTokens * headDim + (t % blockTokens) * 4).assumingMemoryBound(to: Float.self)
    }

    /// Quantizes one row of `count` floats to int8 with a symmetric absmax scale (returned).
    @inline(__always) static func quantizeRow(_ x: UnsafePointer<Float>, _ q: UnsafeMutablePointer<Int8>, count: Int) -> Float {
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(x[i])) }
        guard m > 0, m.isFinite else {
            for i in 0..<count { q[i] = 0 }
            return m.isFinite ? 0 : .nan
        }
        let scale = m / 127, inv = 127 / m
        for i in 0..<count { q[i] = Int8(max(-127, min(127, (x[i] * inv).rounded(.toNearestOrEven)))) }
        return scale
    }

    /// Writes k/v rows [n, kvHeads*headDim] for tokens start..<start+n (blocks must exist).
    public func store(k: UnsafePointer<Float>, v: UnsafePointer<Float>, start: Int, n: Int) {
        for j in 0..<n {
            for g in 0..<kvHeads {
                let src = (j * kvHeads + g) * headDim
                storeRow(kBlocks, keyType, k + src, token: start + j, head: g)
                storeRow(vBlocks, valueType, v + src, token: start + j, head: g)
            }
        }
    }

    @inline(__always) private func storeRow(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, _ dt: DType, _ x: UnsafePointer<Float>,
                                            token t: Int, head g: Int) {
        let d = slot(blocks, token: t, head: g)
        switch dt {
        case .f32: d.assumingMemoryBound(to: Float.self).update(from: x, count: headDim)
        case .q8: scaleSlot(blocks, token: t, head: g).pointee = Self.quantizeRow(x, d.assumingMemoryBound(to: Int8.self), count: headDim)
        default: sentio_f32_to_f16(x, d.assumingMemoryBound(to: UInt16.self), headDim)
        }
    }

    /// Copies tokens 0..<count of KV head g into contiguous f32 rows [count][headDim].
    func gather(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, head g: Int, count: Int, into out: UnsafeMutablePointer<Float>) {
        var t = 0
        while t < count {
            let run = min(blockTokens - t % blockTokens, count - t)   // tokens contiguous in this block
            let src = slot(blocks, token: t, head: g)
            switch planeType(blocks) {
            case .f32:
                (out + t * headDim).update(from: src.assumingMemoryBound(to: Float.self), count: run * headDim)
            case .q8:
                let q = src.assumingMemoryBound(to: Int8.self), sc = scaleSlot(blocks, token: t, head: g)
                for r in 0..<run {
                    let s = sc[r], o = out + (t + r) * headDim, row = q + r * headDim
                    for i in 0..<headDim { o[i] = Float(row[i]) * s }
                }
            default:
                sentio_f16_to_f32(src.assumingMemoryBound(to: UInt16.self), out + t * headDim, run * headDim)
            }
            t += run
        }
    }

    /// Element i of token t, head g as f32 (reference path).
    func element(_ blocks: UnsafePointer<UnsafeMutableRawPointer>, token t: Int, head g: Int, _ i: Int) -> Float {
        let p = slot(blocks, token: t, head: g)
        switch planeType(blocks) {
        case .f32: return p.assumingMemoryBound(to: Float.self)[i]
        case .q8: return Float(p.assumingMemoryBound(to: Int8.self)[i]) * scaleSlot(blocks, token: t, head: g).pointee
        default: return f16ToFloat(p.assumingMemoryBound(to: UInt16.self)[i])
        }
    }

    /// Element i of token t, head g of the keys (`value` false) or values, dequantized (tests, tools).
    public func read(value: Bool, token t: Int, head g: Int, _ i: Int) -> Float {
        element(value ? vBlocks : kBlocks, token: t, head: g, i)
    }
}

extension Attention {
    /// Batched decode: one query row per sequence, row i (q[i * heads * headDim ..]) at position
    /// views[i].length - 1 attending over keys 0..<views[i].length of its own cache (its key already
    /// stored). One pool dispatch for all (sequence, KV head) pairs instead of one per sequence: with B
    /// sequences a decode step then has the same number of thread-pool synchronizations as B = 1.
    public static func decodeRows(q: UnsafePointer<Float>, views: [KVView], heads: Int, out: UnsafeMutablePointer<Float>,
                                  pool: ThreadPool = .shared) {
        guard let first = views.first else { return }
        let hd = first.headDim, kvh = first.kvHeads, ld = heads * hd
        precondition(heads % kvh == 0 && views.allSatisfy { $0.headDim == hd && $0.kvHeads == kvh && $0.length > 0 },
                     "Attention.decodeRows: views of different shapes or empty")
        let group = heads / kvh
        let scale = 1 / Float(hd).squareRoot()
        nonisolated(unsafe) let (q, out) = (q, out)
        pool.parallelFor(views.count * kvh) { task in
            let g = task % kvh, r = task / kvh
            views[r].decodeGroup(head: g, keys: views[r].length, q: q + r * ld + g * group * hd, group: group,
                                 scale: scale, out: out + r * ld + g * group * hd)
        }
    }
}

extension KVView {
    /// Decode attention in place from the blocks (sentio_attn_decode_group_kv) for the `group` query heads
    /// of KV head g: rows q[h * headDim ..] over keys 0..<keys into out[h * headDim ..].
    func decodeGroup(head g: Int, keys: Int, q: UnsafePointer<Float>, group: Int, scale: Float, out: UnsafeMutablePointer<Float>) {
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: group * keys)
        defer { scores.deallocate() }
        UnsafeRawPointer(kBlocks).withMemoryRebound(to: UnsafeRawPointer?.self, capacity: 1) { kb in
            UnsafeRawPointer(vBlocks).withMemoryRebound(to: UnsafeRawPointer?.self, capacity: 1) { vb in
                sentio_attn_decode_group_kv(Int32(keyType.rawValue), Int32(valueType.rawValue), kb, vb, blockTokens, headDim, g,
                                            keys, q, headDim, group, scale, scores, out, headDim)
            }
        }
    }
}
