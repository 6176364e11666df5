/* Rows of tensors whose first axis counts examples (internal, shared by data/). */
#ifndef NABLA_DATA_ROWS_H
#define NABLA_DATA_ROWS_H

#include "nabla/tensor.h"

/* t itself with a new reference when it is contiguous, else a contiguous copy; owned by
 * the caller (nb_release). NULL with an error recorded when out of memory. */
nb_tensor *nbi_contiguous_ref(const nb_tensor *t);

/* Rows idx[0..n-1] of the contiguous tensor t [N, ...] (each index in [0, N), checked by
 * the caller) as a new contiguous tensor [n, ...] owned by the caller: one allocation and
 * one copy. NULL with an error recorded when out of memory. */
nb_tensor *nbi_gather_rows(const nb_tensor *t, const int64_t *idx, int64_t n);

#endif
