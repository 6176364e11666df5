/* Indexing: selecting, gathering and scattering by index tensors. Conventions of ops.h apply. */
#ifndef NABLA_INDEXING_H
#define NABLA_INDEXING_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- indexing */

#endif
