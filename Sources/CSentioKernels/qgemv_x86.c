/* Decode GEMV for q8 / q4 weights and small n (1..SENTIO_QGEMV_MAX_N activation rows), x86.
   Decode reads every weight byte once per token, so these kernels are built to keep the load ports
   busy and nothing else in the way:
   - AVX-512 VNNI, Q8_0: two weight blocks per zmm (one vpdpbusd per pair of blocks and activation row);
     the per-block scales enter as a vector [dw_b*dx_b x8 | dw_b+1*dx_b+1 x8] so the integer partial
     sums of the 16 lanes are converted and scaled without any horizontal add inside the block loop;
     one reduction per output at the end. The weight zero-point correction (-corr/8 per lane, exact:
     corr is 128*sum(q) or 8*sum(q)) is the vpdpbusd accumulator's initial value.
   - AVX-512 VNNI, Q4_0: four blocks per step (sk_qgemv_vnni_q4x4, below).
   - AVX2: the same per block in ymm (maddubs + madd), 4 weight rows x up to 2 activation rows.
   Tiles: 4 weight rows (4 independent streams, latency hidden by the interleave) x up to 4
   activation rows; more activation rows revisit the same 4 rows from L1. Activation side per pair of
   blocks (scale vector, correction vector) is prepared once per call. Short rows: the next tile is
   prefetched in address order (sk_seq_prefetch). */
#include "internal.h"
#include <stdlib.h>

static long g_gemvn_max = SK_QGEMVN_DEFAULT_N;
void sentio_qgemm_set_batch_gemv_max(long n) {
    g_gemvn_max = n < 0 ? SK_QGEMVN_DEFAULT_N : n > SK_QGEMVN_MAX_N ? SK_QGEMVN_MAX_N : n;
}
long sk_qgemvn_max(void) { return g_gemvn_max; }
static int sk_qgemvn_rowlane = 1;
void sentio_qgemm_set_batch_gemv_rowlane(int on) { sk_qgemvn_rowlane = on != 0; }
int sk_qgemvn_rowlane_on(void) { return sk_qgemvn_rowlane; }

#if defined(__x86_64__)
#include <immintrin.h>

/* Prefetch distance in bytes ahead of each weight row stream (measured: see KernelBench gemv). */
#ifndef SK_PF_DIST
#define SK_PF_DIST 3072
#endif
#ifndef SK_PF_HINT
#define SK_PF_HINT _MM_HINT_T0
#endif
/* The Q8_0 VNNI GEMV's prefetch. Tiles of up to SK_SEQ_PF_TILE bytes (896-wide rows): the next tile in address
   order into L1, as the other kernels. Tiles of up to SK_SEQ_L2_TILE (Qwen2's ffn_down, 4 x 5168 bytes): the next
   tile in address order into L2 (internal.h). Longer rows: each of the 4 row streams SK_PF_L2_DIST bytes ahead into
   L2. Measured on the Zen 4 machine (KernelBench decode q8, per matrix kind,
   alternating builds; docs/BENCHMARKS.md, eleventh session): ffn_down with 3072 bytes per row into L1 (before)
   12.4 GB/s at 1 thread, 22.5-22.9 at 2; per row 16384 into L2 16.1-16.8 / 25.1-28.7; the next tile into L2
   23.4-27.8 / 29.8-31.4. Short tiles into L2 (1, 2 or 4 tiles ahead) were no better at 2 threads. */
#ifndef SK_PF_L2_DIST
#define SK_PF_L2_DIST 16384
#endif

#define VNNI_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE __attribute__((always_inline)) static inline

/* ---------------- AVX-512 VNNI ---------------- */


/* Activation side for pair p of row i: nc[(i*np+p)*16 + l] = -corr/8 of block 2p (l<8) or 2p+1 (l>=8),
   dx[...] the f32 scales likewise; a missing last block (odd nb) gets 0 in both. */
static void prep_pairs(const sentio_xq *xq, long np, int32_t *nc, float *dx) {
    long nb = xq->cols / 32;
    for (long i = 0; i < xq->n; i++)
        for (long p = 0; p < np; p++)
            for (int h = 0; h < 2; h++) {
                long b = 2 * p + h;
                int32_t c = b < nb ? -(xq->corr[i * nb + b] / 8) : 0;
                float d = b < nb ? xq->d[i * nb + b] : 0.0f;
                for (int l = 0; l < 8; l++) { nc[(i * np + p) * 16 + h * 8 + l] = c; dx[(i * np + p) * 16 + h * 8 + l] = d; }
            }
}

/* One pair of weight blocks of one row -> W (unsigned bytes as vpdpbusd wants them) and the 16 scale
   lanes D = [dw_b x8 | dw_b+1 x8]. */
INLINE VNNI_TARGET void load_pair_q8(const uint8_t *blk, __m512i *W, __m512 *D) {
    /* bytes: [s0][q0 x32][s1][q1 x32]; load at +2 has q0 in its low half, load at +4 has q1 in its high half */
    __m512i a = _mm512_loadu_si512((const void *)(blk + 2)), b = _mm512_loadu_si512((const void *)(blk + 4));
    *W = _mm512_xor_si512(_mm512_mask_blend_epi64(0xF0, a, b), _mm512_set1_epi8((char)0x80));
    const __m512i sidx = _mm512_setr_epi32(0, 0, 0, 0, 0x00110011, 0x00110011, 0x00110011, 0x00110011, 0, 0, 0, 0, 0, 0, 0, 0);
    __m512i s = _mm512_permutexvar_epi16(sidx, _mm512_loadu_si512((const void *)blk));   /* words 0 and 17 */
    *D = _mm512_cvtph_ps(_mm512_castsi512_si256(s));
}
/* The single last block (odd nb): upper half zero. */
INLINE VNNI_TARGET void load_tail_q8(const uint8_t *blk, __m512i *W, __m512 *D) {
    uint16_t h; memcpy(&h, blk, 2);
    *D = _mm512_cvtph_ps(_mm256_zextsi128_si256(_mm_set1_epi16((short)h)));
    *W = _mm512_zextsi256_si512(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), _mm256_set1_epi8((char)0x80)));
}

