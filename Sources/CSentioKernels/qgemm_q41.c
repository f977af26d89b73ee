/* q4_1 (affine 4-bit) weights x Q8_0 activations: decode GEMV and prefill GEMM, scalar / AVX2 / AVX-512 VNNI.

   Block (20 bytes, BlockQ4_1 in SentioCore): f16 step d, f16 offset m, 16 bytes of nibbles (byte j: weight
   j low, weight j+16 high); w = d*q + m with q in 0..15. Activations: Q8_0 blocks x ~= dx*qx, and the
   activation side carries corr = sum(qx) per block (sk_qgemm_corr gives c = 1 for q4_1). Per block

       sum_j w_j x_j ~= d*dx * sum_j q_j qx_j  +  m*dx * sum_j qx_j

   The integer dot takes the nibbles as they are (unsigned, straight into vpdpbusd's u8 operand or
   maddubs' unsigned operand; no zero point), the offset term needs only the activation block sums.

   VNNI, n <= 4 (decode): qgemv_x86.c's four-block GEMV (sk_qgemv_vnni_x4, shared with Q4_0 and Q5_0; the offset
   term is one more FMA per 4 blocks with d_x * sum(q_x) laid out per lane). n = 5..16 (sk_qgemvn_max): the
   batched-decode GEMVs of qgemv_x86.c (sk_qgemvn_vnni: weights read in place, no pack buffer); larger n: a packed
   32-row x 6-activation GEMM (below). AVX2: 4 weight rows x up to 2 activation rows per tile, over panels of
   activation rows (q41_avx2). */
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

/* Panels of Q41_PANEL activation rows; in each, 4 weight rows at a time (the last rows repeated to fill the tile, only
   nr stored) against tiles of up to 2 activation rows; the first tile of a panel prefetches the next 4-row tile in
   address order (short rows, sk_seq_prefetch; else per-row prefetch). */
AVX2_TARGET static void q41_avx2(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y,
                                 long ldy, const float *bias) {
    const long n = xq->n, nb = xq->cols / 32;
    for (long ip = 0; ip < n; ip += Q41_PANEL) {
        const long ie = ip + Q41_PANEL < n ? ip + Q41_PANEL : n;
        for (long r = r0; r < r1; r += 4) {
            const uint8_t *wr[4];
            for (int k = 0; k < 4; k++) wr[k] = (const uint8_t *)w + (size_t)(r + k < r1 ? r + k : r1 - 1) * rowBytes;
            const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
            const uint8_t *next = sk_next_tile(w, rowBytes, r);
            for (long i = ip; i < ie; i += 2) {
                float out[4][4];
                const int mr = ie - i < 2 ? 1 : 2;
                const uint8_t *pf = i == ip ? next : NULL;
                if (mr == 1) q41_avx2_tile(wr, nb, xq, i, 1, pf, out); else q41_avx2_tile(wr, nb, xq, i, 2, pf, out);
                for (int a = 0; a < mr; a++)
                    for (int k = 0; k < nr; k++) y[(i + a) * ldy + r + k] = out[k][a] + (bias ? bias[r + k] : 0.0f);
            }
        }
    }
}
#endif

void sk_qgemm_q41(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                  const float *bias) {
#if defined(__x86_64__)
    const int isa = sentio_isa_level();
    if (isa >= 3) {
        if (xq->n <= SK_QGEMV_MAX_N) { sk_qgemv_vnni_x4(SENTIO_Q4_1, w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
        if (xq->n <= sk_qgemvn_max() && sk_qgemvn_vnni(SENTIO_Q4_1, w, rowBytes, r0, r1, xq, y, ldy, bias)) return;
        if (q41_vnni512(w, rowBytes, r0, r1, xq, y, ldy, bias)) return;
        /* (no pack buffer: the AVX2 tiles below) */
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
