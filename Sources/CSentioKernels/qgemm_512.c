/* q8 / q4 weight x Q8_0 activation GEMM for n > SK_QGEMV_MAX_N (4) activation rows, 512-bit AVX-512 VNNI.

   Weights are repacked once per call (all rows of the call's range), 32 rows at a time, so that one zmm
   holds 4 consecutive k-bytes of 16 weight rows (one 32-bit lane per row): vpdpbusd with the 4 activation
   bytes broadcast to every lane then accumulates 16 row dots at once, with no horizontal adds.
   Packed group layout (the contract of sk_pack_group), per Q8_0 block b, GBLK =
   1152 bytes: 8 steps s x [32 rows x 4 bytes] (k = 4s..4s+3), unsigned (q8: w + 128, q4: nibble 0..15, q5: 0..31,
   unpacked once here and reused by every activation row), followed by the 32 row scales as f32.
   Micro-tile: 32 weight rows x MR = 6 activation rows: 12 int32 accumulators for the current block
   (started at -corr, the zero-point correction), 12 f32 accumulators; per block and (row, col) one convert
   and one FMA with scale d_w * d_x (the same products as the scalar twin, in the same order).
   Blocking: see KCB / MCX below. Measured (KernelBench omni, 1 thread, CPU time; docs/BENCHMARKS.md):
   1500x1280x1280 150 -> 330-370 GOPS, 1500x5120x1280 150 -> 290-340 (of ~650 peak vpdpbusd per core). */
#include "internal.h"
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>

#define GR 32                         /* weight rows per packed group */
#define MRX 6                         /* activation rows per micro-tile */
#define GBLK (8 * GR * 4 + GR * 4)    /* packed bytes per block: 1024 weight bytes + 32 scales */

static _Thread_local uint8_t *tl_pack;
static _Thread_local size_t tl_pack_cap;

/* Packs rows [r, r + h) (h <= 32; missing rows zero with zero scale) of nb blocks. For each half of 16
   rows, one dword gather per step collects the 4 bytes of step s from every row (a 16 x 8 dword transpose);
   q8 bytes get w ^ 0x80 = w + 128, q4 steps 0-3 take the low nibbles of bytes 4s.., steps 4-7 the high
   nibbles of bytes 4(s-4)... Masked-off rows read nothing and pack as zero weights with scale 0. */
__attribute__((target("avx2,f16c,avx512f,avx512bw,avx512vl")))
void sk_pack_group(int wtype, const uint8_t *w, size_t rowBytes, long r, int h, long nb, uint8_t *out) {
    const long bs = wtype == SENTIO_Q8 ? 34 : wtype == SENTIO_Q5 ? 22 : 18, qo = wtype == SENTIO_Q5 ? 6 : 2;
    /* q5: the 4 high bits of a step (qh >> 4s) spread to bit 4 of each of the step's 4 bytes (sk_q5_spread) */
    const __m512i spread = sk_q5_spread;
    const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                           _mm512_set1_epi32((int)rowBytes));
    const __m512i flip = _mm512_set1_epi32((int)0x80808080), low = _mm512_set1_epi32(0x0F0F0F0F);
    for (int half = 0; half < 2; half++) {
        int hv = h - 16 * half;
        __mmask16 m = hv >= 16 ? 0xFFFF : hv <= 0 ? 0 : (__mmask16)((1u << hv) - 1);
        const uint8_t *base = w + (size_t)(r + 16 * half) * rowBytes;
        for (long b = 0; b < nb; b++) {
            const uint8_t *bb = base + b * bs;
            uint8_t *dst = out + b * GBLK + 64 * half;
            __m512i hs = m ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, bb, 1) : _mm512_setzero_si512();
            __m512 sc = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(hs));
            _mm512_store_ps((float *)(out + b * GBLK + 8 * GR * 4) + 16 * half, sc);
            if (wtype == SENTIO_Q8) {
                for (int st = 0; st < 8; st++) {
                    __m512i v = m ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, bb + 2 + 4 * st, 1)
                                  : _mm512_setzero_si512();
                    _mm512_store_si512((void *)(dst + st * GR * 4), _mm512_xor_si512(v, flip));
                }
            } else {
                const __m512i qh = wtype == SENTIO_Q5 && m ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, bb + 2, 1)
                                                           : _mm512_setzero_si512();
                for (int st = 0; st < 4; st++) {
                    __m512i v = m ? _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, idx, bb + qo + 4 * st, 1)
                                  : _mm512_setzero_si512();
                    __m512i lo = _mm512_and_si512(v, low), hi = _mm512_and_si512(_mm512_srli_epi32(v, 4), low);
                    if (wtype == SENTIO_Q5) {
                        lo = _mm512_or_si512(lo, _mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 4 * st), spread));
                        hi = _mm512_or_si512(hi, _mm512_permutexvar_epi32(_mm512_srli_epi32(qh, 16 + 4 * st), spread));
                    }
                    _mm512_store_si512((void *)(dst + st * GR * 4), lo);
                    _mm512_store_si512((void *)(dst + (st + 4) * GR * 4), hi);
                }
            }
        }
    }
}

