// Attention: causal grouped-query attention over a paged KV cache (decoder), and full bidirectional
// multi-head attention (encoders).
//
// Both work on tiles of up to `queryTile` query rows of one head: S = scale * Q_tile · Kᵀ (sgemm),
// softmax per row over its valid keys (vector exp), O_tile = P · V (sgemm). Tasks are (head, tile)
// pairs on the pool; each task calls single-threaded OpenBLAS. Paged or f16 KV is first gathered per
// KV head into contiguous f32 (one pass over the cache, shared by the heads of the group).
import CSentioKernels
import Foundation

/// K and V of every (KV) head packed once for the AVX-512 sgemm (sgemm.c): each query tile then reuses
/// them instead of repacking K and V per tile (at n = 1500, hd = 64 the packing cost about as much as the
/// products). nil when the packed kernel is not available at this ISA level (then OpenBLAS per tile).
final class PackedKV: @unchecked Sendable {
    let heads: Int, keys: Int, hd: Int
    let kFloats: Int, vFloats: Int
    let kp: UnsafeMutablePointer<Float>, vp: UnsafeMutablePointer<Float>

    init?(heads: Int, keys: Int, headDim hd: Int, k: (Int) -> UnsafePointer<Float>, v: (Int) -> UnsafePointer<Float>,
          ld: Int, pool: ThreadPool) {
        guard sentio_sgemm_available() != 0, BLAS.useOwnKernel else { return nil }
        self.heads = heads; self.keys = keys; self.hd = hd
        // K: op(B) = Kᵀ (hd x keys); V: op(B) = V (keys x hd). Both multiples of 32 floats: per-head offsets stay 64-byte aligned.
        kFloats = sentio_sgemm_packed_floats(hd, keys)
        vFloats = sentio_sgemm_packed_floats(keys, hd)
        kp = UnsafeMutableRawPointer.allocate(byteCount: max(1, heads * kFloats) * 4, alignment: 64).bindMemory(to: Float.self, capacity: heads * kFloats)
        vp = UnsafeMutableRawPointer.allocate(byteCount: max(1, heads * vFloats) * 4, alignment: 64).bindMemory(to: Float.self, capacity: heads * vFloats)
        nonisolated(unsafe) let (kp, vp) = (kp, vp)
        let ks = (0..<heads).map { k($0) }, vs = (0..<heads).map { v($0) }
        nonisolated(unsafe) let (kk, vv) = (ks, vs)
        let (kf, vf) = (kFloats, vFloats)
        pool.parallelFor(heads * 2) { t in
            let h = t / 2
            if t % 2 == 0 { sentio_sgemm_pack_b(1, Int32(SENTIO_F32), kk[h], ld, hd, keys, kp + h * kf) }
            else { sentio_sgemm_pack_b(0, Int32(SENTIO_F32), vv[h], ld, keys, hd, vp + h * vf) }
        }
    }

    /// s[m, keys'] = scale * Q[m, hd] · K[0..<keys', :]ᵀ
    func scores(head: Int, q: UnsafePointer<Float>, ldq: Int, m: Int, keys kk: Int, scale: Float, s: UnsafeMutablePointer<Float>) {
        sentio_sgemm_packed(0, m, kk, hd, scale, q, ldq, kp + head * kFloats, hd, keys, 0, s, kk)
    }

    /// out[m, hd] = P[m, keys'] · V[0..<keys', :]
    func values(head: Int, p: UnsafePointer<Float>, m: Int, keys kk: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        sentio_sgemm_packed(0, m, hd, kk, 1, p, kk, vp + head * vFloats, keys, hd, 0, out, ldo)
    }

    func deallocate() {
        UnsafeMutableRawPointer(kp).deallocate()
        UnsafeMutableRawPointer(vp).deallocate()
    }
}

/// Arithmetic a model allows for its attention.
public enum AttentionPrecision: Sendable {
    /// f32 throughout: the reference path.
    case f32
    /// AMX bf16 tiles where the CPU has them: q, k, v and the softmax numerators rounded to bf16, f32 sums.
    case bf16
    /// AMX tiles with the scores from bf16 hi + lo splits of q and k (qh·kh + ql·kh + qh·kl: within ~2^-16 of
    /// the f32 scores) and P·V in bf16: for decoders, whose large attention logits plain bf16 scores perturb.
    case bf16SplitScores