/* Q8_0 weights (Q4_0 runs the four-block kernel below). */
INLINE VNNI_TARGET void vnni_tile(const uint8_t *const wr[4], long nb, long np, const sentio_xq *xq,
                                  const int32_t *nc, const float *dx, long i0, const int M, const uint8_t *next,
                                  const int l2, float out[4][4]) {
    const long bs = 34, cols = xq->cols;
    const uint8_t *pfc = next;   /* sequential prefetch cursor over the next tile (NULL: per-row prefetch) */
    __m512 acc[4][4];
    for (int k = 0; k < 4; k++) for (int i = 0; i < M; i++) acc[k][i] = _mm512_setzero_ps();
    const long full = nb / 2;
    for (long p = 0; p <= full; p++) {
        __m512i W[4]; __m512 D[4];
        if (p < full) {
            if (next) sk_prefetch_tile_upto(&pfc, next + (p + 1) * 8 * bs, l2);
            for (int k = 0; k < 4; k++) {
                const uint8_t *blk = wr[k] + p * 2 * bs;
                if (!next) { if (SK_PF_L2_DIST) _mm_prefetch((const char *)blk + SK_PF_L2_DIST, _MM_HINT_T1); }
                load_pair_q8(blk, &W[k], &D[k]);
            }
        } else {
            if (!(nb & 1)) break;
            for (int k = 0; k < 4; k++) load_tail_q8(wr[k] + p * 2 * bs, &W[k], &D[k]);
        }
        for (int i = 0; i < M; i++) {
            const long xi = i0 + i;
            __m512i X = p < full ? _mm512_loadu_si512((const void *)(xq->qs + xi * cols + p * 64))
                                 : _mm512_maskz_loadu_epi8(0xFFFFFFFFull, xq->qs + xi * cols + p * 64);
            __m512i C = _mm512_loadu_si512((const void *)(nc + (xi * np + p) * 16));
            __m512 DX = _mm512_loadu_ps(dx + (xi * np + p) * 16);
            for (int k = 0; k < 4; k++) {
                __m512i dot = _mm512_dpbusd_epi32(C, W[k], X);
                acc[k][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(D[k], DX), acc[k][i]);
            }
        }
    }
    for (int k = 0; k < 4; k++) for (int i = 0; i < M; i++) out[k][i] = _mm512_reduce_add_ps(acc[k][i]);
}

/* ---------------- Q4_0, n <= 4: four blocks per step ----------------
   The pair kernel above spends 7 ops per row to unpack a pair of Q4_0 blocks (two broadcasts, blend, shift,
   and, scale permute, convert) and 4 per activation row and pair, twice the work per weight byte of Q8_0,
   so q4 decode was compute-bound below the memory stream. Here one step takes 4 blocks (72 bytes) per row:
   a word permute (vpermt2w, the blocks' nibble bytes are word aligned) packs their 64 nibble bytes into one
   zmm, AND / shift+AND give the low nibbles (k = 0..15 of each block) and the high ones (k = 16..31), one
   word permute + convert the 4 scales, each in the 4 dword lanes of its block. Per activation row: two
   vpdpbusd (started at -corr/4 in each of the block's 4 lanes: corr = 8 * sum(q_x), so exact), one convert,
   one multiply, one FMA. The activation side (low/high halves, C, d_x per lane) is laid out once per call.
   Per 4 blocks and row: 8 ops instead of 14, per activation row 5 instead of 8. A last group of fewer
   than 4 blocks loads with masks (zeros, and zero activations and scales in the missing lanes). */
#define Q4X4_SLOT 256   /* bytes per (activation row, group): X_lo, X_hi, C (Q4_1: SX), DX */

/* Q4_1 (affine: w = d*q + m, q in 0..15, no zero point) runs the same kernel: C is 0 and the slot's third vector
   holds SX = d_x * sum(q_x) / 4 per lane (corr = sum(q_x) for q4_1), so the offset term is one more FMA with the
   4 blocks' m per lane (the 4 lanes of a block sum to m * d_x * sum(q_x)). Before, q4_1 ran a pair-of-blocks kernel
   with its offsets gathered 16 blocks at a time (KernelBench gemv q4_1 1T ~15-17 GB/s, compute-bound). */
VNNI_TARGET static void q4x4_prep(int wt, const sentio_xq *xq, long ng, uint8_t *buf) {
    const long nb = xq->cols / 32, cols = xq->cols;
    memset(buf, 0, (size_t)(xq->n * ng) * Q4X4_SLOT);
    for (long i = 0; i < xq->n; i++)
        for (long b = 0; b < nb; b++) {
            uint8_t *s = buf + (size_t)(i * ng + b / 4) * Q4X4_SLOT;
            const long t = b % 4;
            memcpy(s + 16 * t, xq->qs + i * cols + b * 32, 16);
            memcpy(s + 64 + 16 * t, xq->qs + i * cols + b * 32 + 16, 16);
            const float d = xq->d[i * nb + b];
            /* the third vector's lane: C = -corr / 4 (int32), or for q4_1 SX = d_x * corr / 4 (f32) */
            const int32_t c = -(xq->corr[i * nb + b] / 4);
            const float sx = d * (float)xq->corr[i * nb + b] * 0.25f;
            const void *third = wt == SENTIO_Q4_1 ? (const void *)&sx : (const void *)&c;
            for (int l = 0; l < 4; l++) {
                memcpy(s + 128 + 4 * (4 * t + l), third, 4);
                memcpy(s + 192 + 4 * (4 * t + l), &d, 4);
            }
        }
}

/* A group of cnt <= 4 blocks (bytes <= 128) as two zmm, a (bytes 0..63) and b (64..), nothing read past the group. */
INLINE VNNI_TARGET void x4_group(const uint8_t *g, long bytes, __m512i *a, __m512i *b) {
    *a = bytes >= 64 ? _mm512_loadu_si512((const void *)g) : _mm512_maskz_loadu_epi8((__mmask64)((1ull << bytes) - 1), g);
    *b = bytes > 64 ? _mm512_maskz_loadu_epi8((__mmask64)((1ull << (bytes - 64)) - 1), g + 64) : _mm512_setzero_si512();
}

INLINE VNNI_TARGET void q4x4_load(const uint8_t *g, long cnt, __m512i *lo, __m512i *hi, __m512 *D) {
    __m512i a, b;
    x4_group(g, cnt * 18, &a, &b);
    /* word p of the packed nibbles: block p / 8, word p % 8 of its 16 nibble bytes = source word 9 (p / 8) + 1 + p % 8 */
    const __m512i widx = _mm512_set_epi16(35, 34, 33, 32, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19,
                                          17, 16, 15, 14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i v = _mm512_permutex2var_epi16(a, widx, b), m4 = _mm512_set1_epi8(15);
    *lo = _mm512_and_si512(v, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    /* the 4 scales (words 0, 9, 18, 27), each in 4 consecutive words of the low half; cvtph_ps makes word p
       f32 lane p, so scale t lands in lanes 4t..4t+3, the dword lanes of block t's dots */
    const __m512i sidx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                          27, 27, 27, 27, 18, 18, 18, 18, 9, 9, 9, 9, 0, 0, 0, 0);
    *D = _mm512_cvtph_ps(_mm512_castsi512_si256(_mm512_permutexvar_epi16(sidx, a)));
}

/* Q4_1 (20-byte blocks: d, m, 16 nibble bytes), four blocks per step as Q4_0; M: the 4 offsets, 4 lanes each. */
INLINE VNNI_TARGET void q41x4_load(const uint8_t *g, long cnt, __m512i *lo, __m512i *hi, __m512 *D, __m512 *M) {
    __m512i a, b;
    x4_group(g, cnt * 20, &a, &b);
    /* packed word p: block p / 8, word p % 8 of its nibble bytes = source word 10 (p / 8) + 2 + p % 8 */
    const __m512i widx = _mm512_set_epi16(39, 38, 37, 36, 35, 34, 33, 32, 29, 28, 27, 26, 25, 24, 23, 22,
                                          19, 18, 17, 16, 15, 14, 13, 12, 9, 8, 7, 6, 5, 4, 3, 2);
    const __m512i v = _mm512_permutex2var_epi16(a, widx, b), m4 = _mm512_set1_epi8(15);
    *lo = _mm512_and_si512(v, m4);
    *hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    /* words 0..15: the steps (words 0, 10, 20, 30) 4 times each; words 16..31: the offsets (1, 11, 21, 31) */
    const __m512i sidx = _mm512_set_epi16(31, 31, 31, 31, 21, 21, 21, 21, 11, 11, 11, 11, 1, 1, 1, 1,
                                          30, 30, 30, 30, 20, 20, 20, 20, 10, 10, 10, 10, 0, 0, 0, 0);
    const __m512i sv = _mm512_permutexvar_epi16(sidx, a);
    *D = _mm512_cvtph_ps(_mm512_castsi512_si256(sv));
    *M = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(sv, 1));
}

