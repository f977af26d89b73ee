/* q8 / q4 weight x Q8_0 activation GEMM with AMX-INT8 tiles (Intel Sapphire Rapids and later; ISA level 4).

   tdpbsud: A = 16 activation rows x 32 signed bytes (one Q8_0 block, read in place from xq->qs with the
   row stride), B = the same packed weight group as the 512-bit VNNI kernel (qgemm_512.c: per block 8
   steps x [32 rows x 4 unsigned bytes]; the tile for weight rows 0-15 starts at the block, rows 16-31 at
   +64, row stride 128), C = 16 x 16 int32 dots. Per block: 2 A tiles x 2 B tiles -> 4 C tiles (32 x 32
   outputs), stored to L1, then per C row the same float step as the other kernels: subtract the
   zero-point correction, convert, FMA with d_w * d_x into f32 accumulators (kept in an L1 buffer).
   Activation rows past n are taken from a zero-padded copy (never read out of bounds).
   Linux needs arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) once per process before tile use:
   dispatch.c requests it when the CPU reports AMX-INT8 and enables level 4 only if the kernel agrees. */
#include "internal.h"
#include <stdlib.h>
#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <unistd.h>
#include <sys/syscall.h>

int sk_amx_request(void) {
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((d >> 24) & 1) || !((d >> 25) & 1)) return 0;         /* AMX-TILE, AMX-INT8 */
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) == 0;
}

typedef struct { uint8_t palette, start; uint8_t res[14]; uint16_t colsb[16]; uint8_t rows[16]; } tilecfg;

#define GR 32
#define GBLK (8 * GR * 4 + GR * 4)
#define AMX_TARGET __attribute__((target("amx-tile,amx-int8,avx2,fma,f16c,avx512f,avx512bw,avx512vl")))

static _Thread_local uint8_t *tl_wpack;
static _Thread_local size_t tl_wpack_cap;
static _Thread_local int8_t *tl_xpad;
static _Thread_local size_t tl_xpad_cap;

static void *grow(void **p, size_t *cap, size_t need) {
    if (*cap < need) {
        free(*p);
        *p = aligned_alloc(64, (need + 63) / 64 * 64);
        *cap = *p ? need : 0;
    }
    return *p;
}

/* 32 weight rows (h valid) x 32 activation rows from x (row stride cols; mr valid, rows from i0). */
AMX_TARGET static void tile32(const uint8_t *pk, long nb, const int8_t *x, long cols, const sentio_xq *xq, long i0,
                              int mr, float *y, long ldy, long r, int h, const float *bias) {
    static _Thread_local int32_t cbuf[4][16][16] __attribute__((aligned(64)));
    static _Thread_local float acc[32][32] __attribute__((aligned(64)));
    memset(acc, 0, sizeof acc);
    for (long b = 0; b < nb; b++) {
        const uint8_t *blk = pk + b * GBLK;
        _tile_loadd(4, x + b * 32, cols);
        _tile_loadd(5, x + 16 * cols + b * 32, cols);
        _tile_loadd(6, blk, 128);
        _tile_loadd(7, blk + 64, 128);
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        _tile_dpbsud(0, 4, 6); _tile_dpbsud(1, 4, 7);
        _tile_dpbsud(2, 5, 6); _tile_dpbsud(3, 5, 7);
        _tile_stored(0, cbuf[0], 64); _tile_stored(1, cbuf[1], 64);
        _tile_stored(2, cbuf[2], 64); _tile_stored(3, cbuf[3], 64);
        const float *sc = (const float *)(blk + 8 * GR * 4);
        __m512 d0 = _mm512_load_ps(sc), d1 = _mm512_load_ps(sc + 16);
        for (int i = 0; i < mr; i++) {
            long xi = (i0 + i) * nb + b;
            __m512i C = _mm512_set1_epi32(xq->corr[xi]);
            __m512 dx = _mm512_set1_ps(xq->d[xi]);
            int t = i < 16 ? 0 : 2, row = i & 15;
            __m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(cbuf[t][row]), C));
            __m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(cbuf[t + 1][row]), C));
            _mm512_store_ps(acc[i], _mm512_fmadd_ps(v0, _mm512_mul_ps(d0, dx), _mm512_load_ps(acc[i])));
            _mm512_store_ps(acc[i] + 16, _mm512_fmadd_ps(v1, _mm512_mul_ps(d1, dx), _mm512_load_ps(acc[i] + 16)));
        }
    }
    __mmask16 m0 = h >= 16 ? 0xFFFF : (__mmask16)((1u << h) - 1);
    __mmask16 m1 = h > 16 ? (h >= 32 ? 0xFFFF : (__mmask16)((1u << (h - 16)) - 1)) : 0;
    __m512 bv0 = bias ? _mm512_maskz_loadu_ps(m0, bias + r) : _mm512_setzero_ps();
    __m512 bv1 = bias ? _mm512_maskz_loadu_ps(m1, bias + r + 16) : _mm512_setzero_ps();
    for (int i = 0; i < mr; i++) {
        float *yo = y + (i0 + i) * ldy + r;
        _mm512_mask_storeu_ps(yo, m0, _mm512_add_ps(_mm512_load_ps(acc[i]), bv0));
        _mm512_mask_storeu_ps(yo + 16, m1, _mm512_add_ps(_mm512_load_ps(acc[i] + 16), bv1));
    }
}

AMX_TARGET int sk_qgemm_amx(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                            const sentio_xq *xq, float *y, long ldy, const float *bias) {
    const long cols = xq->cols, nb = cols / 32, n = xq->n;
    long tail = n % 32, nfull = n - tail;
    if (!grow((void **)&tl_wpack, &tl_wpack_cap, (size_t)nb * GBLK)) return 0;
    if (tail && !grow((void **)&tl_xpad, &tl_xpad_cap, (size_t)32 * cols)) return 0;
    if (tail) {   /* the last activation rows, zero padded to 32 */
        memcpy(tl_xpad, xq->qs + nfull * cols, (size_t)tail * cols);
        memset(tl_xpad + tail * cols, 0, (size_t)(32 - tail) * cols);
    }
    tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 4; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }   /* C: 16 x 16 int32 */
    for (int t = 4; t < 6; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 32; }   /* A: 16 rows x one block */
    for (int t = 6; t < 8; t++) { cfg.rows[t] = 8; cfg.colsb[t] = 64; }    /* B: 8 steps x 16 rows x 4 */
    _tile_loadconfig(&cfg);
    for (long r = r0; r < r1; r += GR) {
        int h = r1 - r < GR ? (int)(r1 - r) : GR;
        sk_pack_group(wtype, (const uint8_t *)w, rowBytes, r, h, nb, tl_wpack);
        for (long i = 0; i < nfull; i += 32)
            tile32(tl_wpack, nb, xq->qs + i * cols, cols, xq, i, 32, y, ldy, r, h, bias);
        if (tail) tile32(tl_wpack, nb, tl_xpad, cols, xq, nfull, (int)tail, y, ldy, r, h, bias);
    }
    _tile_release();
    return 1;
}
#else
int sk_amx_request(void) { return 0; }
int sk_qgemm_amx(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                 const sentio_xq *xq, float *y, long ldy, const float *bias) {
    (void)wtype; (void)w; (void)rowBytes; (void)r0; (void)r1; (void)xq; (void)y; (void)ldy; (void)bias;
    return 0;
}
#endif
