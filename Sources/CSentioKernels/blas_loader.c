/* OpenBLAS, loaded at first use with dlopen so that its CPU detection can be corrected first.
 *
 * OpenBLAS 0.3.21 (Debian 12) picks its kernels in a library constructor from the CPU model. On CPUs it
 * does not know (e.g. the Sapphire Rapids VMs this project runs on, reported as "Intel Xeon Processor")
 * it falls back to the SSE3 "Prescott" kernels: 1024^3 sgemm measured 3.5 GFLOP/s there against
 * 16.3 GFLOP/s with the SkylakeX kernels, on the same loaded machine. OPENBLAS_CORETYPE overrides the
 * choice but is read only in that constructor, so it must be set before the library is loaded.
 * Unless the user set it, this loader sets it from the features the CPU reports (__builtin_cpu_supports:
 * the whole AVX-512 F/CD/BW/DQ/VL set -> SkylakeX, AVX2+FMA -> Haswell, else OpenBLAS decides) and then
 * loads libopenblas. If the process already has OpenBLAS loaded (a binary linked against it), that copy
 * is used as it is. OpenBLAS is kept single-threaded: Sentio's thread pool splits the work. */
#define _GNU_SOURCE
#include "sentio_kernels.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float *, int, const float *, int,
                         float, float *, int);
static sgemm_fn p_sgemm;
static char *(*p_corename)(void);
static pthread_once_t once = PTHREAD_ONCE_INIT;
static char loaded_from[512] = "";
static const char *coretype_set = NULL;

static void load(void) {
#if defined(__x86_64__)
    if (!getenv("OPENBLAS_CORETYPE")) {
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512vl")) coretype_set = "SkylakeX";
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) coretype_set = "Haswell";
        if (coretype_set) setenv("OPENBLAS_CORETYPE", coretype_set, 0);
    }
#endif
    const char *names[] = {"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"};
    void *h = NULL;
    for (unsigned i = 0; i < sizeof names / sizeof names[0] && !h; i++) h = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (!h) return;
    p_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    p_corename = (char *(*)(void))dlsym(h, "openblas_get_corename");
    void (*set_threads)(int) = (void (*)(int))dlsym(h, "openblas_set_num_threads");
    if (set_threads) set_threads(1);
    Dl_info info;
    if (p_sgemm && dladdr((void *)p_sgemm, &info) && info.dli_fname)
        snprintf(loaded_from, sizeof loaded_from, "%s", info.dli_fname);
}

int sentio_blas_available(void) {
    pthread_once(&once, load);
    return p_sgemm != NULL;
}

const char *sentio_blas_corename(void) {
    pthread_once(&once, load);
    return p_corename ? p_corename() : "unavailable";
}

const char *sentio_blas_path(void) {
    pthread_once(&once, load);
    return loaded_from;
}

/* Row-major C = alpha op(A) op(B) + beta C (CBLAS enums: 101 row-major, 111 no-trans, 112 trans). */
void sentio_blas_sgemm(int transA, int transB, int m, int n, int k, float alpha, const float *a, int lda,
                       const float *b, int ldb, float beta, float *c, int ldc) {
    pthread_once(&once, load);
    if (p_sgemm) {
        p_sgemm(101, transA ? 112 : 111, transB ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* No OpenBLAS on this system: plain loops (correct, slow). */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) {
                float x = transA ? a[p * lda + i] : a[i * lda + p];
                float y = transB ? b[j * ldb + p] : b[p * ldb + j];
                s += x * y;
            }
            c[i * ldc + j] = alpha * s + (beta == 0 ? 0 : beta * c[i * ldc + j]);
        }
}
