/* Kernels of the ops in ops/loss.c. Raw loops only. */
#include "ops/kernels/loops.h"
