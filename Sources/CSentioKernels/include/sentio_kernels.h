#pragma once
#include <stdint.h>
#include <stddef.h>
/* CSentioKernels: instructions Swift cannot emit (AVX-512 VNNI, AVX512-BF16), chosen at run time.
   Every function here has a scalar Swift twin in SentioKernels. */
int sentio_cpu_features(void);