/* Q5_0 (22-byte blocks: d, 32 high bits qh, 16 nibble bytes), four blocks per step as above: the nibbles packed by the
   same word permute, the high bits added to the 16 nibble lanes they belong to with a masked add. */
INLINE VNNI_TARGET void q5x4_load(const uint8_t *g, long cnt, __m512i *lo, __m512i *hi, __m512 *D) {
    __m512i a, b;
    x4_group(g, cnt * 22, &a, &b);
    /* packed word p: block p / 8, word p % 8 of its nibble bytes = source word 11 (p / 8) + 3 + p % 8 */
    const __m512i widx = _mm512_set_epi16(43, 42, 41, 40, 39, 38, 37, 36, 32, 31, 30, 29, 28, 27, 26, 25,
                                          21, 20, 19, 18, 17, 16, 15, 14, 10, 9, 8, 7, 6, 5, 4, 3);
    const __m512i v = _mm512_permutex2var_epi16(a, widx, b), m4 = _mm512_set1_epi8(15), s16 = _mm512_set1_epi8(16);
    /* one more word permute: words 0..15 the 4 scales (words 0, 11, 22, 33), each 4 times (converted: scale t in
       f32 lanes 4t..4t+3); words 16..19 the low and 20..23 the high halves of the 4 blocks' qh (words 11t + 1,
       11t + 2), i.e. 64-bit lane 2 = the high-bit mask of the low nibbles (bit 16t + j = weight j of block t),
       lane 3 that of the high nibbles */
    const __m512i sidx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 35, 24, 13, 2, 34, 23, 12, 1,
                                          33, 33, 33, 33, 22, 22, 22, 22, 11, 11, 11, 11, 0, 0, 0, 0);
    const __m512i sv = _mm512_permutex2var_epi16(a, sidx, b);
    const __m128i hm = _mm512_extracti32x4_epi32(sv, 2);
    const __mmask64 mlo = (__mmask64)_mm_cvtsi128_si64(hm), mhi = (__mmask64)_mm_extract_epi64(hm, 1);
    const __m512i l = _mm512_and_si512(v, m4), h = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    *lo = _mm512_mask_add_epi8(l, mlo, l, s16);
    *hi = _mm512_mask_add_epi8(h, mhi, h, s16);
    *D = _mm512_cvtph_ps(_mm512_castsi512_si256(sv));
}

/* wt: SENTIO_Q4 (18-byte blocks), SENTIO_Q5 (22) or SENTIO_Q4_1 (20), a constant in every inlined copy */
INLINE VNNI_TARGET void x4_tile(const int wt, const uint8_t *const wr[4], long nb, long ng, const uint8_t *xs, const int M,
                                const uint8_t *next, float out[4][4]) {
    const long gb = wt == SENTIO_Q5 ? 4 * 22 : wt == SENTIO_Q4_1 ? 4 * 20 : 4 * 18;   /* bytes per group of 4 blocks */
    __m512 acc[4][4];
    for (int k = 0; k < 4; k++) for (int i = 0; i < M; i++) acc[k][i] = _mm512_setzero_ps();
    const uint8_t *pfc = next;
    for (long g = 0; g < ng; g++) {
        const long cnt = nb - 4 * g < 4 ? nb - 4 * g : 4;
        if (next) sk_prefetch_upto_l2(&pfc, next + (g + 1) * 4 * gb);
        __m512i lo[4], hi[4]; __m512 D[4], MW[4];
        for (int k = 0; k < 4; k++) {
            if (wt == SENTIO_Q5) q5x4_load(wr[k] + g * gb, cnt, &lo[k], &hi[k], &D[k]);
            else if (wt == SENTIO_Q4_1) q41x4_load(wr[k] + g * gb, cnt, &lo[k], &hi[k], &D[k], &MW[k]);
            else q4x4_load(wr[k] + g * gb, cnt, &lo[k], &hi[k], &D[k]);
        }
        for (int i = 0; i < M; i++) {
            const uint8_t *s = xs + (size_t)(i * ng + g) * Q4X4_SLOT;
            const __m512i XL = _mm512_load_si512((const void *)s), XH = _mm512_load_si512((const void *)(s + 64));
            /* the third vector: C (q4, q5) or SX (q4_1, whose dots start at 0) */
            const __m512i C = wt == SENTIO_Q4_1 ? _mm512_setzero_si512() : _mm512_load_si512((const void *)(s + 128));
            const __m512 SX = wt == SENTIO_Q4_1 ? _mm512_load_ps((const float *)(s + 128)) : _mm512_setzero_ps();
            const __m512 DX = _mm512_load_ps((const float *)(s + 192));
            for (int k = 0; k < 4; k++) {
                const __m512i dot = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(C, lo[k], XL), hi[k], XH);
                acc[k][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(D[k], DX), acc[k][i]);
                if (wt == SENTIO_Q4_1) acc[k][i] = _mm512_fmadd_ps(MW[k], SX, acc[k][i]);
            }
        }
    }
    for (int k = 0; k < 4; k++) for (int i = 0; i < M; i++) out[k][i] = _mm512_reduce_add_ps(acc[k][i]);
}

/* x4_tile with the activation row count M = n (1..4) as a constant in each copy. */
INLINE VNNI_TARGET void x4_tile_n(const int wt, const uint8_t *const wr[4], long nb, long ng, const uint8_t *xs, long n,
                                  const uint8_t *next, float out[4][4]) {
    switch (n) {
    case 1: x4_tile(wt, wr, nb, ng, xs, 1, next, out); break;
    case 2: x4_tile(wt, wr, nb, ng, xs, 2, next, out); break;
    case 3: x4_tile(wt, wr, nb, ng, xs, 3, next, out); break;
    default: x4_tile(wt, wr, nb, ng, xs, 4, next, out); break;
    }
}

