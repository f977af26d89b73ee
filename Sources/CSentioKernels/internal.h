#pragma once
/* Internal declarations shared by the per-ISA files. */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include "sentio_kernels.h"

static inline float sk_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1F, man = h & 0x3FF, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalize */
            int e = -1; do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3FF) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7F800000u | (man << 13);
    else bits = sign | ((exp + 112) << 23) | (man << 13);
    float f; memcpy(&f, &bits, 4); return f;
}
/* The decode GEMVs walk 4 weight rows side by side. Where rows are short (a 4-row tile of at most
   SK_SEQ_PF_TILE bytes: every 896-wide Qwen2 matrix and the head), the hardware prefetchers follow the 4
   interleaved streams poorly (AMD Zen 4: ~10 GB/s per thread from DRAM against 24 GB/s for one stream),
   so the kernels prefetch the next tile's bytes in address order while they work on the current one
   (docs/BENCHMARKS.md, seventh session). Longer rows: below (sk_next_long_tile), or per-row prefetch. */
#ifndef SK_SEQ_PF_TILE   /* -Xcc -DSK_SEQ_PF_TILE=N for experiments */
#define SK_SEQ_PF_TILE 16384
#endif
static inline int sk_seq_prefetch(size_t rowBytes) { return 4 * rowBytes <= SK_SEQ_PF_TILE; }
/* The 4-row tile `tiles` tiles after the one starting at row r, for the kernels to prefetch; NULL where rows are too
   long. (Past the caller's row range it points into the next range or past the matrix: a prefetch never faults.) */
static inline const uint8_t *sk_tile_ahead(const void *w, size_t rowBytes, long r, long tiles) {
    return sk_seq_prefetch(rowBytes) ? (const uint8_t *)w + (size_t)(r + 4 * tiles) * rowBytes : NULL;
}
/* The next tile (most kernels' prefetch distance). */
static inline const uint8_t *sk_next_tile(const void *w, size_t rowBytes, long r) { return sk_tile_ahead(w, rowBytes, r, 1); }
/* Longer tiles, up to SK_SEQ_L2_TILE bytes (e.g. Qwen2's ffn_down, 4864-wide rows), are walked the same way with the
   next tile prefetched into L2 (prefetcht1), whose miss buffers keep more lines in flight than L1's: per-row
   prefetch left the 4 streams of such rows at 12-18 GB/s at one thread against 25-28 for the short rows (q8, f16;
   docs/BENCHMARKS.md, eleventh session). The GEMVs that do this call sk_next_long_tile for their prefetch target and
   sk_prefetch_tile_upto with sk_long_tile's answer. */
