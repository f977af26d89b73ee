/* Decode attention (few query rows) straight from a paged KV cache, f32, f16 or q8 blocks read in
   place: no gather of the whole cache into f32 per step. Keys and values each have their own element
   type (ktype, vtype; e.g. f16 keys with q8 values: the q8v cache of KVView.swift). For the G query
   heads sharing one KV head, each key row is converted once and dotted with all G queries; softmax per head; then every value
   row is converted once and accumulated into the G outputs with its G probabilities.
   Block layout (KVView.swift): per KV head g one region; f32/f16: [blockTokens][headDim]; q8:
   [blockTokens][headDim] int8 then [blockTokens] f32 scales (one per token row). A q8 row is
   dequantized in registers: score = scale_k * (q . k_int8), out += (p * scale_v) * v_int8. */
#include "internal.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline long kv_region(int kvtype, long bt, long hd) {
    return kvtype == SENTIO_Q8 ? bt * hd + bt * 4 : bt * hd * (kvtype == SENTIO_F16 ? 2 : 4);
}
static inline const void *kv_row(const void *const *blocks, int kvtype, long bt, long hd, long g, long t) {
    long es = kvtype == SENTIO_F16 ? 2 : kvtype == SENTIO_Q8 ? 1 : 4;
    return (const uint8_t *)blocks[t / bt] + g * kv_region(kvtype, bt, hd) + (t % bt) * hd * es;
}
/* Scale of a row (1 for f32/f16). */
static inline float kv_scale(const void *const *blocks, int kvtype, long bt, long hd, long g, long t) {
    if (kvtype != SENTIO_Q8) return 1.0f;
    const uint8_t *p = (const uint8_t *)blocks[t / bt] + g * kv_region(kvtype, bt, hd) + bt * hd + (t % bt) * 4;
    float s; memcpy(&s, p, 4); return s;
}
static inline float kv_elem(int kvtype, const void *row, long i) {
    return kvtype == SENTIO_F16 ? sk_f16_to_f32(((const uint16_t *)row)[i])
         : kvtype == SENTIO_Q8 ? (float)((const int8_t *)row)[i] : ((const float *)row)[i];
}

static void decode_scalar(int ktype, int vtype, const void *const *kb, const void *const *vb, long bt, long hd, long g,
                          long keys, const float *q, long qs, long G, float scale, float *sc, float *out, long os) {
    for (long t = 0; t < keys; t++) {
        const void *k = kv_row(kb, ktype, bt, hd, g, t);
        const float ks = kv_scale(kb, ktype, bt, hd, g, t);
        for (long h = 0; h < G; h++) {
            float s = 0;
            for (long i = 0; i < hd; i++) s += q[h * qs + i] * kv_elem(ktype, k, i);
            sc[h * keys + t] = s * ks * scale;
        }
    }
    for (long h = 0; h < G; h++) {
        sentio_vexp_softmax(sc + h * keys, keys);
        for (long i = 0; i < hd; i++) out[h * os + i] = 0;
    }
    for (long t = 0; t < keys; t++) {
        const void *v = kv_row(vb, vtype, bt, hd, g, t);
        const float vs = kv_scale(vb, vtype, bt, hd, g, t);
        for (long h = 0; h < G; h++) {
            float p = sc[h * keys + t] * vs;
            for (long i = 0; i < hd; i++) out[h * os + i] += p * kv_elem(vtype, v, i);
        }
    }
}

#if defined(__x86_64__)
#define AVX512_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))
#define MAXC 16   /* 16 x 16 lanes: head dims up to 256 */
AVX512_TARGET static inline __m512 ld_row(int kvtype, const void *p, long c, __mmask16 m) {
    if (kvtype == SENTIO_F16) return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)p + c));
    if (kvtype == SENTIO_Q8) return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (const int8_t *)p + c)));
    return _mm512_maskz_loadu_ps(m, (const float *)p + c);
}
AVX512_TARGET static void decode_avx512(int ktype, int vtype, const void *const *kb, const void *const *vb, long bt, long hd, long g,
                                        long keys, const float *q, long qs, long G, float scale, float *sc, float *out, long os) {
    const long nc = (hd + 15) / 16;
    const __mmask16 tail = (hd % 16) ? (__mmask16)((1u << (hd % 16)) - 1) : (__mmask16)0xFFFF;
    for (long t = 0; t < keys; t++) {
        __m512 K[MAXC];
        const void *k = kv_row(kb, ktype, bt, hd, g, t);
        const float ks = kv_scale(kb, ktype, bt, hd, g, t) * scale;
        for (long c = 0; c < nc; c++) K[c] = ld_row(ktype, k, c * 16, c == nc - 1 ? tail : 0xFFFF);
        for (long h = 0; h < G; h++) {
            __m512 a = _mm512_setzero_ps();
            for (long c = 0; c < nc; c++)
                a = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(c == nc - 1 ? tail : 0xFFFF, q + h * qs + c * 16), K[c], a);
            sc[h * keys + t] = _mm512_reduce_add_ps(a) * ks;
        }
    }
    for (long h = 0; h < G; h++) sentio_vexp_softmax(sc + h * keys, keys);
    for (long h0 = 0; h0 < G; h0 += 4) {          /* 4 heads x up to 4 vectors of accumulators in registers per pass */
        const long hn = G - h0 < 4 ? G - h0 : 4;
        for (long c0 = 0; c0 < nc; c0 += 4) {
            const long cn = nc - c0 < 4 ? nc - c0 : 4;
            __m512 acc[4][4];
            for (int h = 0; h < 4; h++) for (int c = 0; c < 4; c++) acc[h][c] = _mm512_setzero_ps();
            for (long t = 0; t < keys; t++) {
                const void *v = kv_row(vb, vtype, bt, hd, g, t);
                const float vs = kv_scale(vb, vtype, bt, hd, g, t);
                __m512 V[4];
                for (long c = 0; c < cn; c++) V[c] = ld_row(vtype, v, (c0 + c) * 16, c0 + c == nc - 1 ? tail : 0xFFFF);
                for (long h = 0; h < hn; h++) {
                    __m512 p = _mm512_set1_ps(sc[(h0 + h) * keys + t] * vs);
                    for (long c = 0; c < cn; c++) acc[h][c] = _mm512_fmadd_ps(p, V[c], acc[h][c]);
                }
            }
            for (long h = 0; h < hn; h++)
                for (long c = 0; c < cn; c++)
                    _mm512_mask_storeu_ps(out + (h0 + h) * os + (c0 + c) * 16, c0 + c == nc - 1 ? tail : 0xFFFF, acc[h][c]);
        }
    }
}
#endif

void sentio_attn_decode_group_kv(int ktype, int vtype, const void *const *kblocks, const void *const *vblocks,
                                 long blockTokens, long headDim, long g, long keys, const float *q, long qstride, long G,
                                 float scale, float *scores, float *out, long ostride) {
    if (keys <= 0 || G <= 0) return;
#if defined(__x86_64__)
    if (sentio_isa_level() >= 2 && headDim <= 16 * MAXC) {
        decode_avx512(ktype, vtype, kblocks, vblocks, blockTokens, headDim, g, keys, q, qstride, G, scale, scores, out, ostride);
        return;
    }
#endif
    decode_scalar(ktype, vtype, kblocks, vblocks, blockTokens, headDim, g, keys, q, qstride, G, scale, scores, out, ostride);
}