/* Prefetch distance of the four-block GEMV, in 4-row tiles: it prefetches (into L2) the tile SK_X4_PF_TILES ahead of
   the one it works on. Q4_0's 896-wide tiles are 2 KiB, too short for one tile ahead to cover DRAM latency at one
   thread. Measured (KernelBench decode, random Q4_0 sentio bench tg128; docs/BENCHMARKS.md, tenth session): 1 tile
   into L1 -> 4 tiles into L2: decode step 1T 15.1-16.1 -> 11.9-14.1 ms, tg128 1T 68.7 -> 83.6 t/s, 2T 99.6 -> 106.3;
   q5 unchanged; clamping the prefetch at the range end or prefetching the first tiles up front gained nothing. */
#ifndef SK_X4_PF_TILES   /* -Xcc -DSK_X4_PF_TILES=N for experiments */
#define SK_X4_PF_TILES 4
#endif
VNNI_TARGET void sk_qgemv_vnni_x4(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y,
                                  long ldy, const float *bias) {
    const long nb = xq->cols / 32, ng = (nb + 3) / 4, n = xq->n;
    uint8_t stack_xs[64 * Q4X4_SLOT] __attribute__((aligned(64)));
    const size_t need = (size_t)(n * ng) * Q4X4_SLOT;
    uint8_t *xs = need <= sizeof stack_xs ? stack_xs : aligned_alloc(64, need);
    if (!xs) { sk_qgemm_scalar(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
    q4x4_prep(wtype, xq, ng, xs);
    for (long r = r0; r < r1; r += 4) {
        const uint8_t *wr[4];
        for (int k = 0; k < 4; k++) wr[k] = (const uint8_t *)w + (size_t)(r + k < r1 ? r + k : r1 - 1) * rowBytes;
        const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
        const uint8_t *next = sk_tile_ahead(w, rowBytes, r, SK_X4_PF_TILES);
        float out[4][4];
        if (wtype == SENTIO_Q5) x4_tile_n(SENTIO_Q5, wr, nb, ng, xs, n, next, out);
        else if (wtype == SENTIO_Q4_1) x4_tile_n(SENTIO_Q4_1, wr, nb, ng, xs, n, next, out);
        else x4_tile_n(SENTIO_Q4, wr, nb, ng, xs, n, next, out);
        for (long a = 0; a < n; a++)
            for (int k = 0; k < nr; k++) y[a * ldy + r + k] = out[k][a] + (bias ? bias[r + k] : 0.0f);
    }
    if (xs != stack_xs) free(xs);
}

VNNI_TARGET void sk_qgemv_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                               const sentio_xq *xq, float *y, long ldy, const float *bias) {
    if (wtype == SENTIO_Q4 && xq->n <= 4) { sk_qgemv_vnni_x4(SENTIO_Q4, w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
    const long nb = xq->cols / 32, np = (nb + 1) / 2, n = xq->n;
    int32_t stack_nc[4 * 64 * 16]; float stack_dx[4 * 64 * 16];
    int32_t *nc = stack_nc; float *dx = stack_dx;
    int heap = n * np > 4 * 64;
    if (heap) {
        nc = aligned_alloc(64, (size_t)(n * np * 16) * 4);
        dx = aligned_alloc(64, (size_t)(n * np * 16) * 4);
    }
    prep_pairs(xq, np, nc, dx);
    for (long r = r0; r < r1; r += 4) {
        const uint8_t *wr[4];
        for (int k = 0; k < 4; k++) wr[k] = (const uint8_t *)w + (size_t)(r + k < r1 ? r + k : r1 - 1) * rowBytes;
        const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
        const uint8_t *next = sk_next_long_tile(w, rowBytes, r);
        const int l2 = sk_long_tile(rowBytes);
        for (long i = 0; i < n; i += 4) {
            float out[4][4];
            const int mr = n - i < 4 ? (int)(n - i) : 4;
            const uint8_t *pf = i == 0 ? next : NULL;
            switch (mr) {
            case 1: vnni_tile(wr, nb, np, xq, nc, dx, i, 1, pf, l2, out); break;
            case 2: vnni_tile(wr, nb, np, xq, nc, dx, i, 2, pf, l2, out); break;
            case 3: vnni_tile(wr, nb, np, xq, nc, dx, i, 3, pf, l2, out); break;
            default: vnni_tile(wr, nb, np, xq, nc, dx, i, 4, pf, l2, out); break;
            }
            for (int a = 0; a < mr; a++)
                for (int k = 0; k < nr; k++) y[(i + a) * ldy + r + k] = out[k][a] + (bias ? bias[r + k] : 0.0f);
        }
    }
    if (heap) { free(nc); free(dx); }
}

/* ---------------- AVX-512 VNNI activation-lane GEMV: 1..SK_QGEMVN_MAX_N activation rows ----------------
   (The batched-decode path runs whole 16-row weight groups on the row-lane kernel below, which measured
   faster; this one takes the fewer-than-16 rows left at the end of a matrix, and everything when the
   row-lane kernel is switched off for comparison.) The pair-of-blocks GEMV above spends, per weight block and activation row, one vpdpbusd and then a
   convert, a multiply and an FMA (its lanes are k positions, so each block's partial sums must be scaled
   separately for every activation row); at 8 rows that float work, not the weight stream, sets the
   time. The packed tile GEMM (qgemm_512.c) has cheap arithmetic but gathers and unpacks every weight
   row per call, which at n = 8 costs as much as the math. This kernel reads each weight block once,
   in place, and puts the activation rows in the lanes instead:
   - 8 activation rows per zmm, one qword lane each (two dword lanes g = 0, 1 per row). Per Q8_0 block,
     4 steps t; the activation vectors are packed once per call (xn_prep) to match the weight operand,
     which is read straight from the block with one broadcast load:
     q8: weight bytes 8t..8t+7 to every qword, ^ 0x80 (= w + 128, unsigned); activation lane pair of
       row i = its bytes 8t..8t+7.
     q4 / q4_1: nibble bytes 4t..4t+3 to every dword, & [0x0F.. | 0xF0..]: lane g = 0 gets the low
       nibbles (k = 4t..4t+3), lane g = 1 the high nibbles in place (16 * q, k = 16+4t..); activation lanes
       (i, 0) = bytes 4t.., (i, 1) = bytes 16+4t... Lane g = 1 thus sums 16 * (high-half dot), exactly;
       its scale lane carries d_x / 16 (exact), so no shift or extra add is needed.
   - Per block and weight row: 4 vpdpbusd give the block's integer dots of all 8 rows at once (lanes
     2i, 2i+1 hold parts of row i's dot), started at -corr (the zero-point term, lane 2i only); then one
     convert and one FMA with d_x * d_w (d_x per lane, d_w broadcast; the scalar twin's product, q4 lane
     g = 1 divided by 16). q4_1: plus one FMA of the offset m_w with d_x * sum(q_x) (lane 2i only).
   - Weight scales (and q4_1 offsets) of 16 blocks per row at a time: one dword gather, converted to f32.
   Rows: 4 weight rows per pass (4 streams, prefetched like the GEMV), 1 or 2 activation vectors
   (n <= 8 / n <= 16; lanes of missing rows hold zeros). One horizontal pair sum per output at the end. */

#define XN_SLOT (7 * 64)    /* bytes per (block, activation vector): 4 step vectors, C, DX, SX */

static _Thread_local uint8_t *tl_xn;
static _Thread_local size_t tl_xn_cap;

/* Activation side for V vectors of 8 rows: slot (b*V + v) = 4 step vectors X_t (qword i: activation row 8v+i;
   q8: bytes 8t..8t+7 of block b; q4 / q4_1: dword 0 = bytes 4t..4t+3, dword 1 = bytes 16+4t..), then
   C (int32 lane 2i: -corr, 0 for q4_1), DX (f32 lanes 2i, 2i+1: d_x; q4 / q4_1 lane 2i+1: d_x / 16) and
   SX (q4_1: f32 lane 2i: d_x * sum(q_x)). Rows past n are zero in every field. Per block, the 8 rows'
   32 bytes are loaded as 4 pairs (one zmm each) and the step vectors picked out with two-source dword
   permutes; scales and corrections come with one 8-lane gather each. Runs once per call of the kernel
   (per thread chunk of weight rows), so it must stay cheap next to the rows it serves. */
VNNI_TARGET static void xn_prep(int wtype, const sentio_xq *xq, long V, uint8_t *buf) {
    const long nb = xq->cols / 32, n = xq->n, cols = xq->cols;
    const int q8 = wtype == SENTIO_Q8, q41 = wtype == SENTIO_Q4_1;
    __m512i idx[4];
    for (int t = 0; t < 4; t++) {
        const int a = q8 ? 2 * t : t, b = q8 ? 2 * t + 1 : 4 + t;
        idx[t] = _mm512_setr_epi32(a, b, 8 + a, 8 + b, 16 + a, 16 + b, 24 + a, 24 + b, 0, 0, 0, 0, 0, 0, 0, 0);
    }
    const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512 lane1 = q8 ? _mm512_set1_ps(1.0f)
                            : _mm512_castsi512_ps(_mm512_set1_epi64(0x3D8000003F800000ll));   /* [1, 1/16] */
    const __m256i gidx = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32((int)nb));
    for (long v = 0; v < V; v++) {
        const long m = n - 8 * v < 8 ? n - 8 * v : 8;
        const __mmask8 rm = (__mmask8)((1u << m) - 1);
        const int8_t *x0 = xq->qs + 8 * v * cols;
        const int32_t *c0 = xq->corr + 8 * v * nb;
        const float *d0 = xq->d + 8 * v * nb;
        for (long b = 0; b < nb; b++) {
            uint8_t *s = buf + (size_t)(b * V + v) * XN_SLOT;
            __m512i Z[4];
            for (int p = 0; p < 4; p++) {
                const __m256i lo = _mm256_maskz_loadu_epi32(2 * p < m ? 0xFF : 0, x0 + (2 * p < m ? 2 * p : 0) * cols + b * 32);
                const __m256i hi = _mm256_maskz_loadu_epi32(2 * p + 1 < m ? 0xFF : 0, x0 + (2 * p + 1 < m ? 2 * p + 1 : 0) * cols + b * 32);
                Z[p] = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
            }
            for (int t = 0; t < 4; t++) {
                const __m512i P = _mm512_permutex2var_epi32(Z[0], idx[t], Z[1]);
                const __m512i Q = _mm512_permutex2var_epi32(Z[2], idx[t], Z[3]);
                _mm512_store_si512((void *)(s + 64 * t), _mm512_inserti64x4(P, _mm512_castsi512_si256(Q), 1));
            }
            const __m256i cv = _mm256_mmask_i32gather_epi32(_mm256_setzero_si256(), rm, gidx, c0 + b, 4);
            const __m256 dv = _mm256_mmask_i32gather_ps(_mm256_setzero_ps(), rm, gidx, d0 + b, 4);
            const __m512 dp = _mm512_permutexvar_ps(pairs, _mm512_castps256_ps512(dv));
            const __m512i cp = _mm512_permutexvar_epi32(pairs, _mm512_castsi256_si512(cv));
            _mm512_store_si512((void *)(s + 256), q41 ? _mm512_setzero_si512()
                                                      : _mm512_maskz_sub_epi32(0x5555, _mm512_setzero_si512(), cp));
            _mm512_store_ps((float *)(s + 320), _mm512_mul_ps(dp, lane1));
            _mm512_store_ps((float *)(s + 384), q41 ? _mm512_maskz_mul_ps(0x5555, dp, _mm512_cvtepi32_ps(cp)) : _mm512_setzero_ps());
        }
    }
}

INLINE VNNI_TARGET void xn_rows4(int wtype, const uint8_t *const wr[4], long nb, const uint8_t *xp, const int V,
                                 float *y, long ldy, long r, int nr, long n, const float *bias) {
    const long bs = wtype == SENTIO_Q8 ? 34 : wtype == SENTIO_Q4 ? 18 : 20;
    const long qo = wtype == SENTIO_Q4_1 ? 4 : 2;
    /* q4: dword lanes alternate low-nibble mask (g = 0) and high-nibble mask in place (g = 1: 16 * nibble) */
    const __m512i nib = _mm512_set1_epi64(0xF0F0F0F00F0F0F0Fll), flip = _mm512_set1_epi8((char)0x80);
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)bs));
    __m512 f[4][2];
    for (int k = 0; k < 4; k++) for (int v = 0; v < V; v++) f[k][v] = _mm512_setzero_ps();
    float sc[4][16] __attribute__((aligned(64))), mo[4][16] __attribute__((aligned(64)));
    for (long c = 0; c < nb; c += 16) {
        const long cn = nb - c < 16 ? nb - c : 16;
        const __mmask16 gm = cn == 16 ? 0xFFFF : (__mmask16)((1u << cn) - 1);
        for (int k = 0; k < 4; k++) {
            __m512i g = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), gm, gidx, wr[k] + c * bs, 1);
            _mm512_store_ps(sc[k], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g)));
            if (wtype == SENTIO_Q4_1) _mm512_store_ps(mo[k], _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(g, 16))));
        }
        for (long j = 0; j < cn; j++) {
            const long b = c + j;
            const uint8_t *xs = xp + (size_t)(b * V) * XN_SLOT;
            for (int k = 0; k < 4; k++) {
                const uint8_t *blk = wr[k] + b * bs;
                if (SK_PF_DIST) _mm_prefetch((const char *)blk + SK_PF_DIST, SK_PF_HINT);
                const __m512 dw = _mm512_set1_ps(sc[k][j]);
                __m512i W0, W1, W2, W3;        /* the block's 32 weight bytes, 4 per dword, in every lane */
                if (wtype == SENTIO_Q8) {
                    int64_t q0, q1, q2, q3;
                    memcpy(&q0, blk + 2, 8); memcpy(&q1, blk + 10, 8); memcpy(&q2, blk + 18, 8); memcpy(&q3, blk + 26, 8);
                    W0 = _mm512_xor_si512(_mm512_set1_epi64(q0), flip); W1 = _mm512_xor_si512(_mm512_set1_epi64(q1), flip);
                    W2 = _mm512_xor_si512(_mm512_set1_epi64(q2), flip); W3 = _mm512_xor_si512(_mm512_set1_epi64(q3), flip);
                } else {
                    int32_t d0, d1, d2, d3;
                    memcpy(&d0, blk + qo, 4); memcpy(&d1, blk + qo + 4, 4); memcpy(&d2, blk + qo + 8, 4); memcpy(&d3, blk + qo + 12, 4);
                    W0 = _mm512_and_si512(_mm512_set1_epi32(d0), nib); W1 = _mm512_and_si512(_mm512_set1_epi32(d1), nib);
                    W2 = _mm512_and_si512(_mm512_set1_epi32(d2), nib); W3 = _mm512_and_si512(_mm512_set1_epi32(d3), nib);
                }
                for (int v = 0; v < V; v++) {
                    const uint8_t *s = xs + v * XN_SLOT;
                    __m512i a = _mm512_load_si512((const void *)(s + 256));
                    a = _mm512_dpbusd_epi32(a, W0, _mm512_load_si512((const void *)s));
                    a = _mm512_dpbusd_epi32(a, W1, _mm512_load_si512((const void *)(s + 64)));
                    a = _mm512_dpbusd_epi32(a, W2, _mm512_load_si512((const void *)(s + 128)));
                    a = _mm512_dpbusd_epi32(a, W3, _mm512_load_si512((const void *)(s + 192)));
                    f[k][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(_mm512_load_ps((const float *)(s + 320)), dw), f[k][v]);
                    if (wtype == SENTIO_Q4_1)
                        f[k][v] = _mm512_fmadd_ps(_mm512_set1_ps(mo[k][j]), _mm512_load_ps((const float *)(s + 384)), f[k][v]);
                }
            }
        }
    }
    /* lanes 2i, 2i+1 -> row i; the 4 weight rows' sums of one activation row -> 4 consecutive floats of y:
       s_k lane 2i = sum of row i; t01 = [s_0(i), s_1(i)] per qword i, t23 likewise; unpacking their qwords
       gives per 128-bit lane j activation row 2j (lo) and 2j+1 (hi) as [k = 0..3]. */
    const __mmask8 km = (__mmask8)((1u << nr) - 1);
    const __m512 bv = bias ? _mm512_broadcast_f32x4(_mm_maskz_loadu_ps(km, bias + r)) : _mm512_setzero_ps();
    for (int v = 0; v < V; v++) {
        __m512 sk[4];
        for (int k = 0; k < 4; k++)
            sk[k] = _mm512_add_ps(f[k][v], _mm512_castsi512_ps(_mm512_srli_epi64(_mm512_castps_si512(f[k][v]), 32)));
        const __m512 t01 = _mm512_mask_blend_ps(0xAAAA, sk[0], _mm512_castsi512_ps(_mm512_slli_epi64(_mm512_castps_si512(sk[1]), 32)));
        const __m512 t23 = _mm512_mask_blend_ps(0xAAAA, sk[2], _mm512_castsi512_ps(_mm512_slli_epi64(_mm512_castps_si512(sk[3]), 32)));
        const __m512 lo = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t01), _mm512_castps_pd(t23))), bv);
        const __m512 hi = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t01), _mm512_castps_pd(t23))), bv);
        float *yv = y + 8 * v * ldy + r;
        const long m = n - 8 * v;