#ifndef SK_SEQ_L2_TILE
#define SK_SEQ_L2_TILE 65536
#endif
static inline int sk_long_tile(size_t rowBytes) { return 4 * rowBytes > SK_SEQ_PF_TILE; }
static inline const uint8_t *sk_next_long_tile(const void *w, size_t rowBytes, long r) {
    return 4 * rowBytes <= SK_SEQ_L2_TILE ? (const uint8_t *)w + (size_t)(r + 4) * rowBytes : NULL;
}
/* Prefetches the cache lines from *cursor up to end (exclusive) and advances the cursor. */
static inline void sk_prefetch_upto(const uint8_t **cursor, const uint8_t *end) {
    while (*cursor < end) { __builtin_prefetch(*cursor, 0, 3); *cursor += 64; }
}
/* The same into L2 (prefetcht1), for kernels that prefetch further ahead than L1's miss buffers can hold. */
static inline void sk_prefetch_upto_l2(const uint8_t **cursor, const uint8_t *end) {
    while (*cursor < end) { __builtin_prefetch(*cursor, 0, 2); *cursor += 64; }
}
/* The next-tile prefetch of the GEMVs that walk long tiles too: into L2 where l2 (sk_long_tile), else into L1. */
static inline void sk_prefetch_tile_upto(const uint8_t **cursor, const uint8_t *end, int l2) {
    if (l2) sk_prefetch_upto_l2(cursor, end); else sk_prefetch_upto(cursor, end);
}
/* Round to nearest even, as Swift's Float16(Float). */
static inline uint16_t sk_f32_to_f16(float f) {
    uint32_t x; memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7FFFFFFF;
    if (ax > 0x7F800000) return (uint16_t)(sign | 0x7E00 | ((ax >> 13) & 0x3FF));
    if (ax >= 0x477FF000) return (uint16_t)(sign | 0x7C00);          /* rounds to >= 65520: inf */
    if (ax < 0x38800000) {                                            /* subnormal or zero in f16 */
        if (ax < 0x33000000) return (uint16_t)sign;                   /* < 2^-25: zero */
        uint32_t e = ax >> 23, m = (ax & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e;                                     /* value / 2^-24 = m * 2^(e-126) */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ax - 0x38000000;                                     /* rebias exponent 127 -> 15 */
    uint32_t rem = r & 0x1FFF, q = r >> 13;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++;
    return (uint16_t)(sign | q);
}
static inline float sk_bf16_to_f32(uint16_t h) { uint32_t b = (uint32_t)h << 16; float f; memcpy(&f, &b, 4); return f; }

/* Per-ISA entry points (same contracts as the public functions). */
/* Scalar twin of the q8 / q4 / q5 kernels: signed integer dots computed directly (xq->corr is not read, so it serves as
   the fallback at any ISA level). */
void sk_qgemm_scalar(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
void sk_qgemm_avx2(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
void sk_qgemm_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
/* Decode GEMV paths (n <= SK_QGEMV_MAX_N activation rows), same contract as sentio_qgemm. */
#define SK_QGEMV_MAX_N 4
void sk_qgemv_avx2(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
void sk_qgemv_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
/* Batched-decode GEMV (qgemv_x86.c), AVX-512 VNNI, SK_QGEMV_MAX_N < n <= sk_qgemvn_max() activation rows,
   q8 / q4 / q4_1 weights read in place (no repacking); same contract as sentio_qgemm. Returns 0 when it
   cannot run (n out of range, scratch allocation failed): the caller then uses another kernel. */
#define SK_QGEMVN_MAX_N 16      /* what the kernel handles (one or two 8-row activation vectors) */
#define SK_QGEMVN_DEFAULT_N 16  /* what dispatch gives it by default (sentio_qgemm_set_batch_gemv_max) */
long sk_qgemvn_max(void);
int sk_qgemvn_rowlane_on(void);   /* whole 16-row groups on the row-lane kernel (default 1) */
int sk_qgemvn_vnni(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
/* The row-lane part alone (q8 / q4 / q4_1 / q5, 5 <= n <= SK_QGEMVN_MAX_N): whole 16-row groups of [r0, r1); returns the
   first row not done (r0 when n is out of range). */
long sk_qgemvn_rowlane_run(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                           const float *bias);
void sk_fgemm_scalar(int wtype, const void *w, long cols, long r0, long r1, const float *x, long ldx, long n, float *y, long ldy, const float *bias);
void sk_fgemm_avx2(int wtype, const void *w, long cols, long r0, long r1, const float *x, long ldx, long n, float *y, long ldy, const float *bias);
void sk_fgemm_avx512(int wtype, const void *w, long cols, long r0, long r1, const float *x, long ldx, long n, float *y, long ldy, const float *bias);
/* Weight zero-point the integer kernel of this ISA expects in corr (c * sum q). */
int sk_qgemm_corr(int wtype, int isa);
void sk_sgemm_scalar(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
                     const void *B, int btype, long ldb, float beta, float *C, long ldc);
void sk_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
                     const void *B, int btype, long ldb, float beta, float *C, long ldc);
/* 512-bit VNNI GEMM with per-call weight repacking (n > SK_QGEMV_MAX_N); returns 0 if it could not run. */
int sk_qgemm_vnni512(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
/* Packs weight rows [r, r+h) (h <= 32) of nb blocks for the 512-bit VNNI and AMX kernels (qgemm_512.c). */
void sk_pack_group(int wtype, const uint8_t *w, size_t rowBytes, long r, int h, long nb, uint8_t *out);
/* amx_bf16.c: 1 when the CPU has AMX-TILE + AMX-BF16, the OS granted the tile state to this process and a
   probe product (first in a forked child) gave the right answer. */
int sk_amx_request(void);
/* q4_1 (affine 4-bit) weights, qgemm_q41.c: all n, dispatched by ISA; scalar twin; one row to f32. */
void sk_qgemm_q41(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
void sk_q41_scalar(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
void sk_dequant_q41_row(const uint8_t *src, long cols, float *out);
/* q5 (ggml Q5_0) weights, qgemm_q5.c: all n, dispatched by ISA; one row to f32. (Scalar twin: sk_qgemm_scalar.) */
void sk_qgemm_q5(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy, const float *bias);
void sk_dequant_q5_row(const uint8_t *src, long cols, float *out);
/* A q5 block's 32 high bits (bit j: bit 4 of weight j), and weight j's signed level q - 16 (-16..15) given them. */
static inline uint32_t sk_q5_qh(const uint8_t *blk) { uint32_t h; memcpy(&h, blk + 2, 4); return h; }
static inline int32_t sk_q5_level(const uint8_t *blk, uint32_t qh, int j) {
    const uint8_t nib = j < 16 ? blk[6 + j] & 15 : blk[6 + j - 16] >> 4;
    return (int32_t)(nib | (((qh >> j) & 1) << 4)) - 16;
}
/* q5, AVX-512 (immintrin.h in scope): the dword table that spreads 4 high bits v (0..15) to bit 4 of the 4 bytes of a
   dword (byte j gets 16 where bit j of v is set); _mm512_permutexvar_epi32(x, sk_q5_spread) reads only x's low 4 bits. */
#define sk_q5_spread _mm512_setr_epi32(0x00000000, 0x00000010, 0x00001000, 0x00001010, 0x00100000, 0x00100010, 0x00101000, \
    0x00101010, 0x10000000, 0x10000010, 0x10001000, 0x10001010, 0x10100000, 0x10100010, 0x10101000, 0x10101010)
/* The four-block VNNI decode GEMV (qgemv_x86.c) for q4, q4_1 or q5 weights, n <= SK_QGEMV_MAX_N activation rows. */
void sk_qgemv_vnni_x4(int wtype, const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                      const float *bias);
