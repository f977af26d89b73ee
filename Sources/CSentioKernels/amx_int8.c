/* AMX-INT8 tile GEMM for q8r weights (ISA level 4): y = x . W^T (+ bias) with one int8 scale per weight row
   and one per activation row, so a C tile accumulates exact int32 products over the whole k range and is
   scaled once at the end (tdpbssd: twice the work of tdpbf16ps per instruction; ~1280 GOPS per core here
   against ~650 GFLOP/s of bf16, docs/BENCHMARKS.md).

   q8r weights are stored as Q8_0 blocks whose scales are equal along each row (SentioCore.DType.q8r): every
   other kernel reads them as Q8_0. This kernel takes the row's first block scale as the row scale and checks
   the others while packing; a 128-row pass with a row whose scales differ is not computed (the return value
   says where it stopped, the caller computes the rest another way).

   Activations: row i quantized symmetrically over all its columns (sentio_quantize_rows_i8):
   s_i = max|x_i| / 127, q = round-to-nearest-even(x * (1 / s_i)) (0 when the row is zero), zero padded to
   a multiple of 64 columns. Output: y[i, r] = fma(float(sum_k q_ik w_rk), s_i * d_r, bias[r]), d_r = f16 scale.

   Tiles (palette 1), each 16 rows x 64 bytes: A = 16 activation rows x 64 k (int8, row stride ldq), B = 16
   k-quads x 16 weight rows x 4 (the layout tdpbssd reads), C = 16 x 16 int32. Micro-tile 32 x 32 as the
   bf16 kernel: tiles 4/5 = A rows 0-15 / 16-31, 6/7 = B weight rows 0-15 / 16-31, 0-3 = C.
   Packed weight group (32 rows): per k-step s of 64, two 1 KB B tiles (rows 0-15, 16-31). */
#include "internal.h"
#include <math.h>

/* Portable form of sentio_quantize_rows_i8 (same results: nearbyintf rounds to nearest even by default). */
static void quantize_rows_i8_scalar(const float *x, long ldx, long cols, long r0, long r1, int8_t *q, long ldq, float *scale) {
    for (long r = r0; r < r1; r++) {
        const float *s = x + r * ldx;
        float amax = 0;
        for (long k = 0; k < cols; k++) amax = fabsf(s[k]) > amax ? fabsf(s[k]) : amax;
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        scale[r] = d;
        for (long k = 0; k < ldq; k++) {
            float v = k < cols ? nearbyintf(s[k] * id) : 0.0f;
            q[r * ldq + k] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
    }
}

#if defined(__x86_64__) && defined(__linux__)
#include "amx_common.h"

#define AVX512 __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq")))

AVX512 static void quantize_rows_i8_512(const float *x, long ldx, long cols, long r0, long r1, int8_t *q, long ldq, float *scale) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    for (long r = r0; r < r1; r++) {
        const float *s = x + r * ldx;
        int8_t *o = q + r * ldq;
        __m512 mx = _mm512_setzero_ps();
        long k = 0;
        for (; k + 16 <= cols; k += 16) mx = _mm512_max_ps(mx, _mm512_andnot_ps(sign, _mm512_loadu_ps(s + k)));
        if (k < cols) mx = _mm512_max_ps(mx, _mm512_andnot_ps(sign, _mm512_maskz_loadu_ps((__mmask16)((1u << (cols - k)) - 1), s + k)));
        const float amax = _mm512_reduce_max_ps(mx), d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        scale[r] = d;
        const __m512 vid = _mm512_set1_ps(id);
        for (k = 0; k + 16 <= cols; k += 16)
            _mm_storeu_si128((__m128i *)(o + k), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(s + k), vid))));
        if (k < cols) {
            __mmask16 m = (__mmask16)((1u << (cols - k)) - 1);
            _mm_mask_storeu_epi8(o + k, m, _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, s + k), vid))));
            k = cols;
        }
        for (; k < ldq; k++) o[k] = 0;
    }
}

void sentio_quantize_rows_i8(const float *x, long ldx, long cols, long r0, long r1, int8_t *q, long ldq, float *scale) {
    if (sentio_isa_level() >= 2) quantize_rows_i8_512(x, ldx, cols, r0, r1, q, ldq, scale);
    else quantize_rows_i8_scalar(x, ldx, cols, r0, r1, q, ldq, scale);
}

/* 64 int8 weights of a q8r row from k-step s (blocks 2s and 2s + 1; zeros past the row's nb blocks). */
AMX static inline __m512i row_step64(const uint8_t *row, long s, long nb) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)(row + 2 * s * 34 + 2));
    __m256i hi = 2 * s + 1 < nb ? _mm256_loadu_si256((const __m256i *)(row + (2 * s + 1) * 34 + 2)) : _mm256_setzero_si256();
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* 1 when every block of the row has the first block's scale bits. */
static inline int row_scale_shared(const uint8_t *row, long nb) {
    uint16_t d0, d;
    memcpy(&d0, row, 2);
    for (long b = 1; b < nb; b++) { memcpy(&d, row + b * 34, 2); if (d != d0) return 0; }
    return 1;
}

/* Packs weight rows [rr, rr + h) (h <= 32; rows h..31 as zeros) as B tiles: k-step s at dst + s * 2048 +
   half * 1024, element (quad p, column j, e) = row 16 half + j, k = 64 s + 4 p + e; their scales into ws. */
