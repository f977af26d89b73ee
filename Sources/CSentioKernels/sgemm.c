/* Packed f32 GEMM with an AVX-512 micro-kernel (single-threaded; callers split C across the pool).
   Why not OpenBLAS: on this project's VMs OpenBLAS 0.3.21 does not recognise the CPU model and runs
   its Prescott (SSE3) kernel, 3-4x below the FMA peak (OPENBLAS_VERBOSE=2 prints "Core: Prescott").

   C[m,n] = alpha * op(A)[m,k] . op(B)[k,n] + beta * C, row-major. B may be f32, f16 or bf16: blocks of
   op(B) are converted to f32 while packed, so a weight element is converted once per call.
   Blocking (Goto style): NC columns x KC depth of op(B) packed into 32-column panels [KC][32] (stays in
   L2, one panel in L1 across the row loop); MC rows x KC of op(A) packed into 12-row panels [KC][12].
   Micro-kernel: 12 rows x 32 columns = 24 zmm accumulators, per k two loads of B, 12 broadcasts of A,
   24 FMAs. Tails: packed panels are zero padded; stores are masked. */
#include "internal.h"
#include <stdlib.h>
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define MR 12
#define NR 32
#define KC 256
#define MC 192      /* multiple of MR */
#define NC 512      /* multiple of NR */

typedef struct { float *p; size_t cap; } sk_buf;
static _Thread_local sk_buf tl_a, tl_b;

static float *buf_get(sk_buf *b, size_t floats) {
    if (b->cap < floats) {
        free(b->p);
        size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
        b->p = aligned_alloc(64, bytes);
        b->cap = b->p ? floats : 0;
    }
    return b->p;
}

static inline float ldB(int btype, const void *B, size_t idx) {
    switch (btype) {
    case SENTIO_F16: return sk_f16_to_f32(((const uint16_t *)B)[idx]);
    case SENTIO_BF16: return sk_bf16_to_f32(((const uint16_t *)B)[idx]);
    default: return ((const float *)B)[idx];
    }
}

/* Scalar reference (any ISA): plain triple loop, f32 accumulation. */
void sk_sgemm_scalar(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
                     const void *B, int btype, long ldb, float beta, float *C, long ldc) {
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            float s = 0;
            for (long p = 0; p < k; p++) {
                float a = transA ? A[p * lda + i] : A[i * lda + p];
                float b = ldB(btype, B, transB ? (size_t)j * ldb + p : (size_t)p * ldb + j);
                s += a * b;
            }
            C[i * ldc + j] = alpha * s + (beta == 0 ? 0.0f : beta * C[i * ldc + j]);
        }
}

#if defined(__x86_64__)
#define AVX512_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq")))

/* op(B)[p0.., j0..] (kc x nc) -> panels of NR columns: out[panel][p][NR], zero padded. */
AVX512_TARGET static void pack_b(int transB, int btype, const void *B, long ldb, long p0, long kc,
                                 long j0, long nc, float *out) {
    for (long jp = 0; jp < nc; jp += NR) {
        float *dst = out + jp * kc;
        long w = nc - jp < NR ? nc - jp : NR;
        if (!transB) {   /* rows of B are contiguous in j */
            __mmask16 m0 = w >= 16 ? 0xFFFF : (__mmask16)((1u << w) - 1);
            __mmask16 m1 = w > 16 ? (w >= 32 ? 0xFFFF : (__mmask16)((1u << (w - 16)) - 1)) : 0;
            for (long p = 0; p < kc; p++) {
                size_t base = (size_t)(p0 + p) * ldb + j0 + jp;
                __m512 v0, v1;
                if (btype == SENTIO_F32) {
                    v0 = _mm512_maskz_loadu_ps(m0, (const float *)B + base);
                    v1 = _mm512_maskz_loadu_ps(m1, (const float *)B + base + 16);
                } else {
                    __m256i h0 = _mm256_maskz_loadu_epi16(m0, (const uint16_t *)B + base);
                    __m256i h1 = _mm256_maskz_loadu_epi16(m1, (const uint16_t *)B + base + 16);
                    if (btype == SENTIO_F16) { v0 = _mm512_cvtph_ps(h0); v1 = _mm512_cvtph_ps(h1); }
                    else {
                        v0 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h0), 16));
                        v1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h1), 16));
                    }
                }
                _mm512_store_ps(dst + p * NR, v0);
                _mm512_store_ps(dst + p * NR + 16, v1);
            }
        } else {         /* column j of op(B) is row j of B, contiguous in p: 16x16 transposes via scatter-free gather */
            if (w < NR) memset(dst, 0, sizeof(float) * (size_t)kc * NR);
            for (long jj = 0; jj < w; jj++) {
                size_t base = (size_t)(j0 + jp + jj) * ldb + p0;
                long p = 0;
                for (; p + 16 <= kc; p += 16) {
                    __m512 v;
                    if (btype == SENTIO_F32) v = _mm512_loadu_ps((const float *)B + base + p);
                    else {
                        __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)B + base + p));
                        v = btype == SENTIO_F16 ? _mm512_cvtph_ps(h)
                                                : _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
                    }
                    _mm512_i32scatter_ps(dst + p * NR + jj, _mm512_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224,
                                         256, 288, 320, 352, 384, 416, 448, 480), v, 4);
                }
                for (; p < kc; p++) dst[p * NR + jj] = ldB(btype, B, base + p);
            }
        }
    }
}

