#pragma once
#include <stdint.h>
#include <stddef.h>
/* CSentioKernels: instructions Swift cannot emit (AVX-512 VNNI, F16C, vector exp), chosen at run time.
   Every kernel here has a scalar Swift twin in SentioKernels (the *Ref functions) and a test holding
   them together. One file per ISA family; dispatch.c picks the implementation once per process. */

/* ---- CPU features (bit set) ---- */
enum { SENTIO_CPU_AVX2 = 1, SENTIO_CPU_AVX512 = 2, SENTIO_CPU_VNNI = 4, SENTIO_CPU_F16C = 8, SENTIO_CPU_AMX = 16 };
int sentio_cpu_features(void);
/* Caps the ISA used (for tests of the fallback paths): 0 scalar, 1 AVX2, 2 AVX-512, 3 AVX-512 VNNI,
   4 AMX tiles (bf16 GEMM for n >= 32, int8 GEMM for q8r weights, encoder attention; granted tile state needed). */
void sentio_set_isa_limit(int level);
int sentio_isa_level(void);

/* ---- persistent thread pool (caller thread takes part; nested calls run inline) ---- */
typedef struct sentio_pool sentio_pool;
sentio_pool *sentio_pool_create(int threads);
void sentio_pool_destroy(sentio_pool *pool);
void sentio_pool_run(sentio_pool *pool, long count, void (*fn)(void *ctx, long i), void *ctx);

/* ---- activations quantized for the integer dot paths ----
   Row i of an n x cols activation matrix (cols % 32 == 0) is stored as
     qs[i*cols ..]   int8, blocks of 32, x ~= d * q   (exactly BlockQ8_0.quantizeRef's q)
     d[i*nb ..]      float: the block scale rounded through f16 (as a stored Q8_0 block)
     corr[i*nb ..]   int32: c * sum(q) for the block, c chosen by the kernel (weight zero-point). */
typedef struct {
    int8_t *qs; float *d; int32_t *corr; long n; long cols;
} sentio_xq;
/* Weight-dtype codes, equal to SentioCore.DType raw values. */
enum { SENTIO_F32 = 0, SENTIO_F16 = 1, SENTIO_BF16 = 2, SENTIO_Q8 = 8, SENTIO_Q4 = 9, SENTIO_Q4_1 = 10, SENTIO_Q5 = 12 };
/* (q8r weights, DType raw value 11, are Q8_0 bytes: every kernel above takes them as SENTIO_Q8.) */
/* Quantizes rows [i0, i1) of x (row stride = cols) into xq for weights of type wtype. */
void sentio_quantize_rows(const float *x, sentio_xq *xq, long i0, long i1, int wtype);
/* Plain BlockQ8_0 bytes (34 per 32 floats), bit-identical to BlockQ8_0.quantizeRef. */
void sentio_quantize_q8_0(const float *x, long count, void *out);

/* y[i*ldy + r] (+bias[r]) for i in [0,n), r in [r0,r1): x rows (quantized) . weight rows r.
   w: q8/q4/q4_1/q5 rows of rowBytes each. */
void sentio_qgemm(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                  const sentio_xq *xq, float *y, long ldy, const float *bias);
/* Row alignment sentio_qgemm wants between the row ranges of parallel calls with n activation rows at the
   current ISA level: 32 when that n runs a kernel that packs 32-row weight groups, 16 for the row-lane
   batched GEMV (whole groups), else 4. */
long sentio_qgemm_row_align(int wtype, long n);
/* With AVX-512 VNNI, n in 5...max activation rows run the batched-decode GEMV (weights read in place)
   instead of the packed tile GEMM. Default 16, the most it takes (measured: docs/BENCHMARKS.md, batched decode);
   -1 restores the default, 4 or less turns it off. Process-wide, for tests and benchmarks: set it between
   calls, not during one. */
void sentio_qgemm_set_batch_gemv_max(long n);
/* Batched GEMV: 1 (default) runs whole 16-row weight groups on the row-lane kernel (weights
   transposed in registers), 0 everything on the activation-lane kernel; same rules as above. */
void sentio_qgemm_set_batch_gemv_rowlane(int on);
/* The 512-bit VNNI GEMM packs at most this many bytes of weights per pass (default 4 MB, 0 restores it);
   for tests of the multi-pass path. */
void sentio_qgemm_set_pack_limit(size_t bytes);

/* Float-weight (f32/f16/bf16) products, rows [r0,r1) of w (row stride cols elements):
   y[i*ldy + r] = sum_k x[i*ldx + k] * w[r][k] (+bias[r]) for i in [0,n). */
