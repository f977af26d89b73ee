/* q4_1 (affine 4-bit) weights x Q8_0 activations: decode GEMV and prefill GEMM, scalar / AVX2 / AVX-512 VNNI.

   Block (20 bytes, BlockQ4_1 in SentioCore): f16 step d, f16 offset m, 16 bytes of nibbles (byte j: weight
   j low, weight j+16 high); w = d*q + m with q in 0..15. Activations: Q8_0 blocks x ~= dx*qx, and the
   activation side carries corr = sum(qx) per block (sk_qgemm_corr gives c = 1 for q4_1). Per block

       sum_j w_j x_j ~= d*dx * sum_j q_j qx_j  +  m*dx * sum_j qx_j

   The integer dot takes the nibbles as they are (unsigned, straight into vpdpbusd's u8 operand or
   maddubs' unsigned operand; no zero point), the offset term needs only the activation block sums.

   VNNI: two weight blocks per zmm (lanes 0-7 block b, 8-15 block b+1), as qgemv_x86.c does for q4:
   per pair of blocks and activation row one vpdpbusd, then acc += cvt(dot) * (D*DX), D / DX the
   pair's weight / activation scales, 8 lanes per block. The offset term runs outside that loop, 16
   blocks per step: the 16 offsets of a row gathered at once, one FMA with dx*sum(qx) per activation
   row (Q4_0's op count in the pair loop). One horizontal sum per output.
   Tiles: 4 weight rows x up to 4 activation rows (n <= 4 on VNNI, any n on AVX2; one driver, q41_drive,
   loops either ISA's tiles over panels of activation rows). VNNI, n = 5..16 (sk_qgemvn_max): the batched-decode GEMVs
   of qgemv_x86.c (sk_qgemvn_vnni: weights read in place, no pack buffer); larger n: a packed
   32-row x 6-activation GEMM (below). */
#include "internal.h"
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define Q41_BS 20

void sk_q41_scalar(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                   const float *bias) {
    const long cols = xq->cols, nb = cols / 32;
    for (long r = r0; r < r1; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * rowBytes;
        for (long i = 0; i < xq->n; i++) {
            const int8_t *xr = xq->qs + i * cols;
            float acc = 0;
            for (long b = 0; b < nb; b++) {
                const uint8_t *blk = wr + b * Q41_BS;
                uint16_t hd, hm; memcpy(&hd, blk, 2); memcpy(&hm, blk + 2, 2);
                const int8_t *xb = xr + b * 32;
                int32_t dot = 0;
                for (int j = 0; j < 16; j++) dot += (int32_t)(blk[4 + j] & 15) * xb[j] + (int32_t)(blk[4 + j] >> 4) * xb[j + 16];
                const float dx = xq->d[i * nb + b];
                acc += (sk_f16_to_f32(hd) * dx) * (float)dot + sk_f16_to_f32(hm) * (dx * (float)xq->corr[i * nb + b]);
            }
            y[i * ldy + r] = acc + (bias ? bias[r] : 0.0f);
        }
    }
}

#if defined(__x86_64__)
#define VNNI_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline
#define Q41_PF 2048     /* prefetch distance in bytes ahead of each weight row stream */
#define Q41_PANEL 64    /* activation rows per panel for n > 4 */

/* The panel loop shared by the VNNI and AVX2 GEMVs: panels of Q41_PANEL activation rows; in each, 4 weight
   rows at a time (the last rows repeated to fill the tile, only nr stored) against tiles of up to th
   activation rows. tile(ctx, wr, i0, mr, next, out) sets out[k][a] = weight row wr[k] . activation row i0 + a
   (k < 4, a < mr <= th <= 4), without bias; next: the following 4-row tile's bytes for the tile to prefetch
   in address order (first activation tile of short rows only, sk_seq_prefetch; else NULL). */
typedef void (*q41_tile_fn)(const void *ctx, const uint8_t *const wr[4], long i0, int mr, const uint8_t *next,
                            float out[4][4]);