/* op(A)[i0.., p0..] (mc x kc) -> panels of MR rows: out[panel][p][MR], zero padded. */
AVX512_TARGET static void pack_a(int transA, const float *A, long lda, long i0, long mc, long p0, long kc, float *out) {
    for (long ip = 0; ip < mc; ip += MR) {
        float *dst = out + ip * kc;
        long h = mc - ip < MR ? mc - ip : MR;
        if (transA) {
            for (long p = 0; p < kc; p++) {
                const float *src = A + (size_t)(p0 + p) * lda + i0 + ip;
                long r = 0;
                for (; r < h; r++) dst[p * MR + r] = src[r];
                for (; r < MR; r++) dst[p * MR + r] = 0;
            }
        } else if (lda <= (1L << 31) / MR - 1) {   /* one gather of the MR rows per p (rows >= h read as 0) */
            const __m512i idx = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 0, 0, 0),
                                                   _mm512_set1_epi32((int)lda));
            const __mmask16 m = (__mmask16)((1u << h) - 1);
            const float *src = A + (size_t)(i0 + ip) * lda + p0;
            long p = 0;
            for (; p + 1 < kc; p++)   /* 16-lane store: lanes 12-15 are overwritten by the next p */
                _mm512_storeu_ps(dst + p * MR, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, src + p, 4));
            _mm512_mask_storeu_ps(dst + p * MR, 0x0FFF, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, src + p, 4));
        } else {
            for (long r = 0; r < h; r++) {
                const float *src = A + (size_t)(i0 + ip + r) * lda + p0;
                for (long p = 0; p < kc; p++) dst[p * MR + r] = src[p];
            }
            for (long r = h; r < MR; r++) for (long p = 0; p < kc; p++) dst[p * MR + r] = 0;
        }
    }
}

/* 12 x 32 block: C = alpha * Ap.Bp (+ beta * C when beta != 0). mr rows, nr columns valid. */
AVX512_TARGET static void ukernel(long kc, const float *Ap, const float *Bp, float *C, long ldc,
                                  int mr, int nr, float alpha, float beta) {
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MR; i++) { c0[i] = _mm512_setzero_ps(); c1[i] = _mm512_setzero_ps(); }
    for (long p = 0; p < kc; p++) {
        __m512 b0 = _mm512_load_ps(Bp + p * NR), b1 = _mm512_load_ps(Bp + p * NR + 16);
        const float *a = Ap + p * MR;
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(a[i]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
    __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr > 16 ? (nr >= 32 ? 0xFFFF : (__mmask16)((1u << (nr - 16)) - 1)) : 0;
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++) {
        float *c = C + (size_t)i * ldc;
        __m512 r0 = _mm512_mul_ps(c0[i], va), r1 = _mm512_mul_ps(c1[i], va);
        if (beta != 0) {
            r0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m0, c), vb, r0);
            r1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m1, c + 16), vb, r1);
        }
        _mm512_mask_storeu_ps(c, m0, r0);
        _mm512_mask_storeu_ps(c + 16, m1, r1);
    }
}

/* C[m, nc] (+)= alpha * op(A)[m, pc..pc+kc] . Bp, Bp = one packed kc x nc block (panels of NR). */
AVX512_TARGET static void macro(int transA, long m, long nc, long kc, long pc, float alpha, const float *A, long lda,
                                const float *Bp, long kcp, float beta, float *C, long ldc, float *Ap) {
    for (long ic = 0; ic < m; ic += MC) {
        long mc = m - ic < MC ? m - ic : MC;
        pack_a(transA, A, lda, ic, mc, pc, kc, Ap);
        for (long jr = 0; jr < nc; jr += NR) {
            int nr = nc - jr < NR ? (int)(nc - jr) : NR;
            for (long ir = 0; ir < mc; ir += MR) {
                int mr = mc - ir < MR ? (int)(mc - ir) : MR;
                ukernel(kc, Ap + ir * kc, Bp + jr * kcp, C + (size_t)(ic + ir) * ldc + jr, ldc, mr, nr, alpha, beta);
            }
        }
    }
}

static void scale_c(long m, long n, float beta, float *C, long ldc) {
    for (long i = 0; i < m; i++) for (long j = 0; j < n; j++) C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
}

