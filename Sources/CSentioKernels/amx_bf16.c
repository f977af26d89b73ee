/* AMX-BF16 tile kernels (Intel Sapphire Rapids and later; ISA level 4): the GEMM y = x . W^T (+ bias) for
   weights of any stored type once n >= 32 activation rows (Linear.amxMinRows), and full (bidirectional)
   encoder attention for head dim 64.

   Why bf16 tiles and not int8 ones: Q8_0 weights carry one scale per 32 k-values, so an int8 tile product
   would have to be taken out of the tiles and rescaled every 32 k (the old qgemm_amx.c did that, and the
   float epilogue ran at the speed of the VNNI kernel). Weights stored with one scale per row (q8r) do run on
   int8 tiles: amx_int8.c. Here each weight group is dequantized once per call
   (sentio_dequant_rows) and rounded to bf16 while packing, the activations are rounded to bf16 once, and a
   C tile accumulates in f32 over the whole k range. Measured on this project's VM (Benchmarks/peak and
   docs/BENCHMARKS.md): tdpbf16ps ~650 GFLOP/s per core against ~650 GOPS of vpdpbusd and 167 GFLOP/s of
   f32 FMA. Rounding: x and w to bf16 (relative 2^-9 each) replaces the Q8_0 activation rounding of the
   integer kernels (up to 1/254 of the block's largest value): the bf16 path is closer to the f32 product.

   Tiles (palette 1), every tile 16 rows x 64 bytes:
     GEMM: A = 16 activation rows x 32 k (bf16, row-major, row stride ldx), B = 16 k-pairs x 16 weight rows
     x 2 (the bf16 "pair" layout tdpbf16ps reads), C = 16 x 16 f32. Micro-tile 32 x 32: tiles 4/5 = A rows
     0-15 / 16-31, 6/7 = B weight rows 0-15 / 16-31, 0-3 = C.
     Packed weight group (32 rows): per k-step s of 32: two 1 KB B tiles (rows 0-15, 16-31).
   Linux grants the tile state per process (arch_prctl ARCH_REQ_XCOMP_PERM); sk_amx_request asks for it and
   runs a probe in a forked child first, so a machine that advertises AMX but faults on it only loses the
   child. Every entry point loads its tile configuration and releases the tiles before it returns. */
#include "internal.h"
#include <stdlib.h>

/* Sizes of the attention packs and scratch (the same with or without the tiles). */
long sentio_attn_amx_keys(long n) { return (n + 31) / 32 * 32; }
long sentio_attn_amx_pack_elems(long n) { return sentio_attn_amx_keys(n) * 64; }
long sentio_attn_amx_scratch_bytes(long n) { return 16 * sentio_attn_amx_keys(n) * 6 + 16 * 64 * 8 + 128; }

#if defined(__x86_64__) && defined(__linux__)
#include "amx_common.h"

/* One 16 x 16 x 32 bf16 product of ones (every C element 32) and one 16 x 16 x 64 int8 product of ones (64). */
AMX static int probe_tiles(void) {
    static _Thread_local uint16_t ones[512] __attribute__((aligned(64)));
    static _Thread_local float c[256] __attribute__((aligned(64)));
    for (int i = 0; i < 512; i++) ones[i] = 0x3F80;
    config16x64();
    _tile_zero(0);
    _tile_loadd(4, ones, 64);
    _tile_loadd(6, ones, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_stored(0, c, 64);
    for (int i = 0; i < 256; i++) if (c[i] != 32.0f) { _tile_release(); return 0; }
    static _Thread_local int8_t ib[1024] __attribute__((aligned(64)));
    static _Thread_local int32_t ic[256] __attribute__((aligned(64)));
    for (int i = 0; i < 1024; i++) ib[i] = 1;
    _tile_zero(1);
    _tile_loadd(5, ib, 64);
    _tile_loadd(7, ib, 64);
    _tile_dpbssd(1, 5, 7);
    _tile_stored(1, ic, 64);
    _tile_release();
    for (int i = 0; i < 256; i++) if (ic[i] != 64) return 0;
    return 1;
}

int sk_amx_request(void) {
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    if (a < 7) return 0;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(7), "c"(0));
    if (!((d >> 22) & 1) || !((d >> 24) & 1) || !((d >> 25) & 1)) return 0;   /* AMX-BF16, AMX-TILE, AMX-INT8 */
    if (!((b >> 16) & 1)) return 0;                                    /* AVX-512 F (epilogues) */
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) != 0) return 0;
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) _exit(probe_tiles() ? 0 : 1);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) { /* EINTR: wait again */ }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return 0;
    return probe_tiles();
}