AMX static void pack_group_i8(const uint8_t *w, size_t rowBytes, long rr, int h, long nb, long ks, int8_t *dst, float *ws) {
    __m512i r[16];
    for (int j = 0; j < 32; j++) {
        uint16_t d;
        if (j < h) memcpy(&d, w + (size_t)(rr + j) * rowBytes, 2);
        ws[j] = j < h ? sk_f16_to_f32(d) : 0.0f;
    }
    for (int half = 0; half < 2; half++)
        for (long s = 0; s < ks; s++) {
            for (int j = 0; j < 16; j++) {
                int jj = 16 * half + j;
                r[j] = jj < h ? row_step64(w + (size_t)(rr + jj) * rowBytes, s, nb) : _mm512_setzero_si512();
            }
            store_transposed16(r, dst + s * 2048 + half * 1024);
        }
}

/* 32 x 32 int32 outputs over ks k-steps: a = 32 int8 activation rows (row stride lda bytes), b = packed group. */
AMX static inline void micro32_i8(const int8_t *a, long lda, const int8_t *b, long ks, int32_t *c) {
    const int8_t *a1 = a + 16 * lda;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (long s = 0; s < ks; s++) {
        _tile_loadd(4, a + 64 * s, lda);
        _tile_loadd(6, b + 2048 * s, 64);
        _tile_loadd(5, a1 + 64 * s, lda);
        _tile_loadd(7, b + 2048 * s + 1024, 64);
        _tile_dpbssd(0, 4, 6);
        _tile_dpbssd(1, 4, 7);
        _tile_dpbssd(2, 5, 6);
        _tile_dpbssd(3, 5, 7);
    }
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    _tile_stored(2, c + 512, 128);
    _tile_stored(3, c + 528, 128);
}

#define NB 128   /* weight rows packed per pass (K = 5120: 640 KB of int8, L2) */

static _Thread_local int8_t *tl_bp;
static _Thread_local size_t tl_bp_cap;

AMX long sentio_gemm_amx_i8(const void *w, size_t rowBytes, long cols, long r0, long r1, const int8_t *xq, long ldq,
                            const float *xs, long n, float *y, long ldy, const float *bias) {
    if (!(sentio_cpu_features() & SENTIO_CPU_AMX) || ldq % 64 || ldq < cols || cols % 32 || n <= 0) return r0;
    const long ks = ldq / 64, nb = cols / 32;
    if (!grow((void **)&tl_bp, &tl_bp_cap, (size_t)NB * ldq)) return r0;
    int32_t cb[32 * 32] __attribute__((aligned(64)));
    float ws[NB] __attribute__((aligned(64)));
    const uint8_t *wb = (const uint8_t *)w;
    config16x64();
    for (long rb = r0; rb < r1; rb += NB) {
        const long hb = r1 - rb < NB ? r1 - rb : NB, groups = (hb + 31) / 32;
        for (long r = rb; r < rb + hb; r++)
            if (!row_scale_shared(wb + (size_t)r * rowBytes, nb)) { _tile_release(); return rb; }
        for (long g = 0; g < groups; g++) {
            long rr = rb + 32 * g;
            int h = r1 - rr < 32 ? (int)(r1 - rr) : 32;
            pack_group_i8(wb, rowBytes, rr, h, nb, ks, tl_bp + g * ks * 2048, ws + 32 * g);
        }
        for (long i = 0; i < n; i += 32) {
            const int m = n - i < 32 ? (int)(n - i) : 32;
            for (long g = 0; g < groups; g++) {
                long rr = rb + 32 * g;
                int h = r1 - rr < 32 ? (int)(r1 - rr) : 32;
                micro32_i8(xq + i * ldq, ldq, tl_bp + g * ks * 2048, ks, cb);
                __mmask16 m0 = h >= 16 ? 0xFFFF : (__mmask16)((1u << h) - 1);
                __mmask16 m1 = h > 16 ? (h >= 32 ? 0xFFFF : (__mmask16)((1u << (h - 16)) - 1)) : 0;
                __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias + rr) : _mm512_setzero_ps();
                __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + rr + 16) : _mm512_setzero_ps();
                __m512 w0 = _mm512_load_ps(ws + 32 * g), w1 = _mm512_load_ps(ws + 32 * g + 16);
                for (int ii = 0; ii < m; ii++) {
                    __m512 sx = _mm512_set1_ps(xs[i + ii]);
                    float *yo = y + (i + ii) * ldy + rr;
                    __m512 c0 = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(cb + 32 * ii)));
                    __m512 c1 = _mm512_cvtepi32_ps(_mm512_load_si512((const void *)(cb + 32 * ii + 16)));
                    _mm512_mask_storeu_ps(yo, m0, _mm512_fmadd_ps(c0, _mm512_mul_ps(w0, sx), b0));
                    _mm512_mask_storeu_ps(yo + 16, m1, _mm512_fmadd_ps(c1, _mm512_mul_ps(w1, sx), b1));
                }
            }
        }
    }
    _tile_release();
    return r1;
}

#else
void sentio_quantize_rows_i8(const float *x, long ldx, long cols, long r0, long r1, int8_t *q, long ldq, float *scale) {
    quantize_rows_i8_scalar(x, ldx, cols, r0, r1, q, ldq, scale);
}
long sentio_gemm_amx_i8(const void *w, size_t rowBytes, long cols, long r0, long r1, const int8_t *xq, long ldq,
                        const float *xs, long n, float *y, long ldy, const float *bias) {
    (void)w; (void)rowBytes; (void)cols; (void)r1; (void)xq; (void)ldq; (void)xs; (void)n; (void)y; (void)ldy; (void)bias;
    return r0;
}
#endif