static void q41_drive(const void *w, size_t rowBytes, long r0, long r1, long n, float *y, long ldy, const float *bias,
                      int th, q41_tile_fn tile, const void *ctx) {
    for (long ip = 0; ip < n; ip += Q41_PANEL) {
        const long ie = ip + Q41_PANEL < n ? ip + Q41_PANEL : n;
        for (long r = r0; r < r1; r += 4) {
            const uint8_t *wr[4];
            for (int k = 0; k < 4; k++) wr[k] = (const uint8_t *)w + (size_t)(r + k < r1 ? r + k : r1 - 1) * rowBytes;
            const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
            const uint8_t *next = sk_next_tile(w, rowBytes, r);
            for (long i = ip; i < ie; i += th) {
                float out[4][4];
                const int mr = ie - i < th ? (int)(ie - i) : th;
                tile(ctx, wr, i, mr, i == ip ? next : NULL, out);
                for (int a = 0; a < mr; a++)
                    for (int k = 0; k < nr; k++) y[(i + a) * ldy + r + k] = out[k][a] + (bias ? bias[r + k] : 0.0f);
            }
        }
    }
}

/* ---------------- AVX-512 VNNI ---------------- */

/* Activation side: dx for pair p of row i in 16 lanes (block 2p in lanes 0-7, 2p+1 in 8-15; a missing last
   block of odd nb gets 0), and sx[i*nb16 + b] = dx_b * sum(qx_b) per block, zero-padded to nb16 (a multiple
   of 16) for the offset term. */
static void q41_prep(const sentio_xq *xq, long np, long nb16, float *dx, float *sx) {
    const long nb = xq->cols / 32;
    for (long i = 0; i < xq->n; i++) {
        for (long p = 0; p < np; p++)
            for (int h = 0; h < 2; h++) {
                const long b = 2 * p + h;
                const float d = b < nb ? xq->d[i * nb + b] : 0.0f;
                for (int l = 0; l < 8; l++) dx[(i * np + p) * 16 + h * 8 + l] = d;
            }
        for (long b = 0; b < nb16; b++) sx[i * nb16 + b] = b < nb ? xq->d[i * nb + b] * (float)xq->corr[i * nb + b] : 0.0f;
    }
}

/* Pair of blocks at blk (b and b+1, 40 bytes) -> W: lanes of block b = [q0..15 | q16..31], then b+1;
   D: the steps, 8 lanes per block. */
INLINE VNNI_TARGET void q41_load_pair(const uint8_t *blk, __m512i *W, __m512 *D) {
    __m512i z = _mm512_mask_blend_epi64(0xF0, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(blk + 4))),
                                        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(blk + 24))));
    z = _mm512_srlv_epi64(z, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    *W = _mm512_and_si512(z, _mm512_set1_epi8(15));
    /* words 0 (d_b) and 10 (d_b+1) of the 40 bytes */
    const __m256i sidx = _mm256_setr_epi32(0, 0, 0, 0, 0x000A000A, 0x000A000A, 0x000A000A, 0x000A000A);
    *D = _mm512_cvtph_ps(_mm256_permutexvar_epi16(sidx, _mm256_loadu_si256((const __m256i *)blk)));
}
/* The single last block (odd nb): upper lanes zero. */
INLINE VNNI_TARGET void q41_load_tail(const uint8_t *blk, __m512i *W, __m512 *D) {
    uint16_t hd; memcpy(&hd, blk, 2);
    *D = _mm512_cvtph_ps(_mm256_zextsi128_si256(_mm_set1_epi16((short)hd)));
    __m128i v = _mm_loadu_si128((const __m128i *)(blk + 4));
    *W = _mm512_zextsi256_si512(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15)));
}