/* f32 rows -> bf16 (round to nearest even), zero padded from cols to ldo. */
AMX void sentio_f32_to_bf16_rows(const float *x, long ldx, long cols, long r0, long r1, uint16_t *out, long ldo) {
    for (long r = r0; r < r1; r++) {
        const float *s = x + r * ldx;
        uint16_t *o = out + r * ldo;
        long k = 0;
        for (; k + 16 <= cols; k += 16)
            _mm256_storeu_si256((__m256i *)(o + k), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(s + k)));
        if (k < cols) {
            __mmask16 m = (__mmask16)((1u << (cols - k)) - 1);
            __m256i v = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, s + k));
            _mm256_mask_storeu_epi16(o + k, m, v);
            k += cols - k;
        }
        for (; k < ldo; k++) o[k] = 0;
    }
}


/* 32 values of a row from k (cols valid, zero beyond) as 16 bf16 pairs. */
AMX static inline __m512i pairs32(const float *row, long k, long cols) {
    long left = cols - k;
    __m512 lo, hi;
    if (left >= 32) { lo = _mm512_loadu_ps(row + k); hi = _mm512_loadu_ps(row + k + 16); }
    else if (left <= 0) return _mm512_setzero_si512();
    else {
        __mmask16 m0 = left >= 16 ? 0xFFFF : (__mmask16)((1u << left) - 1);
        __mmask16 m1 = left > 16 ? (__mmask16)((1u << (left - 16)) - 1) : 0;
        lo = _mm512_maskz_loadu_ps(m0, row + k);
        hi = _mm512_maskz_loadu_ps(m1, row + k + 16);
    }
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* Packs rows j < h of f (rows of cols values, contiguous; zero beyond cols up to 32 ks) as B tiles: for k-step s, tile
   (j / 16) at dst + s * 1024 + (j / 16) * 512, element (pair p, column j % 16, e) = row j, k = 32 s + 2 p + e.
   Rows h..31 pack as zeros. dst 64-byte aligned. */
AMX static void pack_pairs(const float *f, long cols, int h, long ks, uint16_t *dst) {
    __m512i r[16];
    for (int half = 0; half < 2; half++)
        for (long s = 0; s < ks; s++) {
            for (int j = 0; j < 16; j++)
                r[j] = 16 * half + j < h ? pairs32(f + (16 * half + j) * cols, 32 * s, cols) : _mm512_setzero_si512();
            store_transposed16(r, dst + s * 1024 + half * 512);
        }
}

/* 32 x 32 outputs over ks k-steps: a = 32 bf16 activation rows (row stride ldab bytes), b = packed group. */
AMX static inline void micro32(const uint16_t *a, long ldab, const uint16_t *b, long ks, float *c) {
    const uint16_t *a1 = (const uint16_t *)((const uint8_t *)a + 16 * ldab);
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    for (long s = 0; s < ks; s++) {
        _tile_loadd(4, a + 32 * s, ldab);
        _tile_loadd(6, b + 1024 * s, 64);
        _tile_loadd(5, a1 + 32 * s, ldab);
        _tile_loadd(7, b + 1024 * s + 512, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
    _tile_stored(0, c, 128);
    _tile_stored(1, c + 16, 128);
    _tile_stored(2, c + 512, 128);
    _tile_stored(3, c + 528, 128);
}

/* Rows [r0, r1) of a q8 / q4 / q4_1 weight to f32 (row stride cols) with AVX-512: the same products
   d * q (q4_1: d * q + m, rounded twice) as sentio_dequant_rows, which serves the other types. */
AMX static void dequant_rows(int wtype, const uint8_t *w, size_t rowBytes, long cols, long r0, long r1, float *out) {
    if (wtype != SENTIO_Q8 && wtype != SENTIO_Q4 && wtype != SENTIO_Q4_1) {
        sentio_dequant_rows(wtype, w, rowBytes, cols, r0, r1, out);
        return;
    }
    const __m128i low = _mm_set1_epi8(15);
    for (long r = r0; r < r1; r++) {
        const uint8_t *src = w + (size_t)r * rowBytes;
        float *o = out + (r - r0) * cols;
        for (long b = 0; b < cols / 32; b++) {
            uint16_t hd;
            __m512 lo, hi, d;
            if (wtype == SENTIO_Q8) {
                const uint8_t *blk = src + b * 34;
                memcpy(&hd, blk, 2);
                d = _mm512_set1_ps(sk_f16_to_f32(hd));
                lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 2))));
                hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(blk + 18))));
                _mm512_storeu_ps(o + 32 * b, _mm512_mul_ps(d, lo));
                _mm512_storeu_ps(o + 32 * b + 16, _mm512_mul_ps(d, hi));
            } else {
                const long bs = wtype == SENTIO_Q4 ? 18 : 20, qo = wtype == SENTIO_Q4 ? 2 : 4;
                const uint8_t *blk = src + b * bs;
                memcpy(&hd, blk, 2);
                d = _mm512_set1_ps(sk_f16_to_f32(hd));
                __m128i q = _mm_loadu_si128((const __m128i *)(blk + qo));
                __m512i ql = _mm512_cvtepu8_epi32(_mm_and_si128(q, low));
                __m512i qh = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), low));
                if (wtype == SENTIO_Q4) {
                    const __m512i eight = _mm512_set1_epi32(8);
                    _mm512_storeu_ps(o + 32 * b, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(ql, eight))));
                    _mm512_storeu_ps(o + 32 * b + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_sub_epi32(qh, eight))));
                } else {
                    uint16_t hm;
                    memcpy(&hm, blk + 2, 2);
                    __m512 m = _mm512_set1_ps(sk_f16_to_f32(hm));
                    _mm512_storeu_ps(o + 32 * b, _mm512_add_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(ql)), m));
                    _mm512_storeu_ps(o + 32 * b + 16, _mm512_add_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(qh)), m));
                }
            }
        }
    }
}

