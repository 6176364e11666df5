/* Kernels of the ops in ops/index.c. Raw loops only. */
#include "ops/kernels/loops.h"