void sentio_fgemm(int wtype, const void *w, long cols, long r0, long r1,
                  const float *x, long ldx, long n, float *y, long ldy, const float *bias);
/* Packed f32 GEMM (AVX-512 micro-kernel; plain loops below AVX-512), single-threaded, row-major:
   C[m,n] = alpha * op(A)[m,k] . op(B)[k,n] + beta * C (beta == 0: C is not read). op(A) = A^T when transA
   (A stored k x m), likewise B. B's element type btype is SENTIO_F32, SENTIO_F16 or SENTIO_BF16
   (converted to f32 exactly while packed). */
void sentio_sgemm(int transA, int transB, long m, long n, long k, float alpha, const float *A, long lda,
                  const void *B, int btype, long ldb, float beta, float *C, long ldc);
/* op(B) packed once for many products (AVX-512 only: check sentio_sgemm_available). Bp holds
   sentio_sgemm_packed_floats(k, n) floats (64-byte aligned); sentio_sgemm_packed computes
   C[m,n] = alpha * op(A)[m,k] . op(B)[k,n] + beta * C for any prefix k <= kTotal, n <= nTotal of the packed B. */
long sentio_sgemm_packed_floats(long k, long n);
void sentio_sgemm_pack_b(int transB, int btype, const void *B, long ldb, long k, long n, float *Bp);
void sentio_sgemm_packed(int transA, long m, long n, long k, float alpha, const float *A, long lda,
                         const float *Bp, long kTotal, long nTotal, float beta, float *C, long ldc);
/* 1 when sentio_sgemm runs the AVX-512 kernel at the current ISA level (else callers may prefer BLAS). */
int sentio_sgemm_available(void);
/* Converts rows [r0,r1) of a float-type weight (any of f32/f16/bf16/q8/q4/q4_1/q5) to f32 (row stride cols). */
void sentio_dequant_rows(int wtype, const void *w, size_t rowBytes, long cols, long r0, long r1, float *out);

/* ---- vector math over contiguous floats ---- */
void sentio_vexp_softmax(float *x, long count);          /* in place, max-subtracted */
void sentio_vsilu(float *x, long count);
void sentio_vgelu_erf(float *x, long count);
void sentio_vgelu_tanh(float *x, long count);
void sentio_vswiglu(const float *gate, const float *up, float *out, long count);
/* f16 -> f32 and f32 -> f16 for KV blocks */
void sentio_f16_to_f32(const uint16_t *src, float *dst, long count);
void sentio_f32_to_f16(const float *src, uint16_t *dst, long count);

/* ---- decode attention straight from a paged KV cache ----
   For the G query rows q[h*qstride ..] (h < G: the query heads of KV head g, one query position),
   softmax(scale * q . k_t) over keys t in [0, keys), times v_t, into out[h*ostride ..]. Keys are of
   element type ktype and values of vtype, each f32, f16 or q8 (layout in KVView.swift: per KV head a
   [blockTokens][headDim] region laid out for its plane's type, q8 rows followed by their f32 scales).
   scores: scratch of G*keys floats. */
void sentio_attn_decode_group_kv(int ktype, int vtype, const void *const *kblocks, const void *const *vblocks,
                                 long blockTokens, long headDim, long g, long keys, const float *q, long qstride, long G,
                                 float scale, float *scores, float *out, long ostride);

/* ---- full (bidirectional) encoder attention, blocked f32 (attn_full.c) ----
   sentio_attn_full_available(hd): 1 when the kernel runs here (AVX-512, hd % 16 == 0, hd <= 64).
   K of one head packed with sentio_attn_pack_k (k rows at k + t*ldk, hd floats each) into
   sentio_attn_kpack_floats(n, hd) floats (64-byte aligned); v: the head's V contiguous [n][hd].
   sentio_attn_full_rows: for query rows [i0, i1) (q + i*ldq), out + i*ldo = softmax(scale * q.K^T + mask) . V,
   mask: additive [n] or NULL; scratch: sentio_attn_scratch_floats(n, hd) floats. */
long sentio_attn_scratch_floats(long n, long hd);
long sentio_attn_kpack_floats(long n, long hd);
void sentio_attn_pack_k(const float *k, long ldk, long n, long hd, float *kp);
int sentio_attn_full_available(long hd);
void sentio_attn_full_rows(const float *q, long ldq, const float *kp, const float *v, long n, long hd,
                           long i0, long i1, float scale, const float *mask, float *scratch, float *out, long ldo);