#define NB 128   /* weight rows packed per pass (K = 5120: 1.3 MB of bf16, L2) */

static _Thread_local float *tl_deq;
static _Thread_local size_t tl_deq_cap;
static _Thread_local uint16_t *tl_bp;
static _Thread_local size_t tl_bp_cap;

AMX int sentio_gemm_amx_bf16(int wtype, const void *w, size_t rowBytes, long cols, long r0, long r1,
                             const uint16_t *xb, long ldx, long n, float *y, long ldy, const float *bias) {
    if (!(sentio_cpu_features() & SENTIO_CPU_AMX) || ldx % 32 || ldx < cols || n <= 0) return 0;
    const long ks = ldx / 32;
    if (!grow((void **)&tl_deq, &tl_deq_cap, (size_t)32 * cols * sizeof(float))) return 0;
    if (!grow((void **)&tl_bp, &tl_bp_cap, (size_t)NB * ldx * sizeof(uint16_t))) return 0;
    float cb[32 * 32] __attribute__((aligned(64)));
    config16x64();
    for (long rb = r0; rb < r1; rb += NB) {
        const long hb = r1 - rb < NB ? r1 - rb : NB, groups = (hb + 31) / 32;
        for (long g = 0; g < groups; g++) {
            long rr = rb + 32 * g;
            int h = r1 - rr < 32 ? (int)(r1 - rr) : 32;
            dequant_rows(wtype, (const uint8_t *)w, rowBytes, cols, rr, rr + h, tl_deq);
            pack_pairs(tl_deq, cols, h, ks, tl_bp + g * ks * 1024);
        }
        for (long i = 0; i < n; i += 32) {
            const int m = n - i < 32 ? (int)(n - i) : 32;
            for (long g = 0; g < groups; g++) {
                long rr = rb + 32 * g;
                int h = r1 - rr < 32 ? (int)(r1 - rr) : 32;
                micro32(xb + i * ldx, ldx * 2, tl_bp + g * ks * 1024, ks, cb);
                __mmask16 m0 = h >= 16 ? 0xFFFF : (__mmask16)((1u << h) - 1);
                __mmask16 m1 = h > 16 ? (h >= 32 ? 0xFFFF : (__mmask16)((1u << (h - 16)) - 1)) : 0;
                __m512 b0 = bias ? _mm512_maskz_loadu_ps(m0, bias + rr) : _mm512_setzero_ps();
                __m512 b1 = bias ? _mm512_maskz_loadu_ps(m1, bias + rr + 16) : _mm512_setzero_ps();
                for (int ii = 0; ii < m; ii++) {
                    float *yo = y + (i + ii) * ldy + rr;
                    _mm512_mask_storeu_ps(yo, m0, _mm512_add_ps(_mm512_load_ps(cb + 32 * ii), b0));
                    _mm512_mask_storeu_ps(yo + 16, m1, _mm512_add_ps(_mm512_load_ps(cb + 32 * ii + 16), b1));
                }
            }
        }
    }
    _tile_release();
    return 1;
}

