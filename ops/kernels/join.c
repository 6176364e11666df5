/* Kernels of the ops in ops/join.c. Raw loops only. */
#include "ops/kernels/loops.h"
