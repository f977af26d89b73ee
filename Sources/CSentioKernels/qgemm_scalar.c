/* Integer dot kernels, portable C: Q8_0 activations x q8/q4/q5 weight rows, signed dots (corr is not read). */
#include "internal.h"

int sk_qgemm_corr(int wtype, int isa) {
    if (wtype == SENTIO_Q4_1) return 1;                   /* q4_1: the block sum itself (offset term) */
    if (wtype == SENTIO_Q5) return isa >= 1 ? 16 : 0;    /* q5: unsigned 0..31 in the SIMD kernels */
    if (isa >= 3) return wtype == SENTIO_Q8 ? 128 : 8;   /* VNNI: unsigned weights (w+128, nibbles) */
    if (isa >= 1) return wtype == SENTIO_Q8 ? 0 : 8;     /* AVX2: sign trick for q8, nibbles for q4 */
    return 0;
}

void sk_qgemm_scalar(int wtype, const void *w, size_t rowBytes, long r0, long r1,
                     const sentio_xq *xq, float *y, long ldy, const float *bias) {
    long cols = xq->cols, nb = cols / 32, bs = wtype == SENTIO_Q8 ? 34 : wtype == SENTIO_Q5 ? 22 : 18;
    for (long r = r0; r < r1; r++) {
        const uint8_t *wr = (const uint8_t *)w + (size_t)r * rowBytes;
        for (long i = 0; i < xq->n; i++) {
            const int8_t *xr = xq->qs + i * cols;
            float acc = 0;
            for (long b = 0; b < nb; b++) {
                const uint8_t *blk = wr + b * bs;
                uint16_t h; memcpy(&h, blk, 2);
                const int8_t *xb = xr + b * 32;
                int32_t dot = 0;
                if (wtype == SENTIO_Q8) {
                    const int8_t *q = (const int8_t *)(blk + 2);
                    for (int j = 0; j < 32; j++) dot += (int32_t)q[j] * xb[j];
                } else if (wtype == SENTIO_Q5) {
                    const uint32_t qh = sk_q5_qh(blk);
                    for (int j = 0; j < 32; j++) dot += sk_q5_level(blk, qh, j) * xb[j];
                } else {
                    const uint8_t *q = blk + 2;
                    for (int j = 0; j < 16; j++)
                        dot += ((int32_t)(q[j] & 15) - 8) * xb[j] + ((int32_t)(q[j] >> 4) - 8) * xb[j + 16];
                }
                acc += (sk_f16_to_f32(h) * xq->d[i * nb + b]) * (float)dot;
            }
            y[i * ldy + r] = acc + (bias ? bias[r] : 0.0f);
        }
    }
}