/* ---- encoder attention, head dim 64 ----
   Per head: K packed as B tiles per (16-key block kb, 32-dim step ds): kp + (kb * 2 + ds) * 512, element
   (pair p, key j, e) = K[16 kb + j][32 ds + 2 p + e]; V packed as B tiles per (32-key step t, 16-dim block db):
   vp + (t * 4 + db) * 512, element (pair p, dim j, e) = V[32 t + 2 p + e][16 db + j]. Keys are padded to a
   multiple of 32 with zeros (their scores are excluded from the softmax, their probabilities are 0).
   Per block of 16 query rows: scores S = (scale q) K^T in f32 tiles; softmax numerators e = exp(s - max)
   rounded to bf16 as P; O = P V in f32 tiles; out = O / sum(e) (sum of the unrounded f32 numerators).
   kplo (optional): the bf16 residuals K - bf16(K), packed like kp: scores then come from qh.kh + ql.kh + qh.kl
   (q split the same way), within ~2^-16 of the f32 product, for decoders whose logits are large.
   causal >= 0: query row i sees keys 0 ... causal + i only (decoder prefill after `causal` cached tokens); a
   block then scores and multiplies only the 32-key steps its last row needs. */

int sentio_attn_amx_available(long hd) { return hd == 64 && (sentio_cpu_features() & SENTIO_CPU_AMX) && sentio_isa_level() >= 4; }