INLINE VNNI_TARGET void q41_vnni_tile(const uint8_t *const wr[4], long nb, long np, long nb16, const sentio_xq *xq,
                                      const float *dx, const float *sx, long i0, const int MR, const uint8_t *next,
                                      float out[4][4]) {
    const long cols = xq->cols, full = nb / 2;
    const uint8_t *pfc = next;   /* sequential prefetch cursor over the next tile (NULL: per-row prefetch) */
    __m512 acc[4][4];
    for (int k = 0; k < 4; k++) for (int i = 0; i < MR; i++) acc[k][i] = _mm512_setzero_ps();
    /* Offset term, 16 blocks at a time: the offsets m_b of each row gathered (dword at block start + 2,
       low half = m), times dx_b * sum(qx_b). */
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(Q41_BS));
    for (long c = 0; c < nb; c += 16) {
        const __mmask16 gm = nb - c >= 16 ? 0xFFFF : (__mmask16)((1u << (nb - c)) - 1);
        for (int k = 0; k < 4; k++) {
            __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), gm, gidx, wr[k] + c * Q41_BS + 2, 1);
            __m512 Mv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
            for (int i = 0; i < MR; i++) acc[k][i] = _mm512_fmadd_ps(Mv, _mm512_loadu_ps(sx + (i0 + i) * nb16 + c), acc[k][i]);
        }
    }
    for (long p = 0; p <= full; p++) {
        __m512i W[4]; __m512 D[4];
        if (p < full) {
            if (next) sk_prefetch_upto(&pfc, next + (p + 1) * 8 * Q41_BS);
            for (int k = 0; k < 4; k++) {
                const uint8_t *blk = wr[k] + p * 2 * Q41_BS;
                if (!next) _mm_prefetch((const char *)blk + Q41_PF, _MM_HINT_T0);
                q41_load_pair(blk, &W[k], &D[k]);
            }
        } else {
            if (!(nb & 1)) break;
            for (int k = 0; k < 4; k++) q41_load_tail(wr[k] + p * 2 * Q41_BS, &W[k], &D[k]);
        }
        for (int i = 0; i < MR; i++) {
            const long xi = i0 + i;
            __m512i X = p < full ? _mm512_loadu_si512((const void *)(xq->qs + xi * cols + p * 64))
                                 : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, xq->qs + xi * cols + p * 64);
            __m512 DX = _mm512_loadu_ps(dx + (xi * np + p) * 16);
            for (int k = 0; k < 4; k++) {
                __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), W[k], X);
                acc[k][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(D[k], DX), acc[k][i]);
            }
        }
    }
    for (int k = 0; k < 4; k++) for (int i = 0; i < MR; i++) out[k][i] = _mm512_reduce_add_ps(acc[k][i]);
}

typedef struct { const sentio_xq *xq; long nb, np, nb16; const float *dx, *sx; } q41_vnni_ctx;

/* One specialized copy per tile height (constant MR: accumulators in registers). */
VNNI_TARGET static void q41_vnni_tiles(const void *ctx, const uint8_t *const wr[4], long i0, int mr, const uint8_t *next,
                                       float out[4][4]) {
    const q41_vnni_ctx *c = ctx;
    switch (mr) {
    case 1: q41_vnni_tile(wr, c->nb, c->np, c->nb16, c->xq, c->dx, c->sx, i0, 1, next, out); break;
    case 2: q41_vnni_tile(wr, c->nb, c->np, c->nb16, c->xq, c->dx, c->sx, i0, 2, next, out); break;
    case 3: q41_vnni_tile(wr, c->nb, c->np, c->nb16, c->xq, c->dx, c->sx, i0, 3, next, out); break;
    default: q41_vnni_tile(wr, c->nb, c->np, c->nb16, c->xq, c->dx, c->sx, i0, 4, next, out); break;
    }
}

