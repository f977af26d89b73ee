/* Vector math body, included once per ISA by vecmath.c with VW (lanes), SFX (name suffix) and
   TGT (target attribute) defined. Written with clang vector extensions so one text serves every width. */
typedef float CAT(vf, SFX) __attribute__((vector_size(VW * 4)));
typedef int32_t CAT(vi, SFX) __attribute__((vector_size(VW * 4)));
#define VF CAT(vf, SFX)
#define VI CAT(vi, SFX)

TGT static inline VF CAT(splat, SFX)(float v) { VF r; for (int i = 0; i < VW; i++) r[i] = v; return r; }
#define S(v) CAT(splat, SFX)(v)
TGT static inline VF CAT(sel0, SFX)(VI keep, VF v) { return (VF)((VI)v & keep); }

/* exp(x): x = n ln2 + r, |r| <= ln2/2, e^r by its Taylor polynomial to r^7 (truncation < 6e-9
   relative), 2^n by building the exponent bits. Below -87.3 the result is 0, above 88.7 it is clamped. */
TGT static inline VF CAT(vexp, SFX)(VF x) {
    VI under = x < S(-87.33654f);
    x = (VF)(((VI)x & ~(x > S(88.72283f))) | ((VI)S(88.72283f) & (x > S(88.72283f))));
    x = (VF)(((VI)x & ~under) | ((VI)S(-87.0f) & under));
    VF n = (x * S(1.44269504f) + S(12582912.0f)) - S(12582912.0f);      /* round to nearest */
    VF r = x - n * S(0.693145752f);                                        /* ln2 high part */
    r = r - n * S(1.42860677e-06f);                                        /* ln2 low part */
    VF p = S(1.0f / 5040);
    p = p * r + S(1.0f / 720); p = p * r + S(1.0f / 120); p = p * r + S(1.0f / 24);
    p = p * r + S(1.0f / 6); p = p * r + S(0.5f); p = p * r + S(1.0f); p = p * r + S(1.0f);
    VI e = (__builtin_convertvector(n, VI) + 127) << 23;
    return CAT(sel0, SFX)(~under, p * (VF)e);
}

/* erfc(z) for z >= 0 with relative error ~1e-7 (Chebyshev-fitted form from Numerical Recipes). */
TGT static inline VF CAT(verfc_pos, SFX)(VF z) {
    VF t = S(1.0f) / (S(1.0f) + S(0.5f) * z);
    VF p = S(0.17087277f);
    p = p * t + S(-0.82215223f); p = p * t + S(1.48851587f); p = p * t + S(-1.13520398f);
    p = p * t + S(0.27886807f); p = p * t + S(-0.18628806f); p = p * t + S(0.09678418f);
    p = p * t + S(0.37409196f); p = p * t + S(1.00002368f); p = p * t + S(-1.26551223f);
    return t * CAT(vexp, SFX)(p - z * z);
}

#define LOOP(BODY) do {                                                                           \
    long i = 0;                                                                                   \
    for (; i + VW <= count; i += VW) { VF v; __builtin_memcpy(&v, x + i, sizeof v); BODY;        \
                                       __builtin_memcpy(x + i, &v, sizeof v); }                   \
    if (i < count) { VF v = S(0); __builtin_memcpy(&v, x + i, (size_t)(count - i) * 4); BODY;    \
                     __builtin_memcpy(x + i, &v, (size_t)(count - i) * 4); }                      \
} while (0)

TGT static void CAT(silu_, SFX)(float *x, long count) {
    LOOP(v = v / (S(1.0f) + CAT(vexp, SFX)(-v)));
}
TGT static void CAT(gelu_tanh_, SFX)(float *x, long count) {
    /* 0.5 x (1 + tanh(u)) = x / (1 + e^(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3) */
    LOOP(v = v / (S(1.0f) + CAT(vexp, SFX)(S(-2.0f * 0.7978845608f) * (v + S(0.044715f) * v * v * v))));
}
TGT static void CAT(gelu_erf_, SFX)(float *x, long count) {
    /* 0.5 x erfc(-x/sqrt2); erfc(-a) = 2 - erfc(a) for a >= 0 */
    LOOP({
        VF z = v * S(-0.70710678f);
        VI neg = z < S(0.0f);
        VF az = (VF)((VI)z & ~(VI)S(-0.0f));
        VF e = CAT(verfc_pos, SFX)(az);
        VF ec = (VF)(((VI)e & ~neg) | ((VI)(S(2.0f) - e) & neg));
        v = S(0.5f) * v * ec;
    });
}
TGT static void CAT(softmax_, SFX)(float *x, long count) {
    VF m = S(-__builtin_inff());
    long i = 0;
    for (; i + VW <= count; i += VW) { VF v; __builtin_memcpy(&v, x + i, sizeof v);
        m = (VF)(((VI)m & ~(v > m)) | ((VI)v & (v > m))); }
    float mx = -__builtin_inff();
    for (int l = 0; l < VW; l++) mx = m[l] > mx ? m[l] : mx;
    for (; i < count; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -__builtin_inff()) mx = 0;   /* all -inf: keep the exp finite (gives 0/0 -> see below) */
    VF sum = S(0.0f);
    VF vmx = S(mx);
    i = 0;
    for (; i + VW <= count; i += VW) { VF v; __builtin_memcpy(&v, x + i, sizeof v);
        v = CAT(vexp, SFX)(v - vmx); sum += v; __builtin_memcpy(x + i, &v, sizeof v); }
    float s = 0;
    for (int l = 0; l < VW; l++) s += sum[l];
    if (i < count) {
        VF v = S(-__builtin_inff()); __builtin_memcpy(&v, x + i, (size_t)(count - i) * 4);
        v = CAT(vexp, SFX)(v - vmx);
        for (long l = 0; l < count - i; l++) s += v[l];
        __builtin_memcpy(x + i, &v, (size_t)(count - i) * 4);
    }
    float inv = 1.0f / s;
    LOOP(v = v * S(inv));
}
#undef LOOP
#undef S
#undef VF
#undef VI