/* The bf16 residual x - bf16(x) of 32 values, as 16 bf16 pairs (the "lo" half of a hi + lo split). */
AMX static inline __m512i residual_pairs32(const float *row) {
    __m512 lo = _mm512_loadu_ps(row), hi = _mm512_loadu_ps(row + 16);
    lo = _mm512_sub_ps(lo, _mm512_cvtpbh_ps(_mm512_cvtneps_pbh(lo)));
    hi = _mm512_sub_ps(hi, _mm512_cvtpbh_ps(_mm512_cvtneps_pbh(hi)));
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

AMX void sentio_attn_amx_pack(const float *k, const float *v, long ld, long n, uint16_t *kp, uint16_t *kplo, uint16_t *vp) {
    const long npad = sentio_attn_amx_keys(n);
    __m512i r[16];
    for (long kb = 0; kb < npad / 16; kb++)
        for (int ds = 0; ds < 2; ds++) {
            for (int j = 0; j < 16; j++) {
                long key = 16 * kb + j;
                r[j] = key < n ? pairs32(k + key * ld, 32 * ds, 64) : _mm512_setzero_si512();
            }
            store_transposed16(r, kp + (kb * 2 + ds) * 512);
            if (!kplo) continue;
            for (int j = 0; j < 16; j++) {
                long key = 16 * kb + j;
                r[j] = key < n ? residual_pairs32(k + key * ld + 32 * ds) : _mm512_setzero_si512();
            }
            store_transposed16(r, kplo + (kb * 2 + ds) * 512);
        }
    for (long t = 0; t < npad; t += 2) {           /* keys t, t + 1: one tile row (pair p) of step t / 32 */
        uint16_t *tile = vp + (t / 32) * 2048 + ((t % 32) / 2) * 32;
        for (int db = 0; db < 4; db++) {
            __m512i a = _mm512_setzero_si512(), b = _mm512_setzero_si512();
            if (t < n) a = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(v + t * ld + 16 * db)));
            if (t + 1 < n) b = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(v + (t + 1) * ld + 16 * db)));
            _mm512_storeu_si512((void *)(tile + db * 512), _mm512_or_si512(a, _mm512_slli_epi32(b, 16)));
        }
    }
}

/* exp(x) for x <= 0 (softmax numerators, rounded to bf16 next): x log2(e) = n + f with |f| <= 1/2, 2^f by a
   cubic fitted for relative error on [-1/2, 1/2] (<= 1.2e-4, a sixteenth of the 2^-9 bf16 rounding that follows;
   the row sums use the same values, so the weights P / sum move by as little), times 2^n by vscalefps; below -87
   the result is 0. */