#define VNNI512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

/* Cache blocking (measured on the Whisper / Qwen2 prefill shapes, KernelBench omni): the weight rows of a
   call are packed once (in passes of at most pack_max bytes); then for each block of MCX activation rows (their int8 rows stay in L2), each
   32-row group and each KCB-block slice of k (9 KB of packed weights: stays in L1 while all the block's
   6-row tiles pass over it), the tile adds its slice's per-block terms to the f32 outputs, which live in
   y between slices (first slice: start from 0; last: add the bias). */
#ifndef KCB
#define KCB 16                        /* Q8_0 blocks per k slice */
#endif
/* Bytes of packed weights per pass (the thread-local buffer, kept between calls); settable for tests. */
static size_t pack_max = (size_t)4 << 20;
void sentio_qgemm_set_pack_limit(size_t bytes) { pack_max = bytes ? bytes : (size_t)4 << 20; }
#ifndef MCX
#define MCX 192                       /* activation rows per L2 block (multiple of MRX) */
#endif

/* One 32-row x mr-row tile over blocks [b0, b1). The int32 dot of each block starts at -corr (the
   zero-point correction folded into the accumulator's initial value: a broadcast load, no vector op),
   then one convert and one FMA with d_w * d_x per block and 16 outputs. */
VNNI512 __attribute__((always_inline)) static inline void tile(const uint8_t *pk, long b0, long b1, const sentio_xq *xq, long i0, int mr,
                                float *y, long ldy, long r, int h, const float *bias, int first, int last) {
    const long cols = xq->cols, nb = cols / 32;
    __mmask16 m0 = h >= 16 ? 0xFFFF : (__mmask16)((1u << h) - 1);
    __mmask16 m1 = h > 16 ? (h >= 32 ? 0xFFFF : (__mmask16)((1u << (h - 16)) - 1)) : 0;
    __m512 f0[MRX], f1[MRX];
    for (int i = 0; i < mr; i++) {
        if (first) { f0[i] = _mm512_setzero_ps(); f1[i] = _mm512_setzero_ps(); }
        else {
            const float *yo = y + (i0 + i) * ldy + r;
            f0[i] = _mm512_maskz_loadu_ps(m0, yo);
            f1[i] = _mm512_maskz_loadu_ps(m1, yo + 16);
        }
    }
    const int8_t *x0 = xq->qs + i0 * cols;
    const int32_t *corr = xq->corr + i0 * nb;
    const float *dxs = xq->d + i0 * nb;
    for (long b = b0; b < b1; b++) {
        const uint8_t *blk = pk + b * GBLK;
        __m512i a0[MRX], a1[MRX];
        for (int i = 0; i < mr; i++) { a0[i] = _mm512_set1_epi32(-corr[i * nb + b]); a1[i] = a0[i]; }
        for (int s = 0; s < 8; s++) {
            __m512i W0 = _mm512_load_si512((const void *)(blk + s * GR * 4));
            __m512i W1 = _mm512_load_si512((const void *)(blk + s * GR * 4 + 64));
            for (int i = 0; i < mr; i++) {
                int32_t xv; memcpy(&xv, x0 + i * cols + b * 32 + 4 * s, 4);
                __m512i X = _mm512_set1_epi32(xv);
                a0[i] = _mm512_dpbusd_epi32(a0[i], W0, X);
                a1[i] = _mm512_dpbusd_epi32(a1[i], W1, X);
            }
        }
        const float *sc = (const float *)(blk + 8 * GR * 4);
        __m512 d0 = _mm512_load_ps(sc), d1 = _mm512_load_ps(sc + 16);
        for (int i = 0; i < mr; i++) {
            __m512 dx = _mm512_set1_ps(dxs[i * nb + b]);
            f0[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[i]), _mm512_mul_ps(d0, dx), f0[i]);
            f1[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[i]), _mm512_mul_ps(d1, dx), f1[i]);
        }
    }
    __m512 bv0 = _mm512_setzero_ps(), bv1 = _mm512_setzero_ps();
    if (last && bias) { bv0 = _mm512_maskz_loadu_ps(m0, bias + r); bv1 = _mm512_maskz_loadu_ps(m1, bias + r + 16); }
    for (int i = 0; i < mr; i++) {
        float *yo = y + (i0 + i) * ldy + r;
        _mm512_mask_storeu_ps(yo, m0, _mm512_add_ps(f0[i], bv0));
        _mm512_mask_storeu_ps(yo + 16, m1, _mm512_add_ps(f1[i], bv1));
    }
}

