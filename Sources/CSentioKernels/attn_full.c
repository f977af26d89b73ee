/* Full (bidirectional) attention for encoders, f32, AVX-512: Whisper (1500 keys, 20 heads x 64),
   SigLIP (196 keys), BERT (short). Blocked so that no score matrix larger than 8 query rows ever leaves L1/L2.

   Per head, K is packed once as chunks of 32 keys, [d][32 keys] floats (keys past n are zero), V is
   copied contiguous [n][hd]. For each block of MQ = 8 query rows (q pre-scaled by `scale`):
     1. S[8][n] = q . K^T: per 32-key chunk, 16 zmm accumulators (8 rows x 2 halves); per d one load of
        each half of K and one broadcast of q[i][d] per row, folded into the FMA (vfmadd231ps m32bcst).
     2. per row: + mask, softmax (sentio_vexp_softmax: max-subtracted exp, normalized by the sum).
     3. O[i] = sum_t S[i][t] V[t], 4 rows at a time: hd/16 zmm accumulators per row (hd <= 64: 16 zmm),
        per key one load of V's hd floats and one broadcast of S[i][t] per row.
   K and V of one head (2 x 384 KB at n = 1500) stay in L2 while the row blocks of that head pass over them. Scalar twin: Attention.fullRef (Double). */
#include "internal.h"
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define KC 32   /* keys per packed K chunk */
#define MQ 8    /* query rows per block */
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))

long sentio_attn_kpack_floats(long n, long hd) { return (n + KC - 1) / KC * KC * hd; }

/* kp[c][d][j] = k[(c*KC + j) * ldk + d] (0 past n). */
void sentio_attn_pack_k(const float *k, long ldk, long n, long hd, float *kp) {
    for (long c = 0; c * KC < n; c++) {
        float *dst = kp + c * KC * hd;
        for (long j = 0; j < KC; j++) {
            long t = c * KC + j;
            if (t < n) for (long d = 0; d < hd; d++) dst[d * KC + j] = k[t * ldk + d];
            else for (long d = 0; d < hd; d++) dst[d * KC + j] = 0;
        }
    }
}

/* S rows [0, mr) x keys [0, n): q (mr x hd, contiguous, pre-scaled) . K^T. */
AVX512 __attribute__((always_inline)) static inline void scores_tile(const float *q, int mr, const float *kp, long n,
                                                                     long hd, float *s, long lds) {
    for (long c = 0; c * KC < n; c++) {   /* called per chunk (n <= KC) by sentio_attn_full_rows */
        const float *kc = kp + c * KC * hd;
        __m512 a0[MQ], a1[MQ];
        for (int i = 0; i < mr; i++) { a0[i] = _mm512_setzero_ps(); a1[i] = _mm512_setzero_ps(); }
        for (long d = 0; d < hd; d++) {
            __m512 K0 = _mm512_load_ps(kc + d * KC), K1 = _mm512_load_ps(kc + d * KC + 16);
            for (int i = 0; i < mr; i++) {
                __m512 Q = _mm512_set1_ps(q[i * hd + d]);
                a0[i] = _mm512_fmadd_ps(Q, K0, a0[i]);
                a1[i] = _mm512_fmadd_ps(Q, K1, a1[i]);
            }
        }
        long left = n - c * KC;
        __mmask16 m0 = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        __mmask16 m1 = left >= 32 ? 0xFFFF : left > 16 ? (__mmask16)((1u << (left - 16)) - 1) : 0;
        for (int i = 0; i < mr; i++) {
            _mm512_mask_storeu_ps(s + i * lds + c * KC, m0, a0[i]);
            _mm512_mask_storeu_ps(s + i * lds + c * KC + 16, m1, a1[i]);
        }
    }
}
#define SCORES(M) AVX512 __attribute__((noinline)) static void scores##M(const float *q, const float *kp, long n, long hd, \
        float *s, long lds) { scores_tile(q, M, kp, n, hd, s, lds); }
SCORES(1) SCORES(2) SCORES(3) SCORES(4) SCORES(5) SCORES(6) SCORES(7) SCORES(8)

/* out rows [0, mr) (+)= P (mr x n, row stride lds) . V (n x hd contiguous); hd = 16 * NV. */
AVX512 __attribute__((always_inline)) static inline void values_tile(const float *p, long lds, int mr, const float *v,
                                                                     long n, int nv, float *out, long ldo, int accumulate) {
    __m512 acc[4][4];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nv; j++) acc[i][j] = accumulate ? _mm512_loadu_ps(out + i * ldo + 16 * j) : _mm512_setzero_ps();
    for (long t = 0; t < n; t++) {
        __m512 V[4];
        for (int j = 0; j < nv; j++) V[j] = _mm512_loadu_ps(v + t * nv * 16 + 16 * j);
        for (int i = 0; i < mr; i++) {
            __m512 P = _mm512_set1_ps(p[i * lds + t]);
            for (int j = 0; j < nv; j++) acc[i][j] = _mm512_fmadd_ps(P, V[j], acc[i][j]);
        }
    }
    for (int i = 0; i < mr; i++) for (int j = 0; j < nv; j++) _mm512_storeu_ps(out + i * ldo + 16 * j, acc[i][j]);
}
#define VALUES(M, NV) AVX512 __attribute__((noinline)) static void values##M##_##NV(const float *p, long lds, \
        const float *v, long n, float *out, long ldo, int acc) { values_tile(p, lds, M, v, n, NV, out, ldo, acc); }