static void q41_vnni(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y,
                     long ldy, const float *bias) {
    const long nb = xq->cols / 32, np = (nb + 1) / 2, nb16 = (nb + 15) / 16 * 16, n = xq->n;
    float stack_dx[4 * 64 * 16], stack_sx[4 * 256];
    float *dx = stack_dx, *sx = stack_sx;
    const int heap = n * np > 4 * 64 || n * nb16 > 4 * 256;
    if (heap) {
        dx = aligned_alloc(64, (size_t)(n * np * 16) * 4);
        sx = aligned_alloc(64, (size_t)(n * nb16) * 4 + 64);
        if (!dx || !sx) { free(dx); free(sx); sk_q41_scalar(w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
    }
    q41_prep(xq, np, nb16, dx, sx);
    const q41_vnni_ctx ctx = { xq, nb, np, nb16, dx, sx };
    q41_drive(w, rowBytes, r0, r1, n, y, ldy, bias, 4, q41_vnni_tiles, &ctx);
    if (heap) { free(dx); free(sx); }
}

/* ---------------- AVX-512 VNNI GEMM for n > sk_qgemvn_max() (prefill) ----------------
   As qgemm_512.c does for q8/q4: weights repacked per call, 32 rows per group, so that one zmm holds 4
   consecutive k-bytes of 16 rows (one dword lane per row) and vpdpbusd with 4 activation bytes
   broadcast accumulates 16 row dots at once. Packed group, per block: 8 steps x [32 rows x 4 nibble
   bytes], then the 32 steps d and the 32 offsets m as f32. Micro-tile 32 rows x 6 activation rows;
   per block and (row vector, activation row): convert, FMA with d*dx, FMA of m with dx*sum(qx). */
#define G41 32
#define MR41 6
#define GB41 (8 * G41 * 4 + 2 * G41 * 4)

static _Thread_local uint8_t *tl_pack41;
static _Thread_local size_t tl_pack41_cap;

__attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl")))
static void q41_pack_group(const uint8_t *w, size_t rowBytes, long r, int h, long nb, uint8_t *out) {
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)rowBytes));
    const __m512i low = _mm512_set1_epi32(0x0F0F0F0F);
    for (int half = 0; half < 2; half++) {
        const int hv = h - 16 * half;
        const __mmask16 m = hv >= 16 ? 0xFFFF : hv <= 0 ? 0 : (__mmask16)((1u << hv) - 1);
        const uint8_t *base = w + (size_t)(r + 16 * half) * rowBytes;
        for (long b = 0; b < nb; b++) {
            const uint8_t *bb = base + b * Q41_BS;
            uint8_t *dst = out + b * GB41 + 64 * half;
            /* dword 0 of each block = [d | m] */
            __m512i hs = m ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, bb, 1) : _mm512_setzero_si512();
            float *sc = (float *)(out + b * GB41 + 8 * G41 * 4);
            _mm512_store_ps(sc + 16 * half, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hs)));
            _mm512_store_ps(sc + G41 + 16 * half, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(hs, 16))));
            for (int st = 0; st < 4; st++) {
                __m512i v = m ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, bb + 4 + 4 * st, 1)
                              : _mm512_setzero_si512();
                _mm512_store_si512((void *)(dst + st * G41 * 4), _mm512_and_si512(v, low));
                _mm512_store_si512((void *)(dst + (st + 4) * G41 * 4), _mm512_and_si512(_mm512_srli_epi32(v, 4), low));
            }
        }
    }
}

