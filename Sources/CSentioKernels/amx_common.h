#pragma once
/* Helpers shared by the AMX tile kernels (amx_bf16.c, amx_int8.c); x86-64 Linux only. */
#include "internal.h"
#include <stdlib.h>
#include <immintrin.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define AMX __attribute__((target("amx-tile,amx-bf16,amx-int8,avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

typedef struct { uint8_t palette, start; uint8_t res[14]; uint16_t colsb[16]; uint8_t rows[16]; } tilecfg;

/* Palette 1, all eight tiles 16 rows x 64 bytes. */
AMX static inline void config16x64(void) {
    tilecfg c;
    memset(&c, 0, sizeof c);
    c.palette = 1;
    for (int t = 0; t < 8; t++) { c.rows[t] = 16; c.colsb[t] = 64; }
    _tile_loadconfig(&c);
}

/* A 64-byte aligned buffer of at least `need` bytes, kept in *p between calls (NULL when allocation fails). */
static inline void *grow(void **p, size_t *cap, size_t need) {
    if (*cap < need) {
        free(*p);
        *p = aligned_alloc(64, (need + 63) / 64 * 64);
        *cap = *p ? need : 0;
    }
    return *p;
}


/* Stores the 16 x 16 dword transpose of r (r[j] = 16 bf16 pairs of row j) as one B tile: dst row p (64 bytes)
   = pair p of rows 0..15. Unpacks of 32- and 64-bit elements inside 128-bit lanes, then a 4 x 4 transpose
   of 128-bit lanes (64 shuffles per tile instead of 16 scatters). */
AMX static inline void store_transposed16(const __m512i r[16], void *dstv) {
    uint16_t *dst = (uint16_t *)dstv;
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {       /* b[4i + q], lane L: rows 4i..4i+3 at pair 4L + q */
        b[4 * i + 0] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    for (int q = 0; q < 4; q++) {       /* pair 4L + q = lane L of b[q], b[4 + q], b[8 + q], b[12 + q] */
        __m512i c0 = _mm512_shuffle_i32x4(b[q], b[4 + q], 0x44), c1 = _mm512_shuffle_i32x4(b[q], b[4 + q], 0xEE);
        __m512i c2 = _mm512_shuffle_i32x4(b[8 + q], b[12 + q], 0x44), c3 = _mm512_shuffle_i32x4(b[8 + q], b[12 + q], 0xEE);
        _mm512_store_si512((void *)(dst + (0 + q) * 32), _mm512_shuffle_i32x4(c0, c2, 0x88));
        _mm512_store_si512((void *)(dst + (4 + q) * 32), _mm512_shuffle_i32x4(c0, c2, 0xDD));
        _mm512_store_si512((void *)(dst + (8 + q) * 32), _mm512_shuffle_i32x4(c1, c3, 0x88));
        _mm512_store_si512((void *)(dst + (12 + q) * 32), _mm512_shuffle_i32x4(c1, c3, 0xDD));
    }
}