AVX512_TARGET void sk_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha, const float *A,
                                   long lda, const void *B, int btype, long ldb, float beta, float *C, long ldc) {
    if (k == 0) { scale_c(m, n, beta, C, ldc); return; }
    long ncMax = n < NC ? (n + NR - 1) / NR * NR : NC, kcMax = k < KC ? k : KC;
    long mcMax = m < MC ? (m + MR - 1) / MR * MR : MC;
    float *Bp = buf_get(&tl_b, (size_t)ncMax * kcMax);
    float *Ap = buf_get(&tl_a, (size_t)mcMax * kcMax);
    if (!Bp || !Ap) { sk_sgemm_scalar(transA, transB, m, n, k, alpha, A, lda, B, btype, ldb, beta, C, ldc); return; }
    for (long jc = 0; jc < n; jc += NC) {
        long nc = n - jc < NC ? n - jc : NC;
        for (long pc = 0; pc < k; pc += KC) {
            long kc = k - pc < KC ? k - pc : KC;
            pack_b(transB, btype, B, ldb, pc, kc, jc, nc, Bp);
            macro(transA, m, nc, kc, pc, alpha, A, lda, Bp, kc, pc == 0 ? beta : 1.0f, C + jc, ldc, Ap);
        }
    }
}

/* ---- op(B) packed once, used by many products (attention: K and V of a head, every query tile) ----
   Layout: depth blocks of KC (the last shorter); block pc holds the full padded width npad = ceil(n/NR)*NR
   as panels [kc][NR], at offset pc * npad. Products may use any prefix of the columns and the depth. */
long sentio_sgemm_packed_floats(long k, long n) { return k * ((n + NR - 1) / NR * NR); }

AVX512_TARGET void sentio_sgemm_pack_b(int transB, int btype, const void *B, long ldb, long k, long n, float *Bp) {
    long npad = (n + NR - 1) / NR * NR;
    for (long pc = 0; pc < k; pc += KC) {
        long kc = k - pc < KC ? k - pc : KC;
        pack_b(transB, btype, B, ldb, pc, kc, 0, n, Bp + pc * npad);
    }
}

/* C[m,n] = alpha * op(A)[m,k] . op(B)[k,n] + beta * C with op(B) packed by sentio_sgemm_pack_b for
   (kTotal >= k, nTotal >= n). Needs AVX-512 (sentio_sgemm_available). */
AVX512_TARGET void sentio_sgemm_packed(int transA, long m, long n, long k, float alpha, const float *A, long lda,
                                       const float *Bp, long kTotal, long nTotal, float beta, float *C, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (k == 0) { scale_c(m, n, beta, C, ldc); return; }
    long npad = (nTotal + NR - 1) / NR * NR;
    long mcMax = m < MC ? (m + MR - 1) / MR * MR : MC, kcMax = k < KC ? k : KC;
    float *Ap = buf_get(&tl_a, (size_t)mcMax * kcMax);
    if (!Ap) { for (long i = 0; i < m; i++) for (long j = 0; j < n; j++) C[i * ldc + j] = NAN; return; }
    for (long pc = 0; pc < k; pc += KC) {
        long kc = k - pc < KC ? k - pc : KC;
        /* panel jp of block pc sits at pc*npad + jp*kcp, kcp = the depth packed in that block */
        long kcp = kTotal - pc < KC ? kTotal - pc : KC;
        macro(transA, m, n, kc, pc, alpha, A, lda, Bp + pc * npad, kcp, pc == 0 ? beta : 1.0f, C, ldc, Ap);
    }
}
#else
void sk_sgemm_avx512(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
                     const void *B, int btype, long ldb, float beta, float *C, long ldc) {
    sk_sgemm_scalar(transA, transB, m, n, k, alpha, A, lda, B, btype, ldb, beta, C, ldc);
}
long sentio_sgemm_packed_floats(long k, long n) { return k * n; }
void sentio_sgemm_pack_b(int transB, int btype, const void *B, long ldb, long k, long n, float *Bp) {
    (void)transB; (void)btype; (void)B; (void)ldb; (void)k; (void)n; (void)Bp;
}
void sentio_sgemm_packed(int transA, long m, long n, long k, float alpha, const float *A, long lda,
                         const float *Bp, long kTotal, long nTotal, float beta, float *C, long ldc) {
    (void)transA; (void)m; (void)n; (void)k; (void)alpha; (void)A; (void)lda; (void)Bp; (void)kTotal; (void)nTotal; (void)beta; (void)C; (void)ldc;
}
#endif

int sentio_sgemm_available(void) { return sentio_isa_level() >= 2; }

void sentio_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
                  const void *B, int btype, long ldb, float beta, float *C, long ldc) {
    if (m <= 0 || n <= 0) return;
    if (sentio_isa_level() >= 2) sk_sgemm_avx512(transA, transB, m, n, k, alpha, A, lda, B, btype, ldb, beta, C, ldc);
    else sk_sgemm_scalar(transA, transB, m, n, k, alpha, A, lda, B, btype, ldb, beta, C, ldc);
}
