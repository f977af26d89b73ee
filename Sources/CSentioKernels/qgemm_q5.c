/* q5 (ggml's Q5_0: 5-bit) weights x Q8_0 activations: decode GEMV and prefill GEMM, scalar / AVX2 / AVX-512 VNNI.

   Block (22 bytes, BlockQ5_0 in SentioCore): f16 scale d, 32 high bits qh (little-endian u32, bit j = bit 4 of
   weight j), 16 bytes of low nibbles (byte j: weight j low, weight j+16 high); w = d * (q - 16), q in 0..31.
   Activations: Q8_0 blocks x ~= dx * qx; at ISA >= 1 the activation side carries corr = 16 * sum(qx) per block
   (sk_qgemm_corr), so the integer kernels take the weights unsigned (q straight into vpdpbusd's / maddubs' u8
   operand) and subtract corr exactly: sum (q - 16) qx = sum q qx - corr. The scalar twin (sk_qgemm_scalar) computes
   the signed dot itself and never reads corr.

   VNNI, n <= 4 (decode): qgemv_x86.c's four-block GEMV (sk_qgemv_vnni_x4, shared with Q4_0): four blocks (88 bytes)
   per step and weight row; one word permute packs their 64 nibble bytes into one zmm, AND / shift+AND give the low
   (k = 0..15) and high (k = 16..31) nibble vectors, and a second word permute picks the scales and the four qh words,
   which become two 64-bit masks (bit 16t + j = bit j / j + 16 of block t's qh) for one masked add of 16 each.
   VNNI, n = 5..16 (sk_qgemvn_max, batched decode): the row-lane GEMV of qgemv_x86.c (16 weight rows transposed in
   registers, high bits spread from a gathered qh by a 16-entry table), the rows left at a range's end on the decode
   GEMV; larger n: the packed 32-row x 6 tile GEMM of qgemm_512.c (sk_pack_group unpacks q5 to bytes 0..31).
   AVX2: qgemv_x86.c's 4 weight rows x 2 activation rows kernel, each block's 32 values unpacked to bytes (high bits
   spread with a byte shuffle and bit test), maddubs + madd. */
#include "internal.h"

#define Q5_BS 22

void sk_dequant_q5_row(const uint8_t *src, long cols, float *o) {
    for (long b = 0; b < cols / 32; b++) {
        const uint8_t *blk = src + b * Q5_BS;
        uint16_t hd; memcpy(&hd, blk, 2);
        const float d = sk_f16_to_f32(hd);
        const uint32_t qh = sk_q5_qh(blk);
        for (int j = 0; j < 32; j++) o[b * 32 + j] = d * (float)sk_q5_level(blk, qh, j);
    }
}

void sk_qgemm_q5(const void *w, size_t rowBytes, long r0, long r1, const sentio_xq *xq, float *y, long ldy,
                 const float *bias) {
#if defined(__x86_64__)
    const int isa = sentio_isa_level();
    if (isa >= 3) {
        if (xq->n <= SK_QGEMV_MAX_N) { sk_qgemv_vnni_x4(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
        if (xq->n <= sk_qgemvn_max()) {
            /* batched decode: whole 16-row groups on the row-lane GEMV, the rest (< 16 rows at a range's end) on the
               decode GEMV, 4 activation rows at a time */
            const long r = sk_qgemvn_rowlane_on() ? sk_qgemvn_rowlane_run(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias) : r0;
            const long nb = xq->cols / 32;
            for (long i = 0; r < r1 && i < xq->n; i += SK_QGEMV_MAX_N) {
                sentio_xq part = { xq->qs + i * xq->cols, xq->d + i * nb, xq->corr + i * nb,
                                   xq->n - i < SK_QGEMV_MAX_N ? xq->n - i : SK_QGEMV_MAX_N, xq->cols };
                sk_qgemv_vnni_x4(SENTIO_Q5, w, rowBytes, r, r1, &part, y + i * ldy, ldy, bias);
            }
            return;
        }
        if (sk_qgemm_vnni512(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias)) return;
    }
    if (isa >= 1) { sk_qgemv_avx2(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias); return; }
#endif
    sk_qgemm_scalar(SENTIO_Q5, w, rowBytes, r0, r1, xq, y, ldy, bias);
}
