/* Float-weight products (f32 / f16 / bf16 weights, f32 activations), converted in registers.
   Micro-tile: 4 weight rows x up to MR activation rows, FMA over the inner dimension, one horizontal
   sum per output at the end. Used for decode GEMV and small n; large n goes through sgemm. */
#include "internal.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float load_w_scalar(int wtype, const void *w, long idx) {
    switch (wtype) {
    case SENTIO_F16: return sk_f16_to_f32(((const uint16_t *)w)[idx]);
    case SENTIO_BF16: return sk_bf16_to_f32(((const uint16_t *)w)[idx]);
    default: return ((const float *)w)[idx];
    }
}

void sk_fgemm_scalar(int wtype, const void *w, long cols, long r0, long r1,
                     const float *x, long ldx, long n, float *y, long ldy, const float *bias) {
    for (long r = r0; r < r1; r++)
        for (long i = 0; i < n; i++) {
            float acc = 0;
            for (long k = 0; k < cols; k++) acc += x[i * ldx + k] * load_w_scalar(wtype, w, r * cols + k);
            y[i * ldy + r] = acc + (bias ? bias[r] : 0.0f);
        }
}

#if defined(__x86_64__)
/* ---------------- AVX-512: 16 lanes, masked tail ---------------- */
#define AVX512_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))
AVX512_TARGET static inline __m512 ld512(int wtype, const void *w, long idx, __mmask16 m) {
    switch (wtype) {
    case SENTIO_F16: return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + idx));
    case SENTIO_BF16: return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (const uint16_t *)w + idx)), 16));
    default: return _mm512_maskz_loadu_ps(m, (const float *)w + idx);
    }
}
/* next: the next 4-row tile's bytes, prefetched in address order along the column loop (or NULL). */
AVX512_TARGET static inline void tile512(int wtype, const void *w, long cols, const long rows[4],
        const float *x, long ldx, int mr, const uint8_t *next, int l2, float out[4][4]) {
    __m512 acc[4][4];
    for (int i = 0; i < 4; i++) for (int k = 0; k < 4; k++) acc[i][k] = _mm512_setzero_ps();
    const long es = wtype == SENTIO_F32 ? 4 : 2;
    const uint8_t *pfc = next;
    for (long c = 0; c < cols; c += 16) {
        if (next) sk_prefetch_tile_upto(&pfc, next + 4 * (c + 16) * es, l2);
        __mmask16 m = cols - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (cols - c)) - 1);
        __m512 W[4];
        for (int k = 0; k < 4; k++) W[k] = ld512(wtype, w, rows[k] * cols + c, m);
        for (int i = 0; i < mr; i++) {
            __m512 X = _mm512_maskz_loadu_ps(m, x + i * ldx + c);
            for (int k = 0; k < 4; k++) acc[i][k] = _mm512_fmadd_ps(W[k], X, acc[i][k]);
        }
    }
    for (int i = 0; i < mr; i++) for (int k = 0; k < 4; k++) out[i][k] = _mm512_reduce_add_ps(acc[i][k]);
}
AVX512_TARGET void sk_fgemm_avx512(int wtype, const void *w, long cols, long r0, long r1,
                                   const float *x, long ldx, long n, float *y, long ldy, const float *bias) {
    for (long r = r0; r < r1; r += 4) {
        long rows[4];
        for (int k = 0; k < 4; k++) rows[k] = r + k < r1 ? r + k : r1 - 1;
        int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
        const size_t rowBytes = (size_t)cols * (wtype == SENTIO_F32 ? 4 : 2);
        const uint8_t *next = sk_next_long_tile(w, rowBytes, r);
        const int l2 = sk_long_tile(rowBytes);
        for (long i = 0; i < n; i += 4) {
            float out[4][4];
            int mr = n - i < 4 ? (int)(n - i) : 4;
            const uint8_t *pf = i == 0 ? next : NULL;
            switch (mr) {
            case 4: tile512(wtype, w, cols, rows, x + i * ldx, ldx, 4, pf, l2, out); break;
            case 3: tile512(wtype, w, cols, rows, x + i * ldx, ldx, 3, pf, l2, out); break;
            case 2: tile512(wtype, w, cols, rows, x + i * ldx, ldx, 2, pf, l2, out); break;
            default: tile512(wtype, w, cols, rows, x + i * ldx, ldx, 1, pf, l2, out); break;
            }
            for (int a = 0; a < mr; a++)
                for (int k = 0; k < nr; k++) y[(i + a) * ldy + r + k] = out[a][k] + (bias ? bias[r + k] : 0.0f);
        }
    }
}