#define XN_STORE(J) do {                                                                      \
        if (2 * (J) < m) _mm_mask_storeu_ps(yv + 2 * (J) * ldy, km, _mm512_extractf32x4_ps(lo, J));      \
        if (2 * (J) + 1 < m) _mm_mask_storeu_ps(yv + (2 * (J) + 1) * ldy, km, _mm512_extractf32x4_ps(hi, J)); \
    } while (0)
        XN_STORE(0); XN_STORE(1); XN_STORE(2); XN_STORE(3);
#undef XN_STORE
    }
}

/* One copy per (type, vector count): constant wtype and V keep the inner loop branch-free. */
#define XN_VARIANT(NAME, WT, V) VNNI_TARGET __attribute__((noinline)) static void NAME(const uint8_t *const wr[4], long nb, \
        const uint8_t *xp, float *y, long ldy, long r, int nr, long n, const float *bias) {                       \
    xn_rows4(WT, wr, nb, xp, V, y, ldy, r, nr, n, bias); }
XN_VARIANT(xn_q8_1, SENTIO_Q8, 1) XN_VARIANT(xn_q8_2, SENTIO_Q8, 2)
XN_VARIANT(xn_q4_1v, SENTIO_Q4, 1) XN_VARIANT(xn_q4_2v, SENTIO_Q4, 2)
XN_VARIANT(xn_q41_1, SENTIO_Q4_1, 1) XN_VARIANT(xn_q41_2, SENTIO_Q4_1, 2)