VNNI_TARGET static inline void q41_tile512(const uint8_t *pk, long nb, const sentio_xq *xq, long i0, int mr,
                                           float *y, long ldy, long r, int h, const float *bias) {
    const long cols = xq->cols;
    __m512 f0[MR41], f1[MR41];
    for (int i = 0; i < MR41; i++) { f0[i] = _mm512_setzero_ps(); f1[i] = _mm512_setzero_ps(); }
    const int8_t *xr[MR41];
    for (int i = 0; i < MR41; i++) xr[i] = xq->qs + (i0 + (i < mr ? i : 0)) * cols;
    for (long b = 0; b < nb; b++) {
        const uint8_t *blk = pk + b * GB41;
        __m512i a0[MR41], a1[MR41];
        for (int i = 0; i < mr; i++) { a0[i] = _mm512_setzero_si512(); a1[i] = _mm512_setzero_si512(); }
        for (int s = 0; s < 8; s++) {
            __m512i W0 = _mm512_load_si512((const void *)(blk + s * G41 * 4));
            __m512i W1 = _mm512_load_si512((const void *)(blk + s * G41 * 4 + 64));
            for (int i = 0; i < mr; i++) {
                int32_t xv; memcpy(&xv, xr[i] + b * 32 + 4 * s, 4);
                __m512i X = _mm512_set1_epi32(xv);
                a0[i] = _mm512_dpbusd_epi32(a0[i], W0, X);
                a1[i] = _mm512_dpbusd_epi32(a1[i], W1, X);
            }
        }
        const float *sc = (const float *)(blk + 8 * G41 * 4);
        __m512 d0 = _mm512_load_ps(sc), d1 = _mm512_load_ps(sc + 16);
        __m512 m0 = _mm512_load_ps(sc + G41), m1 = _mm512_load_ps(sc + G41 + 16);
        for (int i = 0; i < mr; i++) {
            const long xi = (i0 + i) * nb + b;
            const float dxs = xq->d[xi];
            __m512 dx = _mm512_set1_ps(dxs), sx = _mm512_set1_ps(dxs * (float)xq->corr[xi]);
            f0[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[i]), _mm512_mul_ps(d0, dx), f0[i]);
            f1[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[i]), _mm512_mul_ps(d1, dx), f1[i]);
            f0[i] = _mm512_fmadd_ps(m0, sx, f0[i]);
            f1[i] = _mm512_fmadd_ps(m1, sx, f1[i]);
        }
    }
    const __mmask16 k0 = h >= 16 ? 0xFFFF : (__mmask16)((1u << h) - 1);
    const __mmask16 k1 = h > 16 ? (h >= 32 ? 0xFFFF : (__mmask16)((1u << (h - 16)) - 1)) : 0;
    __m512 bv0 = bias ? _mm512_maskz_loadu_ps(k0, bias + r) : _mm512_setzero_ps();
    __m512 bv1 = bias ? _mm512_maskz_loadu_ps(k1, bias + r + 16) : _mm512_setzero_ps();
    for (int i = 0; i < mr; i++) {
        float *yo = y + (i0 + i) * ldy + r;
        _mm512_mask_storeu_ps(yo, k0, _mm512_add_ps(f0[i], bv0));
        _mm512_mask_storeu_ps(yo + 16, k1, _mm512_add_ps(f1[i], bv1));
    }
}

/* Returns 0 when the packing buffer cannot be allocated (the caller then uses the tile kernel). */
VNNI_TARGET static int q41_vnni512(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y,
                                   long ldy, const float *bias) {
    const long nb = xq->cols / 32, n = xq->n;
    const size_t need = (size_t)nb * GB41;
    if (tl_pack41_cap < need) {
        free(tl_pack41);
        tl_pack41 = aligned_alloc(64, (need + 63) / 64 * 64);
        tl_pack41_cap = tl_pack41 ? need : 0;
        if (!tl_pack41) return 0;
    }
    for (long r = r0; r < r1; r += G41) {
        const int h = r1 - r < G41 ? (int)(r1 - r) : G41;
        q41_pack_group((const uint8_t *)w, rowBytes, r, h, nb, tl_pack41);
        long i = 0;
        for (; i + MR41 <= n; i += MR41) q41_tile512(tl_pack41, nb, xq, i, MR41, y, ldy, r, h, bias);
        switch (n - i) {
        case 5: q41_tile512(tl_pack41, nb, xq, i, 5, y, ldy, r, h, bias); break;
        case 4: q41_tile512(tl_pack41, nb, xq, i, 4, y, ldy, r, h, bias); break;
        case 3: q41_tile512(tl_pack41, nb, xq, i, 3, y, ldy, r, h, bias); break;
        case 2: q41_tile512(tl_pack41, nb, xq, i, 2, y, ldy, r, h, bias); break;
        case 1: q41_tile512(tl_pack41, nb, xq, i, 1, y, ldy, r, h, bias); break;
        default: break;
        }
    }
    return 1;
}

/* ---------------- AVX2 ---------------- */

