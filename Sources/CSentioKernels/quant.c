/* Activation quantization to Q8_0 (the partner of the integer dot kernels).
   Bit-identical to BlockQ8_0.quantizeRef: d = max|x| / 127 in f32, q = roundf(x * (1/d)) (half away
   from zero), the stored scale is d rounded to f16. */
#include "internal.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* One block of 32: writes q, returns the f32 scale d (before f16 rounding) and the sum of q. */
static inline float quant_block_scalar(const float *x, int8_t *q, int32_t *sum) {
    float amax = 0;
    for (int i = 0; i < 32; i++) { float a = fabsf(x[i]); amax = a > amax ? a : amax; }
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    int32_t s = 0;
    for (int i = 0; i < 32; i++) { int v = (int)roundf(x[i] * id); q[i] = (int8_t)v; s += v; }
    *sum = s;
    return d;
}

#if defined(__x86_64__)
#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))
AVX2_TARGET static inline float quant_block_avx2(const float *x, int8_t *q, int32_t *sum) {
    const __m256 signmask = _mm256_set1_ps(-0.0f);
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) { v[k] = _mm256_loadu_ps(x + 8 * k); m = _mm256_max_ps(m, _mm256_andnot_ps(signmask, v[k])); }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    float amax = _mm_cvtss_f32(m4);
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    const __m256 vid = _mm256_set1_ps(id), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    __m256i qi[4], s = _mm256_setzero_si256();
    for (int k = 0; k < 4; k++) {
        __m256 p = _mm256_mul_ps(v[k], vid);
        __m256 t = _mm256_round_ps(p, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m256 frac = _mm256_andnot_ps(signmask, _mm256_sub_ps(p, t));
        __m256 step = _mm256_or_ps(_mm256_and_ps(p, signmask), one);      /* copysign(1, p) */
        t = _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, half, _CMP_GE_OQ), step));
        qi[k] = _mm256_cvttps_epi32(t);
        s = _mm256_add_epi32(s, qi[k]);
    }
    __m256i p01 = _mm256_packs_epi32(qi[0], qi[1]), p23 = _mm256_packs_epi32(qi[2], qi[3]);
    __m256i b = _mm256_packs_epi16(p01, p23);
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, b);
    __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    s4 = _mm_hadd_epi32(s4, s4); s4 = _mm_hadd_epi32(s4, s4);
    *sum = _mm_cvtsi128_si32(s4);
    return d;
}
AVX2_TARGET static void quant_rows_avx2(const float *x, sentio_xq *xq, long i0, long i1, int c) {
    long cols = xq->cols, nb = cols / 32;
    for (long i = i0; i < i1; i++)
        for (long b = 0; b < nb; b++) {
            int32_t s;
            float d = quant_block_avx2(x + i * cols + b * 32, xq->qs + i * cols + b * 32, &s);
            xq->d[i * nb + b] = sk_f16_to_f32(sk_f32_to_f16(d));
            xq->corr[i * nb + b] = c * s;
        }
}
#endif

void sentio_quantize_rows(const float *x, sentio_xq *xq, long i0, long i1, int wtype) {
    int isa = sentio_isa_level();
    int c = sk_qgemm_corr(wtype, isa);
#if defined(__x86_64__)
    if (isa >= 1) { quant_rows_avx2(x, xq, i0, i1, c); return; }
#endif
    long cols = xq->cols, nb = cols / 32;
    for (long i = i0; i < i1; i++)
        for (long b = 0; b < nb; b++) {
            int32_t s;
            float d = quant_block_scalar(x + i * cols + b * 32, xq->qs + i * cols + b * 32, &s);
            xq->d[i * nb + b] = sk_f16_to_f32(sk_f32_to_f16(d));
            xq->corr[i * nb + b] = c * s;
        }
}

void sentio_quantize_q8_0(const float *x, long count, void *out) {
    uint8_t *o = out;
    int isa = sentio_isa_level();
    for (long b = 0; b < count / 32; b++, o += 34) {
        int32_t s;
        float d;
#if defined(__x86_64__)
        if (isa >= 1) d = quant_block_avx2(x + b * 32, (int8_t *)(o + 2), &s);
        else
#endif
        d = quant_block_scalar(x + b * 32, (int8_t *)(o + 2), &s);
        uint16_t h = sk_f32_to_f16(d);
        memcpy(o, &h, 2);
    }
}
