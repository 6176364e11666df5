/* Joining and rearranging: cat, stack, split, pad, flip, roll, repeat, tril/triu, diagonal. */
#include "ops/registry.h"

const nb_op_def *const nbi_join_ops[] = { NULL };