VALUES(1, 1) VALUES(2, 1) VALUES(3, 1) VALUES(4, 1)
VALUES(1, 2) VALUES(2, 2) VALUES(3, 2) VALUES(4, 2)
VALUES(1, 3) VALUES(2, 3) VALUES(3, 3) VALUES(4, 3)
VALUES(1, 4) VALUES(2, 4) VALUES(3, 4) VALUES(4, 4)

typedef void (*values_fn)(const float *, long, const float *, long, float *, long, int);
static const values_fn values_table[4][4] = {
    { values1_1, values2_1, values3_1, values4_1 }, { values1_2, values2_2, values3_2, values4_2 },
    { values1_3, values2_3, values3_3, values4_3 }, { values1_4, values2_4, values3_4, values4_4 },
};
typedef void (*scores_fn)(const float *, const float *, long, long, float *, long);
static const scores_fn scores_table[MQ] = { scores1, scores2, scores3, scores4, scores5, scores6, scores7, scores8 };

int sentio_attn_full_available(long hd) {
    return sentio_isa_level() >= 2 && hd > 0 && hd % 16 == 0 && hd <= 64;
}

/* Query rows [i0, i1) of one head: q rows at q + i*ldq, out rows at out + i*ldo. kp: sentio_attn_pack_k
   of this head's K; v: this head's V, contiguous n x hd. scratch: sentio_attn_scratch_floats(n, hd).
   Rows go in blocks of MB = 24: the scores of a block (24 x n: 144 KB at n = 1500, L2) are computed per
   32-key chunk for the block's three 8-row groups (the 8 KB K chunk is read from L1 three times), and
   P . V runs per 128-key chunk of V (32 KB at hd = 64: L1) over the block's 4-row groups, the partial
   sums passing through out between chunks. */
#define MB 24
#define VK 128
long sentio_attn_scratch_floats(long n, long hd) { return MB * (n + hd); }

AVX512 void sentio_attn_full_rows(const float *q, long ldq, const float *kp, const float *v, long n, long hd,
                                  long i0, long i1, float scale, const float *mask, float *scratch,
                                  float *out, long ldo) {
    float *s = scratch, *qs = scratch + MB * n;
    int nv = (int)(hd / 16);
    for (long i = i0; i < i1; i += MB) {
        int mb = i1 - i < MB ? (int)(i1 - i) : MB;
        for (int r = 0; r < mb; r++)
            for (long d = 0; d < hd; d++) qs[r * hd + d] = q[(i + r) * ldq + d] * scale;
        for (long c = 0; c * KC < n; c++) {
            long nk = n - c * KC < KC ? n - c * KC : KC;
            for (int r = 0; r < mb; r += MQ) {
                int m8 = mb - r < MQ ? mb - r : MQ;
                scores_table[m8 - 1](qs + r * hd, kp + c * KC * hd, nk, hd, s + r * n + c * KC, n);
            }
        }
        for (int r = 0; r < mb; r++) {
            float *row = s + r * n;
            if (mask) for (long t = 0; t < n; t++) row[t] += mask[t];
            sentio_vexp_softmax(row, n);
        }
        for (long t0 = 0; t0 < n; t0 += VK) {
            long nk = n - t0 < VK ? n - t0 : VK;
            for (int r = 0; r < mb; r += 4) {
                int m4 = mb - r < 4 ? mb - r : 4;
                values_table[nv - 1][m4 - 1](s + r * n + t0, n, v + t0 * hd, nk, out + (i + r) * ldo, ldo, t0 > 0);
            }
        }
    }
}
#else
long sentio_attn_kpack_floats(long n, long hd) { return (n + 31) / 32 * 32 * hd; }
long sentio_attn_scratch_floats(long n, long hd) { return 24 * (n + hd); }
void sentio_attn_pack_k(const float *k, long ldk, long n, long hd, float *kp) { (void)k; (void)ldk; (void)n; (void)hd; (void)kp; }
int sentio_attn_full_available(long hd) { (void)hd; return 0; }
void sentio_attn_full_rows(const float *q, long ldq, const float *kp, const float *v, long n, long hd,
                           long i0, long i1, float scale, const float *mask, float *scratch, float *out, long ldo) {
    (void)q; (void)ldq; (void)kp; (void)v; (void)n; (void)hd; (void)i0; (void)i1; (void)scale; (void)mask;
    (void)scratch; (void)out; (void)ldo;
}
#endif