    /// For an encoder layer given its projection weights: quantized weights already round far more than bf16
    /// attention does (the dtypes Linear runs on AMX tiles); float weights keep exact f32 attention (the
    /// reference path the fixtures are checked on).
    public static func matching(_ w: WeightMatrix) -> AttentionPrecision {
        switch w.dtype {
        case .q8, .q8r, .q4, .q4_1, .q5: return .bf16
        default: return .f32
        }
    }

    /// For a decoder layer: split scores with quantized weights (measured on Qwen2.5-Coder q8, docs/BENCHMARKS.md:
    /// plain bf16 scores raised the KL against f32 by ~70 %), f32 with float weights.
    public static func matchingDecoder(_ w: WeightMatrix) -> AttentionPrecision {
        matching(w) == .bf16 ? .bf16SplitScores : .f32
    }
}

public enum Attention {
    static let queryTile = 128
    /// `full` uses the blocked kernel (attn_full.c) where it runs; false selects the sgemm-tile path (for
    /// KernelBench's same-run comparison).
    nonisolated(unsafe) public static var useBlockedFull = true

    /// Causal grouped-query attention for nQ query rows at positions start..<start+nQ; q: [nQ, heads*headDim] (RoPE already applied),
    /// keys/values 0..<start+nQ already stored in kv; out: [nQ, heads*headDim]. Query head h uses KV head h / (heads / kvHeads).
    /// `precision: .bf16` lets prefill (nQ > decodeRows) run on the AMX tile kernel where it runs (head dim 64):
    /// K/V gathered and rounded to bf16 once per KV head, q and the softmax numerators rounded to bf16.
    public static func causal(q: UnsafePointer<Float>, nQ: Int, start: Int, heads: Int, kv: KVView,
                              out: UnsafeMutablePointer<Float>, precision: AttentionPrecision = .f32,
                              pool: ThreadPool = .shared) {
        if nQ <= 0 { return }
        let total = start + nQ, hd = kv.headDim, kvh = kv.kvHeads
        precondition(total <= kv.length, "Attention.causal: keys 0..<\(total) but the cache holds \(kv.length)")
        precondition(heads % kvh == 0, "Attention.causal: heads \(heads) not a multiple of kvHeads \(kvh)")
        let group = heads / kvh
        if nQ <= decodeRows {
            causalDecode(q: q, nQ: nQ, start: start, heads: heads, kv: kv, out: out, pool: pool)
            return
        }
        if precision != .f32 && sentio_attn_amx_available(hd) != 0 {
            causalBF16Tiles(q: q, nQ: nQ, start: start, heads: heads, kv: kv, out: out, split: precision == .bf16SplitScores,
                            pool: pool)
            return
        }
        // Contiguous f32 K/V per KV head: use the block directly when it already is, else gather.
        let direct = kv.keyType == .f32 && kv.valueType == .f32 && total <= kv.blockTokens
        let kbuf = direct ? nil : UnsafeMutablePointer<Float>.allocate(capacity: kvh * total * hd)
        let vbuf = direct ? nil : UnsafeMutablePointer<Float>.allocate(capacity: kvh * total * hd)
        defer { kbuf?.deallocate(); vbuf?.deallocate() }
        nonisolated(unsafe) let (kb, vb) = (kbuf, vbuf)
        if !direct {
            pool.parallelFor(kvh * 2) { t in
                let g = t / 2
                if t % 2 == 0 { kv.gather(kv.kBlocks, head: g, count: total, into: kb! + g * total * hd) }
                else { kv.gather(kv.vBlocks, head: g, count: total, into: vb! + g * total * hd) }
            }
        }
        func kPtr(_ g: Int) -> UnsafePointer<Float> {
            direct ? UnsafePointer(kv.kBlocks[0].assumingMemoryBound(to: Float.self) + g * kv.blockTokens * hd)
                   : UnsafePointer(kb! + g * total * hd)
        }
        func vPtr(_ g: Int) -> UnsafePointer<Float> {
            direct ? UnsafePointer(kv.vBlocks[0].assumingMemoryBound(to: Float.self) + g * kv.blockTokens * hd)
                   : UnsafePointer(vb! + g * total * hd)
        }
        let tiles = (nQ + queryTile - 1) / queryTile
        let ld = heads * hd
        let scale = 1 / Float(hd).squareRoot()
        nonisolated(unsafe) let (q, out) = (q, out)
        if let packed = PackedKV(heads: kvh, keys: total, headDim: hd, k: { kPtr($0) }, v: { vPtr($0) }, ld: hd, pool: pool) {
            defer { packed.deallocate() }
            pool.parallelFor(heads * tiles) { task in
                let h = task % heads, tile = task / heads
                let q0 = tile * queryTile, q1 = min(nQ, q0 + queryTile), m = q1 - q0
                let kend = start + q1
                let s = UnsafeMutablePointer<Float>.allocate(capacity: m * kend)
                defer { s.deallocate() }
                packed.scores(head: h / group, q: q + q0 * ld + h * hd, ldq: ld, m: m, keys: kend, scale: scale, s: s)
                for r in 0..<m {
                    let valid = start + q0 + r + 1
                    sentio_vexp_softmax(s + r * kend, valid)
                    if valid < kend { (s + r * kend + valid).update(repeating: 0, count: kend - valid) }
                }
                packed.values(head: h / group, p: s, m: m, keys: kend, out: out + q0 * ld + h * hd, ldo: ld)
            }
            return
        }
        pool.parallelFor(heads * tiles) { task in
            let h = task % heads, tile = task / heads
            let q0 = tile * queryTile, q1 = min(nQ, q0 + queryTile), m = q1 - q0
            let kend = start + q1
            let s = UnsafeMutablePointer<Float>.allocate(capacity: m * kend)
            defer { s.deallocate() }
            let g = h / group
            BLAS.sgemm(transA: false, transB: true, m: m, n: kend, k: hd, alpha: scale, a: q + q0 * ld + h * hd, lda: ld,
                       b: kPtr(g), ldb: hd, beta: 0, c: s, ldc: kend)
            for r in 0..<m {
                let valid = start + q0 + r + 1
                sentio_vexp_softmax(s + r * kend, valid)
                if valid < kend { (s + r * kend + valid).update(repeating: 0, count: kend - valid) }
            }
            BLAS.sgemm(transA: false, transB: false, m: m, n: hd, k: kend, alpha: 1, a: s, lda: kend,
                       b: vPtr(g), ldb: hd, beta: 0, c: out + q0 * ld + h * hd, ldc: ld)
        }
    }

