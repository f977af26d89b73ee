/* q5 (ggml's Q5_0: 5-bit) weights x Q8_0 activations: decode GEMV and prefill GEMM, scalar / AVX2 / AVX-512 VNNI.

   Block (22 bytes, BlockQ5_0 in SentioCore): f16 scale d, 32 high bits qh (little-endian u32, bit j = bit 4 of
   weight j), 16 bytes of low nibbles (byte j: weight j low, weight j+16 high); w = d * (q - 16), q in 0..31.
   Activations: Q8_0 blocks x ~= dx * qx; at ISA >= 1 the activation side carries corr = 16 * sum(qx) per block
   (sk_qgemm_corr), so the integer kernels take the weights unsigned (q straight into vpdpbusd's / maddubs' u8
   operand) and subtract corr exactly: sum (q - 16) qx = sum q qx - corr. The scalar twin (sk_qgemm_scalar) computes
   the signed dot itself and never reads corr.

   VNNI, n <= 4 (decode): qgemv_x86.c's four-block GEMV (sk_qgemv_vnni_x4, shared with Q4_0): four blocks (88 bytes)
   per step and weight row; one word permute packs their 64 nibble bytes into one zmm, AND / shift+AND give the low
   (k = 0..15) and high (k = 16..31) nibble vectors, and a second word permute picks the scales and the four qh words,
   which become two 64-bit masks (bit 16t + j = bit j / j + 16 of block t's qh) for one masked add of 16 each.
   VNNI, n = 5..16 (sk_qgemvn_max, batched decode): the row-lane GEMV of qgemv_x86.c (16 weight rows transposed in
   registers, high bits spread from a gathered qh by a 16-entry table), the rows left at a range's end on the decode
   GEMV; larger n: the packed 32-row x 6 tile GEMM of qgemm_512.c (sk_pack_group unpacks q5 to bytes 0..31).
   AVX2: per block the 32 values unpacked to bytes (high bits spread with a byte shuffle and bit test),
   maddubs + madd, 4 weight rows x 2 activation rows. */
#include "internal.h"
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define Q5_BS 22

static inline uint32_t q5_qh(const uint8_t *blk) { uint32_t h; memcpy(&h, blk + 2, 4); return h; }
void sk_dequant_q5_row(const uint8_t *src, long cols, float *o) {
    for (long b = 0; b < cols / 32; b++) {
        const uint8_t *blk = src + b * Q5_BS;
        uint16_t hd; memcpy(&hd, blk, 2);
        const float d = sk_f16_to_f32(hd);
        const uint32_t qh = q5_qh(blk);
        for (int j = 0; j < 16; j++) {
            o[b * 32 + j] = d * (float)((int)((blk[6 + j] & 15) | (((qh >> j) & 1) << 4)) - 16);
            o[b * 32 + j + 16] = d * (float)((int)((blk[6 + j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16);
        }
    }
}

#if defined(__x86_64__)
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline

/* ---------------- AVX2: any n, 4 weight rows x 2 activation rows ---------------- */
/* The block's 32 values as bytes 0..31 in activation order. */
INLINE AVX2_TARGET __m256i q5_unpack_avx2(const uint8_t *blk) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 6));
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
    /* byte j gets qh byte j / 8, then bit j % 8 tested */
    const __m256i qh = _mm256_set1_epi32((int)q5_qh(blk));
    const __m256i sel = _mm256_shuffle_epi8(qh, _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i on = _mm256_cmpeq_epi8(_mm256_and_si256(sel, bit), bit);
    return _mm256_or_si256(nib, _mm256_and_si256(on, _mm256_set1_epi8(16)));
}

INLINE AVX2_TARGET void q5_avx2_tile(const uint8_t *const wr[4], long nb, const sentio_xq *xq, long i0, const int M,
                                     const uint8_t *next, float out[4][2]) {
    const long cols = xq->cols;
    const uint8_t *pfc = next;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][2];
    for (int k = 0; k < 4; k++) for (int i = 0; i < M; i++) acc[k][i] = _mm256_setzero_ps();
    for (long b = 0; b < nb; b++) {
        __m256i W[4]; __m256 D[4];
        if (next) sk_prefetch_upto(&pfc, next + (b + 1) * 4 * Q5_BS);
        for (int k = 0; k < 4; k++) {
            const uint8_t *blk = wr[k] + b * Q5_BS;
            uint16_t h; memcpy(&h, blk, 2);
            D[k] = _mm256_cvtph_ps(_mm_set1_epi16((short)h));
            W[k] = q5_unpack_avx2(blk);
        }
        for (int i = 0; i < M; i++) {
            const long xi = i0 + i;
            const __m256i X = _mm256_loadu_si256((const __m256i *)(xq->qs + xi * cols + b * 32));
            /* corr = 16 * sum(qx) spread over 8 lanes: 2 * sum(qx) each (exact) */
            const __m256i C = _mm256_set1_epi32(-(xq->corr[xi * nb + b] / 8));
            const __m256 DX = _mm256_set1_ps(xq->d[xi * nb + b]);
            for (int k = 0; k < 4; k++) {
                /* 31 * 127 * 2 < 32767: no int16 saturation in maddubs */
                const __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(W[k], X), ones), C);
                acc[k][i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(D[k], DX), acc[k][i]);
            }
        }
    }
    for (int k = 0; k < 4; k++)
        for (int i = 0; i < M; i++) {
            __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[k][i]), _mm256_extractf128_ps(acc[k][i], 1));
            s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            s = _mm_add_ss(s, _mm_movehdup_ps(s));
            out[k][i] = _mm_cvtss_f32(s);
        }
}

