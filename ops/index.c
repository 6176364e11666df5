/* Indexing: selecting, gathering and scattering by index tensors. */
#include "ops/registry.h"

const nb_op_def *const nbi_index_ops[] = { NULL };