    /// Query rows up to which `causal` reads the paged cache in place (decode) instead of gathering it.
    static let decodeRows = 4

    /// Decode path of `causal`: one task per (KV head, query row) reads the K/V blocks in place (f16 and
    /// q8 converted in registers, keys and values each of their own type) for the whole group of query heads sharing that KV head.
    static func causalDecode(q: UnsafePointer<Float>, nQ: Int, start: Int, heads: Int, kv: KVView,
                             out: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let hd = kv.headDim, kvh = kv.kvHeads, group = heads / kvh, ld = heads * hd
        let scale = 1 / Float(hd).squareRoot()
        nonisolated(unsafe) let (q, out) = (q, out)
        pool.parallelFor(kvh * nQ) { task in
            let g = task % kvh, r = task / kvh
            kv.decodeGroup(head: g, keys: start + r + 1, q: q + r * ld + g * group * hd, group: group, scale: scale,
                           out: out + r * ld + g * group * hd)
        }
    }

    /// Scalar twin of `causal`: per query row and head, Double scores and softmax over keys 0...pos.
    public static func causalRef(q: UnsafePointer<Float>, nQ: Int, start: Int, heads: Int, kv: KVView,
                                 out: UnsafeMutablePointer<Float>) {
        causalRef(q: q, nQ: nQ, start: start, heads: heads, kv: kv, out: out, bf16: false)
    }