/* One specialized copy per tile height (constant mr: accumulators stay in registers, no branches). */
#define TILE_MR(M) VNNI512 __attribute__((noinline)) static void tile##M(const uint8_t *pk, long b0, long b1,    \
        const sentio_xq *xq, long i0, float *y, long ldy, long r, int h, const float *bias, int first, int last) { \
    tile(pk, b0, b1, xq, i0, M, y, ldy, r, h, bias, first, last); }
TILE_MR(1) TILE_MR(2) TILE_MR(3) TILE_MR(4) TILE_MR(5) TILE_MR(6)

/* Returns 0 when the packing buffer cannot be allocated (the caller then uses another kernel). */
VNNI512 int sk_qgemm_vnni512(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                             const sentio_xq *xq, float *y, long ldy, const float *bias) {
    const long nb = xq->cols / 32, n = xq->n;
    const long groups = (r1 - r0 + GR - 1) / GR;
    /* Groups packed at a time: the whole range, up to pack_max bytes (the buffer is thread-local and
       kept between calls: an lm_head-sized range must not leave 100+ MB behind per thread). */
    const size_t groupBytes = (size_t)nb * GBLK;
    long span = (long)(pack_max / groupBytes);
    if (span < 1) span = 1;
    if (span > groups) span = groups;
    size_t need = (size_t)span * groupBytes;
    if (tl_pack_cap < need) {
        free(tl_pack);
        tl_pack = aligned_alloc(64, (need + 63) / 64 * 64);
        tl_pack_cap = tl_pack ? need : 0;
        if (!tl_pack) return 0;
    }
    for (long gs = 0; gs < groups; gs += span) {
        long ge = gs + span < groups ? gs + span : groups;
        for (long g = gs; g < ge; g++) {
            long r = r0 + g * GR;
            int h = r1 - r < GR ? (int)(r1 - r) : GR;
            sk_pack_group(wtype, (const uint8_t *)w, rowBytes, r, h, nb, tl_pack + (size_t)(g - gs) * groupBytes);
        }
        for (long ic = 0; ic < n; ic += MCX) {
            long ie = ic + MCX < n ? ic + MCX : n;
            for (long g = gs; g < ge; g++) {
                long r = r0 + g * GR;
                int h = r1 - r < GR ? (int)(r1 - r) : GR;
                const uint8_t *pk = tl_pack + (size_t)(g - gs) * groupBytes;
                for (long b0 = 0; b0 < nb; b0 += KCB) {
                    long b1 = b0 + KCB < nb ? b0 + KCB : nb;
                    int first = b0 == 0, last = b1 == nb;
                    long i = ic;
                    for (; i + MRX <= ie; i += MRX) tile6(pk, b0, b1, xq, i, y, ldy, r, h, bias, first, last);
                    switch (ie - i) {
                    case 5: tile5(pk, b0, b1, xq, i, y, ldy, r, h, bias, first, last); break;
                    case 4: tile4(pk, b0, b1, xq, i, y, ldy, r, h, bias, first, last); break;
                    case 3: tile3(pk, b0, b1, xq, i, y, ldy, r, h, bias, first, last); break;
                    case 2: tile2(pk, b0, b1, xq, i, y, ldy, r, h, bias, first, last); break;
                    case 1: tile1(pk, b0, b1, xq, i, y, ldy, r, h, bias, first, last); break;
                    default: break;
                    }
                }
            }
        }
    }
    return 1;
}
#else
void sentio_qgemm_set_pack_limit(size_t bytes) { (void)bytes; }
int sk_qgemm_vnni512(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                     const sentio_xq *xq, float *y, long ldy, const float *bias) {
    (void)wtype; (void)w; (void)rowBytes; (void)r0; (void)r1; (void)xq; (void)y; (void)ldy; (void)bias;
    return 0;
}
#endif