VNNI_TARGET static int xn_run(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                              const sentio_xq *xq, float *y, long ldy, const float *bias) {
    const long nb = xq->cols / 32, n = xq->n, V = (n + 7) / 8;
    if (n < 1 || V > 2) return 0;
    const size_t need = (size_t)(nb * V) * XN_SLOT;
    if (tl_xn_cap < need) {
        free(tl_xn);
        tl_xn = aligned_alloc(64, (need + 63) / 64 * 64);
        tl_xn_cap = tl_xn ? need : 0;
        if (!tl_xn) return 0;
    }
    xn_prep(wtype, xq, V, tl_xn);
    void (*fn)(const uint8_t *const[4], long, const uint8_t *, float *, long, long, int, long, const float *) =
        wtype == SENTIO_Q8 ? (V == 1 ? xn_q8_1 : xn_q8_2) : wtype == SENTIO_Q4 ? (V == 1 ? xn_q4_1v : xn_q4_2v)
                                                                              : (V == 1 ? xn_q41_1 : xn_q41_2);
    for (long r = r0; r < r1; r += 4) {
        const uint8_t *wr[4];
        for (int k = 0; k < 4; k++) wr[k] = (const uint8_t *)w + (size_t)(r + k < r1 ? r + k : r1 - 1) * rowBytes;
        fn(wr, nb, tl_xn, y, ldy, r, r1 - r < 4 ? (int)(r1 - r) : 4, n, bias);
    }
    return 1;
}

/* ---------------- AVX-512 VNNI row-lane GEMV: 5..16 activation rows, 16 weight rows in the lanes ----------------
   Why it wins over the activation-lane kernel: there every vpdpbusd needs one AND / XOR to form its weight
   operand, and both share the two 512-bit ports with the float work; here the weight vectors are formed
   once per 16 rows and block (transpose: 16 loads, 20 shuffles; q4: 12 more ops) and reused by all n
   activation rows, whose operand is a free memory broadcast: per block, 16 rows and activation row just
   8 vpdpbusd + convert + multiply + FMA.
   Same idea as the packed tile GEMM (one dword lane per weight row, the activation's 4 bytes broadcast, so a
   vpdpbusd accumulates 16 rows' dots and each block needs one convert and one FMA per activation row), but
   the weights are transposed in registers as they stream, not gathered into a pack buffer: per block, the
   16 rows' 16 nibble bytes (q8: 2 x 16 bytes) are loaded as 4 zmm of 4 rows each and turned into 4 dword
   vectors (vector t lane l = bytes 4t..4t+3 of row l) by a 4 x 4 dword transpose inside each 128-bit lane
   (8 unpacks). q4 / q4_1: low nibbles (k = 4t..) and high nibbles shifted down (k = 16+4t..) give 8 weight
   vectors, q8: ^ 0x80. Each activation row then takes 8 vpdpbusd with its dword broadcast from memory
   (the signed operand), started at -corr, one convert, one FMA with d_w (16 rows, one gather per block)
   times d_x; q4_1 one more FMA for the offset. Rows of the next 16-row group are prefetched along the
   block loop. */


