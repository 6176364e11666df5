/* Kernels of the ops in ops/random.c. Raw loops only. */
#include "ops/kernels/loops.h"
