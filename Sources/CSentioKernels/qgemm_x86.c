/* Integer dot kernels for x86: AVX2 (maddubs) and AVX-512 VNNI (vpdpbusd on 256-bit vectors; Zen 4
   runs two per cycle, the same MAC rate as one 512-bit op, and one Q8_0 block fills one ymm).
   Micro-tile: 4 weight rows x up to 4 activation rows. Per block the 4x4 int32 dot vectors are
   folded with two hadds into one vector [r0..r3 | r0..r3] (low/high half partials), so the float
   work (convert, scale, accumulate) is one op per activation row and block, not one per pair.
   Weight zero points: q8 weights enter vpdpbusd as w+128 (unsigned), q4 nibbles as they are (0..15);
   the activation side carries corr = c*sum(q) per block, subtracted exactly in integers. */
#include "internal.h"
#if defined(__x86_64__)
#include <immintrin.h>

#define TILE_X 32          /* activation rows per panel (kept in L2 while a weight chunk streams) */

#define DEFINE_QGEMM(NAME, TARGET, LOADW, DOT)                                                        \
TARGET static inline void NAME##_tile(int wtype, const uint8_t *const wr[4], long bs, long nb,         \
        const sentio_xq *xq, long i0, int mr, float out[4][4]) {                                        \
    const long cols = xq->cols;                                                                         \
    __m256 acc[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() }; \
    for (long b = 0; b < nb; b++) {                                                                     \
        __m256i W[4], WA[4];                                                                            \
        for (int k = 0; k < 4; k++) LOADW(wtype, wr[k] + b * bs, W[k], WA[k]);                          \
        uint16_t h0, h1, h2, h3;                                                                        \
        memcpy(&h0, wr[0] + b * bs, 2); memcpy(&h1, wr[1] + b * bs, 2);                                 \
        memcpy(&h2, wr[2] + b * bs, 2); memcpy(&h3, wr[3] + b * bs, 2);                                 \
        __m128 dw4 = _mm_cvtph_ps(_mm_setr_epi16((short)h0, (short)h1, (short)h2, (short)h3, 0, 0, 0, 0)); \
        __m256 dw = _mm256_set_m128(dw4, dw4);                                                          \
        for (int i = 0; i < mr; i++) {                                                                  \
            const long xi = (i0 + i);                                                                   \
            __m256i X = _mm256_loadu_si256((const __m256i *)(xq->qs + xi * cols + b * 32));             \
            __m256i P0 = DOT(W[0], WA[0], X), P1 = DOT(W[1], WA[1], X);                                 \
            __m256i P2 = DOT(W[2], WA[2], X), P3 = DOT(W[3], WA[3], X);                                 \
            __m256i H = _mm256_hadd_epi32(_mm256_hadd_epi32(P0, P1), _mm256_hadd_epi32(P2, P3));        \
            __m256i C = _mm256_zextsi128_si256(_mm_set1_epi32(xq->corr[xi * nb + b]));                  \
            H = _mm256_sub_epi32(H, C);                                                                 \
            __m256 S = _mm256_mul_ps(dw, _mm256_set1_ps(xq->d[xi * nb + b]));                           \
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(H), S, acc[i]);                                 \
        }                                                                                               \
    }                                                                                                   \
    for (int i = 0; i < mr; i++) {                                                                      \
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[i]), _mm256_extractf128_ps(acc[i], 1));        \
        _mm_storeu_ps(out[i], s);                                                                       \
    }                                                                                                   \
}                                                                                                       \
TARGET void NAME(int wtype, const void *w, size_t rowBytes, long r0, long r1,                            \
                 const sentio_xq *xq, float *y, long ldy, const float *bias) {                          \
    const long nb = xq->cols / 32, bs = wtype == SENTIO_Q8 ? 34 : 18, n = xq->n;                        \
    for (long ip = 0; ip < n; ip += TILE_X) {                                                           \
        long ie = ip + TILE_X < n ? ip + TILE_X : n;                                                    \
        for (long r = r0; r < r1; r += 4) {                                                             \
            const uint8_t *wr[4];                                                                       \
            for (int k = 0; k < 4; k++) {                                                               \
                long rr = r + k < r1 ? r + k : r1 - 1;                                                  \
                wr[k] = (const uint8_t *)w + (size_t)rr * rowBytes;                                     \
            }                                                                                           \
            int nr = r1 - r < 4 ? (int)(r1 - r) : 4;                                                    \
            for (long i = ip; i < ie; i += 4) {                                                         \
                float out[4][4];                                                                        \
                int mr = ie - i < 4 ? (int)(ie - i) : 4;                                                \
                switch (mr) {                                                                           \
                case 4: NAME##_tile(wtype, wr, bs, nb, xq, i, 4, out); break;                           \
                case 3: NAME##_tile(wtype, wr, bs, nb, xq, i, 3, out); break;                           \
                case 2: NAME##_tile(wtype, wr, bs, nb, xq, i, 2, out); break;                           \
                default: NAME##_tile(wtype, wr, bs, nb, xq, i, 1, out); break;                          \
                }                                                                                       \
                for (int a = 0; a < mr; a++)                                                            \
                    for (int k = 0; k < nr; k++)                                                        \
                        y[(i + a) * ldy + r + k] = out[a][k] + (bias ? bias[r + k] : 0.0f);             \
            }                                                                                           \
        }                                                                                               \
    }                                                                                                   \
}