    /// Scalar twin of the causal bf16 tile path (`precision: .bf16`), rounded as `fullRefBF16`.
    public static func causalRefBF16(q: UnsafePointer<Float>, nQ: Int, start: Int, heads: Int, kv: KVView,
                                     out: UnsafeMutablePointer<Float>) {
        causalRef(q: q, nQ: nQ, start: start, heads: heads, kv: kv, out: out, bf16: true)
    }

    static func causalRef(q: UnsafePointer<Float>, nQ: Int, start: Int, heads: Int, kv: KVView,
                          out: UnsafeMutablePointer<Float>, bf16: Bool) {
        let hd = kv.headDim, group = heads / kv.kvHeads, ld = heads * hd
        attentionRef(rows: nQ, heads: heads, headDim: hd, keys: { start + $0 + 1 },
                     q: { r, h, i in q[r * ld + h * hd + i] },
                     k: { t, h, i in kv.element(kv.kBlocks, token: t, head: h / group, i) },
                     v: { t, h, i in kv.element(kv.vBlocks, token: t, head: h / group, i) },
                     mask: nil, bf16: bf16, out: out)
    }

    /// Full (bidirectional) multi-head attention for encoders: q,k,v,out: [n, heads*headDim] contiguous,
    /// optional additive key mask [n] (e.g. 0 / -inf for padding). scale 1/sqrt(headDim).
    /// `precision: .bf16` allows the AMX tile kernel (q, k, v and the softmax numerators rounded to bf16,
    /// f32 accumulation) where it runs (ISA level 4, head dim 64); encoders pass it for quantized weights.
    public static func full(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, heads: Int, headDim: Int,
                            out: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>? = nil,
                            precision: AttentionPrecision = .f32, pool: ThreadPool = .shared) {
        if n <= 0 { return }
        let hd = headDim, ld = heads * hd
        if precision != .f32 && sentio_attn_amx_available(hd) != 0 {
            fullBF16Tiles(q: q, k: k, v: v, n: n, heads: heads, out: out, mask: mask, split: precision == .bf16SplitScores, pool: pool)
            return
        }
        let tiles = (n + queryTile - 1) / queryTile
        let scale = 1 / Float(hd).squareRoot()
        nonisolated(unsafe) let (q, k, v, out, mask) = (q, k, v, out, mask)
        if useBlockedFull && sentio_attn_full_available(hd) != 0 {
            fullBlocked(q: q, k: k, v: v, n: n, heads: heads, headDim: hd, out: out, mask: mask, pool: pool)
            return
        }
        if let packed = PackedKV(heads: heads, keys: n, headDim: hd, k: { k + $0 * hd }, v: { v + $0 * hd }, ld: ld, pool: pool) {
            defer { packed.deallocate() }
            pool.parallelFor(heads * tiles) { task in
                let h = task % heads, tile = task / heads
                let q0 = tile * queryTile, q1 = min(n, q0 + queryTile), m = q1 - q0
                let s = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
                defer { s.deallocate() }
                packed.scores(head: h, q: q + q0 * ld + h * hd, ldq: ld, m: m, keys: n, scale: scale, s: s)
                for r in 0..<m {
                    let row = s + r * n
                    if let mask { for t in 0..<n { row[t] += mask[t] } }
                    sentio_vexp_softmax(row, n)
                }
                packed.values(head: h, p: s, m: m, keys: n, out: out + q0 * ld + h * hd, ldo: ld)
            }
            return
        }
        pool.parallelFor(heads * tiles) { task in
            let h = task % heads, tile = task / heads
            let q0 = tile * queryTile, q1 = min(n, q0 + queryTile), m = q1 - q0
            let s = UnsafeMutablePointer<Float>.allocate(capacity: m * n)
            defer { s.deallocate() }
            BLAS.sgemm(transA: false, transB: true, m: m, n: n, k: hd, alpha: scale, a: q + q0 * ld + h * hd, lda: ld,
                       b: k + h * hd, ldb: ld, beta: 0, c: s, ldc: n)
            for r in 0..<m {
                let row = s + r * n
                if let mask { for t in 0..<n { row[t] += mask[t] } }
                sentio_vexp_softmax(row, n)
            }
            BLAS.sgemm(transA: false, transB: false, m: m, n: hd, k: n, alpha: 1, a: s, lda: n,
                       b: v + h * hd, ldb: ld, beta: 0, c: out + q0 * ld + h * hd, ldc: ld)
        }
    }