INLINE VNNI_TARGET void rl_transpose(const uint8_t *p, size_t rowBytes, __m512i D[4]) {
    __m512i Z[4];
    for (int m = 0; m < 4; m++) {
        __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p + (size_t)m * rowBytes)));
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + (size_t)(m + 4) * rowBytes)), 1);
        z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + (size_t)(m + 8) * rowBytes)), 2);
        Z[m] = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + (size_t)(m + 12) * rowBytes)), 3);
    }
    /* 128-bit lane L of Z[m] = row m + 4L; after the transpose lane 4L + m of D[t] = dword t of that row */
    const __m512i t0 = _mm512_unpacklo_epi32(Z[0], Z[1]), t1 = _mm512_unpackhi_epi32(Z[0], Z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(Z[2], Z[3]), t3 = _mm512_unpackhi_epi32(Z[2], Z[3]);
    D[0] = _mm512_unpacklo_epi64(t0, t2); D[1] = _mm512_unpackhi_epi64(t0, t2);
    D[2] = _mm512_unpacklo_epi64(t1, t3); D[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* 16 weight rows starting at w0 x activation rows 0..M-1 -> y[i*ldy + r ..]. next: the next group's rows
   (16 * rowBytes bytes, prefetched along the block loop) or NULL. */
INLINE VNNI_TARGET void rl_group(int wtype, const uint8_t *w0, size_t rowBytes, const uint8_t *next,
                                 const sentio_xq *xq, const int M, float *y, long ldy, long r, const float *bias) {
    const long cols = xq->cols, nb = cols / 32;
    const long bs = wtype == SENTIO_Q8 ? 34 : wtype == SENTIO_Q4 ? 18 : wtype == SENTIO_Q5 ? 22 : 20;
    const long qo = wtype == SENTIO_Q4_1 ? 4 : wtype == SENTIO_Q5 ? 6 : 2;
    const __m512i low = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8((char)0x80);
    const __m512i gidx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)rowBytes));
    const long pfPer = (16 * bs + 63) / 64;   /* lines of the next group per block step: covers 16 * rowBytes */
    __m512 f[16];
    for (int i = 0; i < M; i++) f[i] = _mm512_setzero_ps();
    for (long b = 0; b < nb; b++) {
        if (next) for (long q = 0; q < pfPer; q++) _mm_prefetch((const char *)next + (b * pfPer + q) * 64, _MM_HINT_T0);
        const uint8_t *blk = w0 + b * bs;
        const __m512i sg = _mm512_i32gather_epi32(gidx, blk, 1);
        const __m512 dw = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(sg));
        __m512i W[8];
        if (wtype == SENTIO_Q8) {
            rl_transpose(blk + 2, rowBytes, W);
            rl_transpose(blk + 18, rowBytes, W + 4);
            for (int t = 0; t < 8; t++) W[t] = _mm512_xor_si512(W[t], flip);
        } else {
            __m512i D[4];
            rl_transpose(blk + qo, rowBytes, D);
            for (int t = 0; t < 4; t++) {
                W[t] = _mm512_and_si512(D[t], low);
                W[t + 4] = _mm512_and_si512(_mm512_srli_epi16(D[t], 4), low);
            }
            if (wtype == SENTIO_Q5) {
                /* the 16 rows' high bits (lane l: row l's qh); weight vector t takes bits 4t..4t+3 (t + 4: 16 + 4t..),
                   spread to bit 4 of the lane's 4 bytes by a 16-entry dword table (vpermd reads the low 4 bits) */
                const __m512i qh = _mm512_i32gather_epi32(gidx, blk + 2, 1);
                for (int t = 0; t < 4; t++) {
                    W[t] = _mm512_or_si512(W[t], _mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 4 * t), sk_q5_spread));
                    W[t + 4] = _mm512_or_si512(W[t + 4], _mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 16 + 4 * t), sk_q5_spread));
                }
            }
        }
        __m512 mv = _mm512_setzero_ps();
        if (wtype == SENTIO_Q4_1) mv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(sg, 16)));
        for (int i = 0; i < M; i++) {
            int32_t xv[8]; memcpy(xv, xq->qs + i * cols + b * 32, 32);
            const int32_t c = xq->corr[i * nb + b];
            __m512i a = _mm512_set1_epi32(wtype == SENTIO_Q4_1 ? 0 : -c);
            for (int t = 0; t < 8; t++) a = _mm512_dpbusd_epi32(a, W[t], _mm512_set1_epi32(xv[t]));
            const float dx = xq->d[i * nb + b];
            f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(dw, _mm512_set1_ps(dx)), f[i]);
            if (wtype == SENTIO_Q4_1) f[i] = _mm512_fmadd_ps(mv, _mm512_set1_ps(dx * (float)c), f[i]);
        }
    }
    const __m512 bv = bias ? _mm512_loadu_ps(bias + r) : _mm512_setzero_ps();
    for (int i = 0; i < M; i++) _mm512_storeu_ps(y + i * ldy + r, _mm512_add_ps(f[i], bv));
}

#define RL_VARIANT(NAME, WT, M) VNNI_TARGET __attribute__((noinline)) static void NAME(const uint8_t *w0, size_t rowBytes, \
        const uint8_t *next, const sentio_xq *xq, float *y, long ldy, long r, const float *bias) {                     \
    rl_group(WT, w0, rowBytes, next, xq, M, y, ldy, r, bias); }
