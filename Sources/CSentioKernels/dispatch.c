#include "sentio_kernels.h"
int sentio_cpu_features(void) { return 0; }