/* q4 block -> 32 unsigned nibbles in activation order: the 16 bytes broadcast to both halves, the
   high half shifted right by 4 (32-bit lanes: each byte's low nibble then holds the byte's high
   nibble), masked to 4 bits. 3 ops instead of 5 for load / and / shift / and / insert. */
#define Q4_UNPACK(blk) _mm256_and_si256(_mm256_srlv_epi32(                                             \
        _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)((blk) + 2))),                     \
        _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)), _mm256_set1_epi8(15))

/* ---- AVX2: q4 = maddubs(nibbles, x) (|15*127*2| fits int16); q8 = maddubs(|w|, sign(x, w)) ---- */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define LOADW_AVX2(wtype, blk, Wv, WAv) do {                                                            \
    if ((wtype) == SENTIO_Q8) {                                                                         \
        Wv = _mm256_loadu_si256((const __m256i *)((blk) + 2));                                          \
        WAv = _mm256_sign_epi8(Wv, Wv);                                                                 \
    } else {                                                                                            \
        WAv = Q4_UNPACK(blk);                                                                           \
        Wv = _mm256_set1_epi8(1);   /* sign source: all positive */                                     \
    }                                                                                                   \
} while (0)
#define DOT_AVX2(Wv, WAv, X) _mm256_madd_epi16(_mm256_maddubs_epi16(WAv, _mm256_sign_epi8(X, Wv)), _mm256_set1_epi16(1))
DEFINE_QGEMM(sk_qgemm_avx2, AVX2_TARGET, LOADW_AVX2, DOT_AVX2)

/* ---- AVX-512 VNNI (256-bit): q8 as w ^ 0x80 = w + 128, q4 nibbles ---- */
#define VNNI_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define LOADW_VNNI(wtype, blk, Wv, WAv) do {                                                            \
    if ((wtype) == SENTIO_Q8) {                                                                         \
        WAv = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)((blk) + 2)), _mm256_set1_epi8((char)0x80)); \
    } else {                                                                                            \
        WAv = Q4_UNPACK(blk);                                                                           \
    }                                                                                                   \
    Wv = WAv;                                                                                           \
} while (0)
#define DOT_VNNI(Wv, WAv, X) _mm256_dpbusd_epi32(_mm256_setzero_si256(), WAv, X)
DEFINE_QGEMM(sk_qgemm_vnni, VNNI_TARGET, LOADW_VNNI, DOT_VNNI)

#else
void sk_qgemm_avx2(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias) {
    sk_qgemm_scalar(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
}
void sk_qgemm_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias) {
    sk_qgemm_scalar(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
}
#endif

void sentio_qgemm(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                  const sentio_xq *xq, float *y, long ldy, const float *bias) {
    if (wtype == SENTIO_Q4_1) { sk_qgemm_q41(w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
    if (wtype == SENTIO_Q5) { sk_qgemm_q5(w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
    int isa = sentio_isa_level();
    if (xq->n <= SK_QGEMV_MAX_N && isa >= 1) {
        if (isa >= 3) sk_qgemv_vnni(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
        else sk_qgemv_avx2(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
        return;
    }
    if (isa >= 3 && xq->n <= sk_qgemvn_max() && sk_qgemvn_vnni(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias)) return;
    if (isa >= 3) {
        if (!sk_qgemm_vnni512(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias))
            sk_qgemm_vnni(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
    } else if (isa >= 1) sk_qgemm_avx2(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
    else sk_qgemm_scalar(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
}

long sentio_qgemm_row_align(int wtype, long n) {
    (void)wtype;
    if (n <= SK_QGEMV_MAX_N) return 4;
    if (sentio_isa_level() >= 3 && n <= sk_qgemvn_max()) return sk_qgemvn_rowlane_on() ? 16 : 4;
    return 32;
}