INLINE AVX2_TARGET void q41_avx2_tile(const uint8_t *const wr[4], long nb, const sentio_xq *xq, long i0,
                                      const int MR, const uint8_t *next, float out[4][4]) {
    const uint8_t *pfc = next;   /* sequential prefetch cursor over the next tile (NULL: per-row prefetch) */
    const long cols = xq->cols;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][2];
    for (int k = 0; k < 4; k++) for (int i = 0; i < MR; i++) acc[k][i] = _mm256_setzero_ps();
    for (long b = 0; b < nb; b++) {
        __m256i W[4]; __m256 D[4], M[4];
        if (next) sk_prefetch_upto(&pfc, next + (b + 1) * 4 * Q41_BS);
        for (int k = 0; k < 4; k++) {
            const uint8_t *blk = wr[k] + b * Q41_BS;
            if (!next) _mm_prefetch((const char *)blk + Q41_PF, _MM_HINT_T0);
            uint16_t hd, hm; memcpy(&hd, blk, 2); memcpy(&hm, blk + 2, 2);
            D[k] = _mm256_cvtph_ps(_mm_set1_epi16((short)hd));
            M[k] = _mm256_cvtph_ps(_mm_set1_epi16((short)hm));
            __m128i v = _mm_loadu_si128((const __m128i *)(blk + 4));
            W[k] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
        }
        for (int i = 0; i < MR; i++) {
            const long xi = i0 + i;
            __m256i X = _mm256_loadu_si256((const __m256i *)(xq->qs + xi * cols + b * 32));
            const float dxs = xq->d[xi * nb + b];
            __m256 DX = _mm256_set1_ps(dxs), SX = _mm256_set1_ps(dxs * (float)xq->corr[xi * nb + b] * 0.125f);
            for (int k = 0; k < 4; k++) {
                /* nibble*x pairs: |15*127*2| < 32767, no int16 saturation */
                __m256i dot = _mm256_madd_epi16(_mm256_maddubs_epi16(W[k], X), ones);
                acc[k][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(D[k], DX), acc[k][i]);
                acc[k][i] = _mm256_fmadd_ps(M[k], SX, acc[k][i]);
            }
        }
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < MR; i++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[k][i]), _mm256_extractf128_ps(acc[k][i], 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            out[k][i] = _mm_cvtss_f32(s);
        }
}

typedef struct { const sentio_xq *xq; long nb; } q41_avx2_ctx;

AVX2_TARGET static void q41_avx2_tiles(const void *ctx, const uint8_t *const wr[4], long i0, int mr, const uint8_t *next,
                                       float out[4][4]) {
    const q41_avx2_ctx *c = ctx;
    if (mr == 1) q41_avx2_tile(wr, c->nb, c->xq, i0, 1, next, out); else q41_avx2_tile(wr, c->nb, c->xq, i0, 2, next, out);
}

static void q41_avx2(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y,
                     long ldy, const float *bias) {
    const q41_avx2_ctx ctx = { xq, xq->cols / 32 };
    q41_drive(w, rowBytes, r0, r1, xq->n, y, ldy, bias, 2, q41_avx2_tiles, &ctx);
}
#endif

void sk_qgemm_q41(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                  const float *bias) {
#if defined(__x86_64__)
    const int isa = sentio_isa_level();
    if (isa >= 3) {
        if (xq->n > SK_QGEMV_MAX_N && xq->n <= sk_qgemvn_max() && sk_qgemvn_vnni(SENTIO_Q4_1, w, rowBytes, r0, r1, xq, y, ldy, bias))
            return;
        if (xq->n > SK_QGEMV_MAX_N && q41_vnni512(w, rowBytes, r0, r1, xq, y, ldy, bias)) return;
        q41_vnni(w, rowBytes, r0, r1, xq, y, ldy, bias);
        return;
    }
    if (isa >= 1) { q41_avx2(w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
#endif
    sk_q41_scalar(w, rowBytes, r0, r1, xq, y, ldy, bias);
}

void sk_dequant_q41_row(const uint8_t *src, long cols, float *o) {
#pragma STDC FP_CONTRACT OFF   /* d*q + m rounded twice, as BlockQ4_1.dequantizeRef */
    for (long b = 0; b < cols / 32; b++) {
        const uint8_t *blk = src + b * Q41_BS;
        uint16_t hd, hm; memcpy(&hd, blk, 2); memcpy(&hm, blk + 2, 2);
        const float d = sk_f16_to_f32(hd), m = sk_f16_to_f32(hm);
        for (int j = 0; j < 16; j++) {
            o[b * 32 + j] = d * (float)(blk[4 + j] & 15) + m;
            o[b * 32 + j + 16] = d * (float)(blk[4 + j] >> 4) + m;
        }
    }
}
