/* Vector exp-based activations and softmax (AVX-512 / AVX2 widths of one generic body), f16 <-> f32. */
#include "internal.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)

#if defined(__x86_64__)
#define VW 16
#define SFX _512
#define TGT __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))
#include "vecmath_body.h"
#undef VW
#undef SFX
#undef TGT
#define VW 8
#define SFX _256
#define TGT __attribute__((target("avx2,fma,f16c")))
#include "vecmath_body.h"
#undef VW
#undef SFX
#undef TGT
#endif
#define VW 4
#define SFX _128
#define TGT
#include "vecmath_body.h"
#undef VW
#undef SFX
#undef TGT

#if defined(__x86_64__)
#define DISPATCH(name, ...) do { int isa = sentio_isa_level();                        \
    if (isa >= 2) { name##_512(__VA_ARGS__); return; }                                 \
    if (isa >= 1) { name##_256(__VA_ARGS__); return; }                                 \
    name##_128(__VA_ARGS__); } while (0)
#else
#define DISPATCH(name, ...) name##_128(__VA_ARGS__)
#endif

void sentio_vexp_softmax(float *x, long count) { if (count > 0) DISPATCH(softmax_, x, count); }
void sentio_vsilu(float *x, long count) { DISPATCH(silu_, x, count); }
void sentio_vgelu_erf(float *x, long count) { DISPATCH(gelu_erf_, x, count); }
void sentio_vgelu_tanh(float *x, long count) { DISPATCH(gelu_tanh_, x, count); }

void sentio_vswiglu(const float *gate, const float *up, float *out, long count) {
    for (long i = 0; i < count; i += 4096) {
        long m = count - i < 4096 ? count - i : 4096;
        if (out + i != gate + i) memcpy(out + i, gate + i, (size_t)m * 4);
        sentio_vsilu(out + i, m);
        for (long k = 0; k < m; k++) out[i + k] *= up[i + k];
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) static void f16_to_f32_f16c(const uint16_t *s, float *d, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) d[i] = sk_f16_to_f32(s[i]);
}
__attribute__((target("avx2,f16c"))) static void f32_to_f16_f16c(const float *s, uint16_t *d, long n) {
    long i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(d + i), _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) d[i] = sk_f32_to_f16(s[i]);
}
#endif

void sentio_f16_to_f32(const uint16_t *src, float *dst, long count) {
#if defined(__x86_64__)
    if (sentio_isa_level() >= 1) { f16_to_f32_f16c(src, dst, count); return; }
#endif
    for (long i = 0; i < count; i++) dst[i] = sk_f16_to_f32(src[i]);
}
void sentio_f32_to_f16(const float *src, uint16_t *dst, long count) {
#if defined(__x86_64__)
    if (sentio_isa_level() >= 1) { f32_to_f16_f16c(src, dst, count); return; }
#endif
    for (long i = 0; i < count; i++) dst[i] = sk_f32_to_f16(src[i]);
}