    /// Tasks of (head, query-row range) for the encoder and prefill drivers: ~4 per thread over all heads,
    /// each range a multiple of the kernel's `block` query rows.
    static func rowSplit(rows n: Int, heads: Int, block: Int, pool: ThreadPool) -> (splits: Int, rowsPer: Int) {
        let splits = max(1, min((n + block - 1) / block, (pool.threadCount * 4 + heads - 1) / heads))
        return (splits, ((n + splits - 1) / splits + block - 1) / block * block)
    }

    /// `full` on the blocked AVX-512 kernel (attn_full.c): K of every head packed in 32-key chunks and V
    /// copied contiguous once, then tasks of (head, query-row range) run blocks of 8 query rows whose
    /// scores stay in L1/L2. Measured (KernelBench attn, 1 thread): Whisper n=1500 h=20: 154 -> see
    /// docs/BENCHMARKS.md.
    static func fullBlocked(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, heads: Int,
                            headDim hd: Int, out: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>?, pool: ThreadPool) {
        let ld = heads * hd
        let kFloats = sentio_attn_kpack_floats(n, hd), vFloats = n * hd
        let kp = UnsafeMutableRawPointer.allocate(byteCount: heads * kFloats * 4, alignment: 64).bindMemory(to: Float.self, capacity: heads * kFloats)
        let vp = UnsafeMutablePointer<Float>.allocate(capacity: heads * vFloats)
        defer { UnsafeMutableRawPointer(kp).deallocate(); vp.deallocate() }
        nonisolated(unsafe) let (q, k, v, out, mask, kpp, vpp) = (q, k, v, out, mask, kp, vp)
        pool.parallelFor(heads * 2) { t in
            let h = t / 2
            if t % 2 == 0 { sentio_attn_pack_k(k + h * hd, ld, n, hd, kpp + h * kFloats) }
            else { for r in 0..<n { (vpp + h * vFloats + r * hd).update(from: v + r * ld + h * hd, count: hd) } }
        }
        let (splits, rowsPer) = rowSplit(rows: n, heads: heads, block: 8, pool: pool)
        let scale = 1 / Float(hd).squareRoot()
        pool.parallelFor(heads * splits) { task in
            let h = task / splits, part = task % splits
            let i0 = part * rowsPer, i1 = min(n, i0 + rowsPer)
            if i0 >= i1 { return }
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: sentio_attn_scratch_floats(n, hd))
            defer { scratch.deallocate() }
            sentio_attn_full_rows(q + h * hd, ld, kpp + h * kFloats, vpp + h * vFloats, n, hd, i0, i1, scale, mask,
                                  scratch, out + h * hd, ld)
        }
    }

    /// `full` on the AMX bf16 tile kernel (amx_bf16.c, head dim 64): K and V of every head packed once
    /// into the tile layouts, then tasks of (head, query-row range) in blocks of 16 query rows.
    static func fullBF16Tiles(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, heads: Int,
                              out: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>?, split: Bool, pool: ThreadPool) {
        let hd = 64, ld = heads * hd
        ScratchCache.with(bytes: AMXPacks.bytes(sets: heads, keys: n, split: split)) { raw in
        let packs = AMXPacks(raw, sets: heads, keys: n, split: split)
        nonisolated(unsafe) let (q, k, v, out, mask) = (q, k, v, out, mask)
        pool.parallelFor(heads) { h in
            sentio_attn_amx_pack(k + h * hd, v + h * hd, ld, n, packs.k(h), packs.lo(h), packs.v(h))
        }
        let (splits, rowsPer) = rowSplit(rows: n, heads: heads, block: 16, pool: pool)
        let scale = 1 / Float(hd).squareRoot()
        pool.parallelFor(heads * splits) { task in
            let h = task / splits, part = task % splits
            let i0 = part * rowsPer, i1 = min(n, i0 + rowsPer)
            if i0 >= i1 { return }
            AMXPacks.withTaskScratch(keys: n) { scratch in
                sentio_attn_amx_rows(q + h * hd, ld, packs.k(h), packs.lo(h), packs.v(h), n, i0, i1, scale, mask,
                                     -1, scratch, out + h * hd, ld)
            }
        }
        }
    }

    /// Causal prefill on the AMX tile kernel: per KV head, K and V gathered to f32 and packed once; tasks of
    /// (query head, row range) share their KV head's packs; row i sees keys 0 ... start + i.
    static func causalBF16Tiles(q: UnsafePointer<Float>, nQ: Int, start: Int, heads: Int, kv: KVView,
                                out: UnsafeMutablePointer<Float>, split: Bool, pool: ThreadPool) {
        let hd = 64, kvh = kv.kvHeads, group = heads / kvh, total = start + nQ
        let f32Bytes = (2 * kvh * total * hd * 4 + 63) / 64 * 64
        ScratchCache.with(bytes: f32Bytes + AMXPacks.bytes(sets: kvh, keys: total, split: split)) { raw in
        let f32 = raw.bindMemory(to: Float.self, capacity: 2 * kvh * total * hd)
        let packs = AMXPacks(raw + f32Bytes, sets: kvh, keys: total, split: split)
        nonisolated(unsafe) let (q, out, f) = (q, out, f32)
        pool.parallelFor(kvh) { g in
            let kf = f + 2 * g * total * hd, vf = kf + total * hd
            kv.gather(kv.kBlocks, head: g, count: total, into: kf)
            kv.gather(kv.vBlocks, head: g, count: total, into: vf)
            sentio_attn_amx_pack(kf, vf, hd, total, packs.k(g), packs.lo(g), packs.v(g))
        }
        let (splits, rowsPer) = rowSplit(rows: nQ, heads: heads, block: 16, pool: pool)
        let scale = 1 / Float(hd).squareRoot(), ld = heads * hd
        pool.parallelFor(heads * splits) { task in
            // later row ranges see more keys: hand them out first
            let h = task % heads, part = splits - 1 - task / heads, g = h / group
            let i0 = part * rowsPer, i1 = min(nQ, i0 + rowsPer)
            if i0 >= i1 { return }
            AMXPacks.withTaskScratch(keys: total) { scratch in
                sentio_attn_amx_rows(q + h * hd, ld, packs.k(g), packs.lo(g), packs.v(g), total, i0, i1, scale, nil,
                                     start, scratch, out + h * hd, ld)
            }
        }
        }
    }

    /// Scalar twin of the bf16 tile kernel: q·scale, k, v rounded to bf16, Double scores and exp, the
    /// numerators rounded to bf16 for P·V and the sum taken over the unrounded ones.
    public static func fullRefBF16(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, heads: Int,
                                   headDim: Int, out: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>? = nil) {
        fullRef(q: q, k: k, v: v, n: n, heads: heads, headDim: headDim, out: out, mask: mask, bf16: true)
    }

    /// Scalar twin of `full` (Double scores and softmax).
    public static func fullRef(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, heads: Int, headDim: Int,
                               out: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>? = nil) {
        fullRef(q: q, k: k, v: v, n: n, heads: heads, headDim: headDim, out: out, mask: mask, bf16: false)
    }

    static func fullRef(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, n: Int, heads: Int, headDim hd: Int,
                        out: UnsafeMutablePointer<Float>, mask: UnsafePointer<Float>?, bf16: Bool) {
        let ld = heads * hd
        attentionRef(rows: n, heads: heads, headDim: hd, keys: { _ in n },
                     q: { r, h, i in q[r * ld + h * hd + i] }, k: { t, h, i in k[t * ld + h * hd + i] },
                     v: { t, h, i in v[t * ld + h * hd + i] }, mask: mask, bf16: bf16, out: out)
    }

    /// The attention twins' one loop. Per query row r and head h over keys 0..<keys(r) (q/k/v read through
    /// (row or token, head, i)), scale 1/sqrt(headDim), optional additive key mask, out [rows, heads*headDim].
    /// f32 twin: Double products, scores, exp and sums. bf16 twin (the tile kernels): q·scale, k and v rounded to
    /// bf16, each score rounded to f32 (the tiles accumulate in f32), the exp numerators rounded to bf16 for P·V,
    /// the sum taken over the unrounded ones.
    static func attentionRef(rows: Int, heads: Int, headDim hd: Int, keys: (Int) -> Int,
                             q: (Int, Int, Int) -> Float, k: (Int, Int, Int) -> Float, v: (Int, Int, Int) -> Float,
                             mask: UnsafePointer<Float>?, bf16: Bool, out: UnsafeMutablePointer<Float>) {
        let ld = heads * hd
        let scale = 1 / Double(hd).squareRoot(), scaleF = 1 / Float(hd).squareRoot()
        let r16 = Linear.roundToBF16
        for r in 0..<rows {
            let nk = keys(r)
            var sc = [Double](repeating: 0, count: nk)
            for h in 0..<heads {
                for t in 0..<nk {
                    var d = 0.0
                    if bf16 {
                        for i in 0..<hd { d += Double(r16(q(r, h, i) * scaleF)) * Double(r16(k(t, h, i))) }
                        sc[t] = Double(Float(d)) + Double(mask?[t] ?? 0)
                    } else {
                        for i in 0..<hd { d += Double(q(r, h, i)) * Double(k(t, h, i)) }
                        sc[t] = d * scale + Double(mask?[t] ?? 0)
                    }
                }
                let mx = sc.max()!
                var sum = 0.0
                for t in 0..<nk { sc[t] = Foundation.exp(sc[t] - mx); sum += sc[t] }
                for i in 0..<hd {
                    var o = 0.0
                    if bf16 { for t in 0..<nk { o += Double(r16(Float(sc[t]))) * Double(r16(v(t, h, i))) } }
                    else { for t in 0..<nk { o += sc[t] * Double(v(t, h, i)) } }
                    out[r * ld + h * hd + i] = Float(o / sum)
                }
            }
        }
    }
}