AVX2_TARGET static void q5_avx2(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y,
                                long ldy, const float *bias) {
    const long nb = xq->cols / 32, n = xq->n;
    for (long r = r0; r < r1; r += 4) {
        const uint8_t *wr[4];
        for (int k = 0; k < 4; k++) wr[k] = (const uint8_t *)w + (size_t)(r + k < r1 ? r + k : r1 - 1) * rowBytes;
        const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
        const uint8_t *next = sk_next_tile(w, rowBytes, r);
        for (long i = 0; i < n; i += 2) {
            float out[4][2];
            const int mr = n - i < 2 ? 1 : 2;
            const uint8_t *pf = i == 0 ? next : NULL;
            if (mr == 1) q5_avx2_tile(wr, nb, xq, i, 1, pf, out); else q5_avx2_tile(wr, nb, xq, i, 2, pf, out);
            for (int a = 0; a < mr; a++)
                for (int k = 0; k < nr; k++) y[(i + a) * ldy + r + k] = out[k][a] + (bias ? bias[r + k] : 0.0f);
        }
    }
}
#endif

void sk_qgemm_q5(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                 const float *bias) {
#if defined(__x86_64__)
    const int isa = sentio_isa_level();
    if (isa >= 3) {
        if (xq->n <= SK_QGEMV_MAX_N) { sk_qgemv_vnni_x4(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
        if (xq->n <= sk_qgemvn_max()) {
            /* batched decode: whole 16-row groups on the row-lane GEMV, the rest (< 16 rows at a range's end) on the
               decode GEMV, 4 activation rows at a time */
            const long r = sk_qgemvn_rowlane_on() ? sk_qgemvn_rowlane_run(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias) : r0;
            const long nb = xq->cols / 32;
            for (long i = 0; r < r1 && i < xq->n; i += SK_QGEMV_MAX_N) {
                sentio_xq part = { xq->qs + i * xq->cols, xq->d + i * nb, xq->corr + i * nb,
                                   xq->n - i < SK_QGEMV_MAX_N ? xq->n - i : SK_QGEMV_MAX_N, xq->cols };
                sk_qgemv_vnni_x4(SENTIO_Q5, w, rowBytes, r, r1, &part, y + i * ldy, ldy, bias);
            }
            return;
        }
        if (sk_qgemm_vnni512(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias)) return;
    }
    if (isa >= 1) { q5_avx2(w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
#endif
    sk_qgemm_scalar(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias);
}
