/* CPU feature detection and the ISA limit used to pick kernels at run time.

   AMX (level 4: AMX-TILE + AMX-BF16 + AMX-INT8 for the bf16 tile GEMM and encoder attention, amx_bf16.c, and
   the int8 tile GEMM of q8r weights, amx_int8.c) is used when
   the CPU reports it, the OS grants the tile state and a probe product run first in a forked child gives the
   right answer (one bf16 and one int8 product); SENTIO_AMX=0 turns it off (the level then stops at AVX-512 VNNI). History: an earlier
   AMX-INT8 kernel died once with SIGILL in a full test run on this project's VMs; the probe-in-a-child guard
   and per-call tile configuration/release are the answer to that, and the suite is run repeatedly with the
   tiles on before this default was set (see docs/BENCHMARKS.md, "AMX"). */
#include "sentio_kernels.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

static int g_features = -1;
static int g_limit = 4;

int sentio_cpu_features(void) {
    if (g_features >= 0) return g_features;
    int f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) f |= SENTIO_CPU_AVX2;
    if (__builtin_cpu_supports("f16c")) f |= SENTIO_CPU_F16C;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        f |= SENTIO_CPU_AVX512;
    if ((f & SENTIO_CPU_AVX512) && __builtin_cpu_supports("avx512vnni")) f |= SENTIO_CPU_VNNI;
    const char *amx = getenv("SENTIO_AMX");
    if ((f & SENTIO_CPU_VNNI) && !(amx && strcmp(amx, "0") == 0) && sk_amx_request()) f |= SENTIO_CPU_AMX;
#endif
    g_features = f;
    return f;
}

void sentio_set_isa_limit(int level) { g_limit = level; }

int sentio_isa_level(void) {
    int f = sentio_cpu_features(), lvl = 0;
    if ((f & SENTIO_CPU_AVX2) && (f & SENTIO_CPU_F16C)) lvl = 1;
    if (lvl == 1 && (f & SENTIO_CPU_AVX512)) lvl = 2;
    if (lvl == 2 && (f & SENTIO_CPU_VNNI)) lvl = 3;
    if (lvl == 3 && (f & SENTIO_CPU_AMX)) lvl = 4;
    return lvl < g_limit ? lvl : g_limit;
}
