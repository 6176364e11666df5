/* Kernels of the ops in ops/activation.c. Raw loops only. */
#include "ops/kernels/loops.h"