#define RL_SET(P, WT) RL_VARIANT(P##5, WT, 5) RL_VARIANT(P##6, WT, 6) RL_VARIANT(P##7, WT, 7) RL_VARIANT(P##8, WT, 8)      \
    RL_VARIANT(P##9, WT, 9) RL_VARIANT(P##10, WT, 10) RL_VARIANT(P##11, WT, 11) RL_VARIANT(P##12, WT, 12)                 \
    RL_VARIANT(P##13, WT, 13) RL_VARIANT(P##14, WT, 14) RL_VARIANT(P##15, WT, 15) RL_VARIANT(P##16, WT, 16)
RL_SET(rl_q8_, SENTIO_Q8) RL_SET(rl_q4_, SENTIO_Q4) RL_SET(rl_q41_, SENTIO_Q4_1) RL_SET(rl_q5_, SENTIO_Q5)
#define RL_ROW(P) { P##5, P##6, P##7, P##8, P##9, P##10, P##11, P##12, P##13, P##14, P##15, P##16 }

/* Whole 16-row groups of [r0, r1) on the row-lane kernel (n = 5..16); returns the first row not done. */
long sk_qgemvn_rowlane_run(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                       const float *bias) {
    typedef void (*rl_fn)(const uint8_t *, size_t, const uint8_t *, const sentio_xq *, float *, long, long, const float *);
    static const rl_fn fns[4][12] = { RL_ROW(rl_q8_), RL_ROW(rl_q4_), RL_ROW(rl_q41_), RL_ROW(rl_q5_) };
    if (xq->n < 5 || xq->n > SK_QGEMVN_MAX_N) return r0;
    const rl_fn fn = fns[wtype == SENTIO_Q8 ? 0 : wtype == SENTIO_Q4 ? 1 : wtype == SENTIO_Q4_1 ? 2 : 3][xq->n - 5];
    long r = r0;
    for (; r + 16 <= r1; r += 16) {
        const uint8_t *w0 = (const uint8_t *)w + (size_t)r * rowBytes;
        fn(w0, rowBytes, r + 32 <= r1 ? w0 + 16 * rowBytes : NULL, xq, y, ldy, r, bias);
    }
    return r;
}

/* Whole 16-row groups on the row-lane kernel, the remaining rows (fewer than 16: the end of the matrix)
   on the activation-lane kernel above. Measured (KernelBench decode, one Qwen2-0.5B step's matmuls, 1 thread,
   q4 / q8, ms): n = 8 tile GEMM 60-76 / 77-80, activation-lane 48-50 / 64-69, row-lane 37-39 / 53-60;
   n = 16: 83-101 / 99-109, 74-103 / 87-94, 62-84 / 73-75. */
int sk_qgemvn_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                   const sentio_xq *xq, float *y, long ldy, const float *bias) {
    if (xq->n < 1 || xq->n > SK_QGEMVN_MAX_N) return 0;
    const long r = sk_qgemvn_rowlane ? sk_qgemvn_rowlane_run(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias) : r0;
    return r < r1 ? xn_run(wtype, w, rowBytes, r, r1, xq, y, ldy, bias) : 1;
}

/* ---------------- AVX2 ---------------- */

/* q5: the block's 32 values as bytes 0..31 in activation order. */
INLINE AVX2_TARGET __m256i q5_unpack_avx2(const uint8_t *blk) {
    const __m128i v = _mm_loadu_si128((const __m128i *)(blk + 6));
    const __m256i nib = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
    /* byte j gets qh byte j / 8, then bit j % 8 tested */
    const __m256i qh = _mm256_set1_epi32((int)sk_q5_qh(blk));
    const __m256i sel = _mm256_shuffle_epi8(qh, _mm256_setr_epi64x(0, 0x0101010101010101ll, 0x0202020202020202ll, 0x0303030303030303ll));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i on = _mm256_cmpeq_epi8(_mm256_and_si256(sel, bit), bit);
    return _mm256_or_si256(nib, _mm256_and_si256(on, _mm256_set1_epi8(16)));
}

INLINE AVX2_TARGET void avx2_tile(int wtype, const uint8_t *const wr[4], long nb, const sentio_xq *xq,
                                  long i0, const int M, const uint8_t *next, const int l2, float out[4][2]) {
    const long bs = wtype == SENTIO_Q8 ? 34 : wtype == SENTIO_Q5 ? 22 : 18, cols = xq->cols;
    const uint8_t *pfc = next;   /* sequential prefetch cursor over the next tile (NULL: per-row prefetch) */
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[4][2];
    for (int k = 0; k < 4; k++) for (int i = 0; i < M; i++) acc[k][i] = _mm256_setzero_ps();
    for (long b = 0; b < nb; b++) {
        __m256i W[4], WA[4]; __m256 D[4];
        if (next) sk_prefetch_tile_upto(&pfc, next + (b + 1) * 4 * bs, l2);
        for (int k = 0; k < 4; k++) {
            const uint8_t *blk = wr[k] + b * bs;
            if (!next) { if (SK_PF_L2_DIST) _mm_prefetch((const char *)blk + SK_PF_L2_DIST, _MM_HINT_T1); }
            uint16_t h; memcpy(&h, blk, 2);
            D[k] = _mm256_cvtph_ps(_mm_set1_epi16((short)h));
            if (wtype == SENTIO_Q8) {
                W[k] = _mm256_loadu_si256((const __m256i *)(blk + 2));
                WA[k] = _mm256_sign_epi8(W[k], W[k]);
            } else if (wtype == SENTIO_Q5) {
                W[k] = WA[k] = q5_unpack_avx2(blk);
            } else {
                __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
                WA[k] = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
                W[k] = WA[k];
            }
        }
        for (int i = 0; i < M; i++) {
            const long xi = i0 + i;
            __m256i X = _mm256_loadu_si256((const __m256i *)(xq->qs + xi * cols + b * 32));
            __m256i C = _mm256_set1_epi32(-(xq->corr[xi * nb + b] / 8));
            __m256 DX = _mm256_set1_ps(xq->d[xi * nb + b]);
            for (int k = 0; k < 4; k++) {
                __m256i XS = wtype == SENTIO_Q8 ? _mm256_sign_epi8(X, W[k]) : X;
                __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(WA[k], XS), ones), C);
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

AVX2_TARGET void sk_qgemv_avx2(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                               const sentio_xq *xq, float *y, long ldy, const float *bias) {
    const long nb = xq->cols / 32, n = xq->n;
    for (long r = r0; r < r1; r += 4) {
        const uint8_t *wr[4];
        for (int k = 0; k < 4; k++) wr[k] = (const uint8_t *)w + (size_t)(r + k < r1 ? r + k : r1 - 1) * rowBytes;
        const int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
        const uint8_t *next = sk_next_long_tile(w, rowBytes, r);
        const int l2 = sk_long_tile(rowBytes);
        for (long i = 0; i < n; i += 2) {
            float out[4][2];
            const int mr = n - i < 2 ? 1 : 2;
            const uint8_t *pf = i == 0 ? next : NULL;
            if (mr == 1) avx2_tile(wtype, wr, nb, xq, i, 1, pf, l2, out); else avx2_tile(wtype, wr, nb, xq, i, 2, pf, l2, out);
            for (int a = 0; a < mr; a++)
                for (int k = 0; k < nr; k++) y[(i + a) * ldy + r + k] = out[k][a] + (bias ? bias[r + k] : 0.0f);
        }
    }
}

#else
int sk_qgemvn_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias) {
    (void)wtype; (void)w; (void)rowBytes; (void)r0; (void)r1; (void)xq; (void)y; (void)ldy; (void)bias;
    return 0;
}
void sk_qgemv_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias) {
    sk_qgemm_scalar(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
}
void sk_qgemv_avx2(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias) {
    sk_qgemm_scalar(wtype, w, rowBytes, r0, r1, xq, y, ldy, bias);
}
#endif