AMX static inline __m512 exp_nonpos(__m512 x) {
    __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_GE_OQ);
    __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(1.44269504f));
    __m512 nf = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 f = _mm512_sub_ps(t, nf);
    __m512 p = _mm512_fmadd_ps(_mm512_set1_ps(0.05459818f), f, _mm512_set1_ps(0.24221842f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(0.69336758f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_maskz_scalef_ps(keep, p, nf);
}

AMX void sentio_attn_amx_rows(const float *q, long ldq, const uint16_t *kp, const uint16_t *kplo, const uint16_t *vp,
                              long n, long i0, long i1, float scale, const float *mask, long causal, void *scratch,
                              float *out, long ldo) {
    const long npad = sentio_attn_amx_keys(n);
    uint8_t *sp = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
    float *S = (float *)sp;                                   /* 16 x npad f32 scores */
    uint16_t *P = (uint16_t *)(S + 16 * npad);                 /* 16 x npad bf16 numerators */
    uint16_t *Q = P + 16 * npad;                               /* 16 x 64 bf16 */
    uint16_t *Qlo = Q + 16 * 64;                               /* 16 x 64 bf16 residuals (split scores) */
    float *O = (float *)(Qlo + 16 * 64);                       /* 16 x 64 f32 */
    float sums[16];
    config16x64();
    for (long i = i0; i < i1; i += 16) {
        const int m = i1 - i < 16 ? (int)(i1 - i) : 16;
        const __m512 vs = _mm512_set1_ps(scale);
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 4; c++) {
                __m512 x = r < m ? _mm512_mul_ps(_mm512_loadu_ps(q + (i + r) * ldq + 16 * c), vs) : _mm512_setzero_ps();
                __m256bh h = _mm512_cvtneps_pbh(x);
                _mm256_store_si256((__m256i *)(Q + r * 64 + 16 * c), (__m256i)h);
                _mm256_store_si256((__m256i *)(Qlo + r * 64 + 16 * c),
                                   (__m256i)_mm512_cvtneps_pbh(_mm512_sub_ps(x, _mm512_cvtpbh_ps(h))));
            }
        _tile_loadd(4, Q, 128);
        _tile_loadd(5, Q + 32, 128);
        /* keys this block needs: all n, or (causal) up to key causal + i + m - 1, rounded up to a 32-key step */
        const long kend = causal < 0 ? npad : sentio_attn_amx_keys(causal + i + m < n ? causal + i + m : n);
        const long nkb = kend / 16;
        long kb = 0;
        if (kplo) {        /* split scores: qh.kh + ql.kh + qh.kl (the ql.kl term is below f32 rounding) */
            _tile_loadd(2, Qlo, 128);
            _tile_loadd(3, Qlo + 32, 128);
            for (; kb < nkb; kb++) {
                _tile_zero(0);
                _tile_loadd(6, kp + (kb * 2) * 512, 64);
                _tile_loadd(7, kp + (kb * 2 + 1) * 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(0, 5, 7);
                _tile_dpbf16ps(0, 2, 6);
                _tile_dpbf16ps(0, 3, 7);
                _tile_loadd(6, kplo + (kb * 2) * 512, 64);
                _tile_loadd(7, kplo + (kb * 2 + 1) * 512, 64);
                _tile_dpbf16ps(0, 4, 6);
                _tile_dpbf16ps(0, 5, 7);
                _tile_stored(0, S + kb * 16, npad * 4);
            }
        }
        for (; kb + 2 <= nkb; kb += 2) {               /* nkb is even: pairs of 16-key blocks */
            _tile_zero(0); _tile_zero(1);
            _tile_loadd(6, kp + (kb * 2) * 512, 64);
            _tile_loadd(7, kp + (kb * 2 + 2) * 512, 64);
            _tile_dpbf16ps(0, 4, 6);
            _tile_dpbf16ps(1, 4, 7);
            _tile_loadd(6, kp + (kb * 2 + 1) * 512, 64);
            _tile_loadd(7, kp + (kb * 2 + 3) * 512, 64);
            _tile_dpbf16ps(0, 5, 6);
            _tile_dpbf16ps(1, 5, 7);
            _tile_stored(0, S + kb * 16, npad * 4);
            _tile_stored(1, S + kb * 16 + 16, npad * 4);
        }
        for (int r = 0; r < 16; r++) {
            float *s = S + r * npad;
            uint16_t *p = P + r * npad;
            if (r >= m) { memset(p, 0, (size_t)kend * 2); sums[r] = 1; continue; }
            const long nr = causal < 0 || causal + i + r + 1 > n ? n : causal + i + r + 1;   /* keys of row r */
            __m512 mx = _mm512_set1_ps(-__builtin_inff());
            const __m512 ninf = _mm512_set1_ps(-__builtin_inff());
            for (long t = 0; t < nr; t += 16) {         /* pass 1: the row's max over the n real keys */
                __mmask16 mk = nr - t >= 16 ? 0xFFFF : (__mmask16)((1u << (nr - t)) - 1);
                __m512 x = _mm512_mask_loadu_ps(ninf, mk, s + t);
                if (mask) x = _mm512_add_ps(x, _mm512_mask_loadu_ps(_mm512_setzero_ps(), mk, mask + t));
                mx = _mm512_max_ps(mx, x);
            }
            float mxs = _mm512_reduce_max_ps(mx);
            if (mxs == -__builtin_inff()) { memset(p, 0, (size_t)kend * 2); sums[r] = 0; continue; }
            __m512 vmx = _mm512_set1_ps(mxs), sum = _mm512_setzero_ps();
            for (long t = 0; t < kend; t += 16) {      /* pass 2: numerators (0 past nr), their sum, bf16 */
                __m512 e = _mm512_setzero_ps();
                if (t < nr) {
                    __mmask16 mk = nr - t >= 16 ? 0xFFFF : (__mmask16)((1u << (nr - t)) - 1);
                    __m512 x = _mm512_mask_loadu_ps(ninf, mk, s + t);
                    if (mask) x = _mm512_add_ps(x, _mm512_mask_loadu_ps(_mm512_setzero_ps(), mk, mask + t));
                    e = exp_nonpos(_mm512_sub_ps(x, vmx));
                }
                sum = _mm512_add_ps(sum, e);
                _mm256_storeu_si256((__m256i *)(p + t), (__m256i)_mm512_cvtneps_pbh(e));
            }
            sums[r] = _mm512_reduce_add_ps(sum);
        }
        _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
        for (long t = 0; t < kend / 32; t++) {
            const uint16_t *vt = vp + t * 2048;
            _tile_loadd(4, P + t * 32, npad * 2);
            _tile_loadd(5, vt, 64);
            _tile_loadd(6, vt + 512, 64);
            _tile_loadd(7, vt + 1024, 64);
            _tile_dpbf16ps(0, 4, 5);
            _tile_dpbf16ps(1, 4, 6);
            _tile_dpbf16ps(2, 4, 7);
            _tile_loadd(5, vt + 1536, 64);
            _tile_dpbf16ps(3, 4, 5);
        }
        _tile_stored(0, O, 256);
        _tile_stored(1, O + 16, 256);
        _tile_stored(2, O + 32, 256);
        _tile_stored(3, O + 48, 256);
        for (int r = 0; r < m; r++) {
            __m512 inv = _mm512_set1_ps(sums[r] > 0 ? 1.0f / sums[r] : 0.0f);
            for (int c = 0; c < 4; c++)
                _mm512_storeu_ps(out + (i + r) * ldo + 16 * c, _mm512_mul_ps(_mm512_load_ps(O + r * 64 + 16 * c), inv));
        }
    }
    _tile_release();
}

#else
int sk_amx_request(void) { return 0; }
void sentio_f32_to_bf16_rows(const float *x, long ldx, long cols, long r0, long r1, uint16_t *out, long ldo) {
    for (long r = r0; r < r1; r++)
        for (long k = 0; k < ldo; k++) {
            uint32_t b = 0;
            if (k < cols) { float f = x[r * ldx + k]; memcpy(&b, &f, 4); b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16; }
            out[r * ldo + k] = (uint16_t)b;
        }
}
int sentio_gemm_amx_bf16(int wtype, const void *w, size_t rowBytes, long cols, long r0, long r1,
                         const uint16_t *xb, long ldx, long n, float *y, long ldy, const float *bias) {
    (void)wtype; (void)w; (void)rowBytes; (void)cols; (void)r0; (void)r1; (void)xb; (void)ldx; (void)n; (void)y; (void)ldy; (void)bias;
    return 0;
}
int sentio_attn_amx_available(long hd) { (void)hd; return 0; }
void sentio_attn_amx_pack(const float *k, const float *v, long ld, long n, uint16_t *kp, uint16_t *kplo, uint16_t *vp) {
    (void)k; (void)v; (void)ld; (void)n; (void)kp; (void)kplo; (void)vp;
}
void sentio_attn_amx_rows(const float *q, long ldq, const uint16_t *kp, const uint16_t *kplo, const uint16_t *vp,
                          long n, long i0, long i1, float scale, const float *mask, long causal, void *scratch, float *out, long ldo) {
    (void)q; (void)ldq; (void)kp; (void)kplo; (void)vp; (void)n; (void)i0; (void)i1; (void)scale; (void)mask; (void)causal; (void)scratch; (void)out; (void)ldo;
}
#endif