/* ---- AMX-BF16 tiles (amx_bf16.c; ISA level 4) ----
   sentio_f32_to_bf16_rows: rows [r0, r1) of x (row stride ldx) rounded to bf16 (nearest even) into
   out + r * ldo, columns cols..ldo-1 zero.
   sentio_gemm_amx_bf16: y[i, r] = sum_k bf16(x[i, k]) * bf16(w[r, k]) (+ bias[r]) in f32, for weight rows
   [r0, r1) of a weight of any stored type (wtype, rowBytes, cols) and activation rows i < n of xb (bf16 from
   sentio_f32_to_bf16_rows, row stride ldx: a multiple of 32 >= cols, and at least n rounded up to 32 rows
   readable). Returns 0 (and writes nothing) where the tiles are not available.
   Attention (head dim 64): per head, sentio_attn_amx_pack packs K and V (rows at k + t*ld, v + t*ld) into
   sentio_attn_amx_pack_elems(n) bf16 each (64-byte aligned), and optionally (kplo non-NULL) K's bf16 residuals
   for split scores (qh.kh + ql.kh + qh.kl, near f32); sentio_attn_amx_rows computes query rows
   [i0, i1) of softmax(scale * q.K^T + mask) . V with scratch of sentio_attn_amx_scratch_bytes(n) bytes;
   causal >= 0 limits row i to keys 0 ... causal + i (else -1: every key). */
void sentio_f32_to_bf16_rows(const float *x, long ldx, long cols, long r0, long r1, uint16_t *out, long ldo);
int sentio_gemm_amx_bf16(int wtype, const void *w, size_t rowBytes, long cols, long r0, long r1,
                         const uint16_t *xb, long ldx, long n, float *y, long ldy, const float *bias);
/* ---- AMX-INT8 tiles for q8r weights (amx_int8.c; ISA level 4) ----
   sentio_quantize_rows_i8: rows [r0, r1) of x (row stride ldx, cols values) as int8 with one scale per row:
   scale[r] = max|x_r| / 127, q + r*ldq = round-to-nearest-even(x * (1 / scale[r])) (0 for a zero row),
   columns cols..ldq-1 zero. Any ISA (AVX-512 when present).
   sentio_gemm_amx_i8: y[i, r] = fma(float(sum_k q[i, k] * w[r, k]), scale[i] * d_r, bias[r]) for weight rows
   [r0, r1) of a q8r weight (Q8_0 blocks, rowBytes = cols / 32 * 34, d_r = the row's shared f16 scale) and
   activation rows i < n of xq (row stride ldq: a multiple of 64 >= cols; at least n rounded up to 32 rows
   readable). Works in passes of 128 weight rows and returns the end of the rows it wrote: r1, or the start of
   the first pass holding a row whose block scales differ (not q8r: the caller computes [returned, r1) another
   way), or r0 when the tiles are not available. */
void sentio_quantize_rows_i8(const float *x, long ldx, long cols, long r0, long r1, int8_t *q, long ldq, float *scale);
long sentio_gemm_amx_i8(const void *w, size_t rowBytes, long cols, long r0, long r1, const int8_t *xq, long ldq,
                        const float *xs, long n, float *y, long ldy, const float *bias);
long sentio_attn_amx_keys(long n);
long sentio_attn_amx_pack_elems(long n);
long sentio_attn_amx_scratch_bytes(long n);
int sentio_attn_amx_available(long hd);
void sentio_attn_amx_pack(const float *k, const float *v, long ld, long n, uint16_t *kp, uint16_t *kplo, uint16_t *vp);
void sentio_attn_amx_rows(const float *q, long ldq, const uint16_t *kp, const uint16_t *kplo, const uint16_t *vp,
                          long n, long i0, long i1, float scale, const float *mask, long causal, void *scratch, float *out, long ldo);

/* Drops the resident pages wholly inside [p, p+n) when they belong to a read-only file mapping (checked
   in /proc/self/maps); the next read faults them back from the page cache unchanged. Returns the bytes
   released (0: not file-backed, nothing whole to release, or not Linux). Never touches anonymous memory. */
long sentio_release_file_pages(const void *p, size_t n);

/* OpenBLAS through dlopen (blas_loader.c): corrects OpenBLAS's CPU detection before it loads. */
int sentio_blas_available(void);
const char *sentio_blas_corename(void);
const char *sentio_blas_path(void);
void sentio_blas_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc);
