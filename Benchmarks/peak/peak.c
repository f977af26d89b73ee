/* Peak arithmetic throughput of this CPU, per core and on N threads: the ceilings that the GEMM
   efficiency table in docs/BENCHMARKS.md divides by.

   Build and run (no Swift needed):
     clang -O2 -march=native -pthread Benchmarks/peak/peak.c -o /tmp/peak && /tmp/peak 1 2
   Each kernel keeps 12 independent zmm accumulators (more than latency x ports needs, so the loop is
   bound by issue throughput, not by the dependency chain) and counts:
     vpdpbusd zmm : 16 lanes x 4 u8*s8 products = 64 MACs = 128 int8 ops
     vfmadd231ps zmm : 16 FMAs = 32 flops
     vdpbf16ps zmm : 16 lanes x 2 bf16 products = 32 MACs = 64 flops
   Time is the CPU time of the slowest thread (so other jobs' load does not count); the best of 5 repetitions is reported (the machine is shared). */
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ITERS 5000000L
#define NACC 12

/* Thread CPU time: on a machine shared with other jobs it leaves out the time this thread was not scheduled. */
static double now(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) static int run_vnni(long iters) {
    __m512i a[NACC];
    for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_epi32(i);
    __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(5);
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < NACC; i++) a[i] = _mm512_dpbusd_epi32(a[i], w, x);
        __asm__ volatile("" : "+v"(w), "+v"(x));
    }
    __m512i s = a[0];
    for (int i = 1; i < NACC; i++) s = _mm512_add_epi32(s, a[i]);
    return _mm512_reduce_add_epi32(s);
}
__attribute__((target("avx512f,fma"), noinline)) static int run_fma(long iters) {
    __m512 a[NACC];
    for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps((float)i);
    __m512 w = _mm512_set1_ps(0.999f), x = _mm512_set1_ps(1e-6f);
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < NACC; i++) a[i] = _mm512_fmadd_ps(a[i], w, x);
        __asm__ volatile("" : "+v"(w), "+v"(x));
    }
    __m512 s = a[0];
    for (int i = 1; i < NACC; i++) s = _mm512_add_ps(s, a[i]);
    return (int)_mm512_reduce_add_ps(s);
}
__attribute__((target("avx512f,avx512bf16"), noinline)) static int run_bf16(long iters) {
    __m512 a[NACC];
    for (int i = 0; i < NACC; i++) a[i] = _mm512_set1_ps((float)i);
    __m512bh w = (__m512bh)_mm512_set1_epi16(0x3f80), x = (__m512bh)_mm512_set1_epi16(0x3380);
    for (long it = 0; it < iters; it++) {
        for (int i = 0; i < NACC; i++) a[i] = _mm512_dpbf16_ps(a[i], w, x);
        __asm__ volatile("" : "+v"(w), "+v"(x));
    }
    __m512 s = a[0];
    for (int i = 1; i < NACC; i++) s = _mm512_add_ps(s, a[i]);
    return (int)_mm512_reduce_add_ps(s);
}

typedef struct { int kind; long iters; double secs; int sink; } job;
static void *worker(void *p) {
    job *j = p;
    double t0 = now();
    j->sink = j->kind == 0 ? run_vnni(j->iters) : j->kind == 1 ? run_fma(j->iters) : run_bf16(j->iters);
    j->secs = now() - t0;
    return NULL;
}

int main(int argc, char **argv) {
    const char *names[3] = { "vpdpbusd zmm (int8 GOPS)", "vfmadd231ps zmm (f32 GFLOP/s)", "vdpbf16ps zmm (bf16 GFLOP/s)" };
    const double opsPerInsn[3] = { 128, 32, 64 };
    int tlist[8], nt = 0;
    for (int a = 1; a < argc && nt < 8; a++) tlist[nt++] = atoi(argv[a]);
    if (nt == 0) { tlist[0] = 1; tlist[1] = 2; nt = 2; }
    for (int kind = 0; kind < 3; kind++) {
        for (int ti = 0; ti < nt; ti++) {
            int T = tlist[ti];
            double best = 1e30; int sink = 0;
            for (int rep = 0; rep < 5; rep++) {
                pthread_t th[64]; job jobs[64];
                for (int t = 0; t < T; t++) { jobs[t] = (job){ kind, ITERS, 0, 0 }; pthread_create(&th[t], NULL, worker, &jobs[t]); }
                double worst = 0;
                for (int t = 0; t < T; t++) { pthread_join(th[t], NULL); if (jobs[t].secs > worst) worst = jobs[t].secs; sink += jobs[t].sink; }
                if (worst < best) best = worst;
            }
            double insn = (double)ITERS * NACC * T;
            printf("%-30s %dT  %8.1f total  %8.1f per thread  (%.2f insn/ns per thread)%s\n", names[kind], T,
                   insn * opsPerInsn[kind] / best / 1e9, insn * opsPerInsn[kind] / best / 1e9 / T,
                   insn / T / best / 1e9, sink == 42 ? " " : "");
        }
    }
    return 0;
}