/* ---------------- AVX2: 8 lanes, scalar tail ---------------- */
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
AVX2_TARGET static inline __m256 ld256(int wtype, const void *w, long idx) {
    switch (wtype) {
    case SENTIO_F16: return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + idx)));
    case SENTIO_BF16: return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)w + idx))), 16));
    default: return _mm256_loadu_ps((const float *)w + idx);
    }
}
AVX2_TARGET static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
AVX2_TARGET static inline void tile256(int wtype, const void *w, long cols, const long rows[4],
        const float *x, long ldx, int mr, const uint8_t *next, float out[2][4]) {
    __m256 acc[2][4];
    for (int i = 0; i < 2; i++) for (int k = 0; k < 4; k++) acc[i][k] = _mm256_setzero_ps();
    const long es = wtype == SENTIO_F32 ? 4 : 2;
    const uint8_t *pfc = next;
    long c = 0;
    for (; c + 8 <= cols; c += 8) {
        if (next) sk_prefetch_upto(&pfc, next + 4 * (c + 8) * es);
        __m256 W[4];
        for (int k = 0; k < 4; k++) W[k] = ld256(wtype, w, rows[k] * cols + c);
        for (int i = 0; i < mr; i++) {
            __m256 X = _mm256_loadu_ps(x + i * ldx + c);
            for (int k = 0; k < 4; k++) acc[i][k] = _mm256_fmadd_ps(W[k], X, acc[i][k]);
        }
    }
    for (int i = 0; i < mr; i++)
        for (int k = 0; k < 4; k++) {
            float s = hsum256(acc[i][k]);
            for (long t = c; t < cols; t++) s += x[i * ldx + t] * load_w_scalar(wtype, w, rows[k] * cols + t);
            out[i][k] = s;
        }
}
AVX2_TARGET void sk_fgemm_avx2(int wtype, const void *w, long cols, long r0, long r1,
                               const float *x, long ldx, long n, float *y, long ldy, const float *bias) {
    for (long r = r0; r < r1; r += 4) {
        long rows[4];
        for (int k = 0; k < 4; k++) rows[k] = r + k < r1 ? r + k : r1 - 1;
        int nr = r1 - r < 4 ? (int)(r1 - r) : 4;
        const size_t rowBytes = (size_t)cols * (wtype == SENTIO_F32 ? 4 : 2);
        const uint8_t *next = sk_next_tile(w, rowBytes, r);
        for (long i = 0; i < n; i += 2) {
            float out[2][4];
            int mr = n - i < 2 ? (int)(n - i) : 2;
            const uint8_t *pf = i == 0 ? next : NULL;
            if (mr == 2) tile256(wtype, w, cols, rows, x + i * ldx, ldx, 2, pf, out);
            else tile256(wtype, w, cols, rows, x + i * ldx, ldx, 1, pf, out);
            for (int a = 0; a < mr; a++)
                for (int k = 0; k < nr; k++) y[(i + a) * ldy + r + k] = out[a][k] + (bias ? bias[r + k] : 0.0f);
        }
    }
}
#else
void sk_fgemm_avx2(int wtype, const void *w, long cols, long r0, long r1, const float *x, long ldx, long n, float *y, long ldy, const float *bias) {
    sk_fgemm_scalar(wtype, w, cols, r0, r1, x, ldx, n, y, ldy, bias);
}
void sk_fgemm_avx512(int wtype, const void *w, long cols, long r0, long r1, const float *x, long ldx, long n, float *y, long ldy, const float *bias) {
    sk_fgemm_scalar(wtype, w, cols, r0, r1, x, ldx, n, y, ldy, bias);
}
#endif

void sentio_fgemm(int wtype, const void *w, long cols, long r0, long r1,
                  const float *x, long ldx, long n, float *y, long ldy, const float *bias) {
    int isa = sentio_isa_level();
    if (isa >= 2) sk_fgemm_avx512(wtype, w, cols, r0, r1, x, ldx, n, y, ldy, bias);
    else if (isa >= 1) sk_fgemm_avx2(wtype, w, cols, r0, r1, x, ldx, n, y, ldy, bias);
    else sk_fgemm_scalar(wtype, w, cols, r0, r1, x, ldx, n, y, ldy, bias);
}

/* Dequantize rows to f32 (for sgemm panels and embedding lookups). */
void sentio_dequant_rows(int wtype, const void *w, size_t rowBytes, long cols, long r0, long r1, float *out) {
    for (long r = r0; r < r1; r++) {
        const uint8_t *src = (const uint8_t *)w + (size_t)r * rowBytes;
        float *o = out + (r - r0) * cols;
        switch (wtype) {
        case SENTIO_F32: memcpy(o, src, (size_t)cols * 4); break;
        case SENTIO_F16: sentio_f16_to_f32((const uint16_t *)src, o, cols); break;
        case SENTIO_BF16: for (long k = 0; k < cols; k++) { uint16_t h; memcpy(&h, src + 2 * k, 2); o[k] = sk_bf16_to_f32(h); } break;
        case SENTIO_Q8:
            for (long b = 0; b < cols / 32; b++) {
                const uint8_t *blk = src + b * 34; uint16_t h; memcpy(&h, blk, 2);
                float d = sk_f16_to_f32(h);
                for (int j = 0; j < 32; j++) o[b * 32 + j] = d * (float)((const int8_t *)(blk + 2))[j];
            }
            break;
        case SENTIO_Q4:
            for (long b = 0; b < cols / 32; b++) {
                const uint8_t *blk = src + b * 18; uint16_t h; memcpy(&h, blk, 2);
                float d = sk_f16_to_f32(h);
                for (int j = 0; j < 16; j++) {
                    o[b * 32 + j] = d * (float)((int)(blk[2 + j] & 15) - 8);
                    o[b * 32 + j + 16] = d * (float)((int)(blk[2 + j] >> 4) - 8);
                }
            }
            break;
        case SENTIO_Q4_1: sk_dequant_q41_row(src, cols, o); break;
        case SENTIO_Q5: sk_dequant_q5_row(src, cols, o); break;
        }
    }
}
