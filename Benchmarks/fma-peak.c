/* f32 FMA peak of one core: 12 independent AVX-512 FMA chains (more than latency x throughput), so the loop runs at
   the FMA pipes' rate. The ceiling for f32-math GEMMs (the F16/F32 prefill rows of docs/BENCHMARKS.md).
   build and run:  cc -O2 -march=native Benchmarks/fma-peak.c -o /tmp/fma-peak && /tmp/fma-peak
   (both cores at once:  (/tmp/fma-peak & /tmp/fma-peak & wait)) */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

/* twelve named accumulators (an array may stay in memory at -O2) */
#define FMA12(m, a) do { a0 = _mm512_fmadd_ps(a0, m, a); a1 = _mm512_fmadd_ps(a1, m, a); a2 = _mm512_fmadd_ps(a2, m, a); \
    a3 = _mm512_fmadd_ps(a3, m, a); a4 = _mm512_fmadd_ps(a4, m, a); a5 = _mm512_fmadd_ps(a5, m, a); \
    a6 = _mm512_fmadd_ps(a6, m, a); a7 = _mm512_fmadd_ps(a7, m, a); a8 = _mm512_fmadd_ps(a8, m, a); \
    a9 = _mm512_fmadd_ps(a9, m, a); a10 = _mm512_fmadd_ps(a10, m, a); a11 = _mm512_fmadd_ps(a11, m, a); } while (0)

int main(void) {
    __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(1.1f), a2 = _mm512_set1_ps(1.2f), a3 = _mm512_set1_ps(1.3f);
    __m512 a4 = _mm512_set1_ps(1.4f), a5 = _mm512_set1_ps(1.5f), a6 = _mm512_set1_ps(1.6f), a7 = _mm512_set1_ps(1.7f);
    __m512 a8 = _mm512_set1_ps(1.8f), a9 = _mm512_set1_ps(1.9f), a10 = _mm512_set1_ps(2.0f), a11 = _mm512_set1_ps(2.1f);
    const __m512 mul = _mm512_set1_ps(0.999999f), add = _mm512_set1_ps(1e-7f);
    const long iters = 200000000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long n = 0; n < iters; n++) FMA12(mul, add);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    __m512 sum = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                               _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
    sum = _mm512_add_ps(sum, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
    printf("%.1f GFLOP/s f32 FMA (%.2f s; %g)\n", 2.0 * 16 * 12 * (double)iters / s / 1e9, s, (double)_mm512_reduce_add_ps(sum));
    return 0;
}