/// The AMX attention kernel's packed K/V for `sets` heads (encoder) or KV heads (decoder prefill), in one
/// buffer: per set K, V and, with split scores, K's bf16 residuals, each sentio_attn_amx_pack_elems(keys)
/// bf16 values. Shared by fullBF16Tiles and causalBF16Tiles.
struct AMXPacks: @unchecked Sendable {
    let base: UnsafeMutablePointer<UInt16>
    let elems: Int
    let split: Bool

    /// Packs per set: K and V, plus K's residuals with split scores.
    static func planes(split: Bool) -> Int { split ? 3 : 2 }
    static func bytes(sets: Int, keys: Int, split: Bool) -> Int { planes(split: split) * sets * sentio_attn_amx_pack_elems(keys) * 2 }

    init(_ raw: UnsafeMutableRawPointer, sets: Int, keys: Int, split: Bool) {
        elems = sentio_attn_amx_pack_elems(keys); self.split = split
        base = raw.bindMemory(to: UInt16.self, capacity: Self.planes(split: split) * sets * elems)
    }

    func k(_ set: Int) -> UnsafeMutablePointer<UInt16> { base + Self.planes(split: split) * set * elems }
    func v(_ set: Int) -> UnsafeMutablePointer<UInt16> { k(set) + elems }
    func lo(_ set: Int) -> UnsafeMutablePointer<UInt16>? { split ? k(set) + 2 * elems : nil }

    /// A query task's scratch (scores, numerators, q tiles) for `keys` keys. Plain malloc: many small buffers
    /// at once would churn ScratchCache's few large ones.
    static func withTaskScratch(keys: Int, _ body: (UnsafeMutableRawPointer) -> Void) {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: sentio_attn_amx_scratch_bytes(keys), alignment: 64)
        defer { scratch.deallocate() }
        body(scratch)
    }
}
