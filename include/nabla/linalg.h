/* Linear algebra. Conventions of ops.h apply. */
#ifndef NABLA_LINALG_H
#define NABLA_LINALG_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- linear algebra */
/* Matrix product of x [..., m, k] and y [..., k, n], broadcasting the leading (batch) axes.
 * 1-D operands follow PyTorch: [k] @ [k, n] -> [n], [m, k] @ [k] -> [m], [k] @ [k] -> [].
 * Transposed views go to BLAS as flags, without copies.
 * Grad: gx = gz @ y^T, gy = x^T @ gz. */
NB_API nb_tensor *nb_matmul(nb_tensor *x, nb_tensor *y);

#ifdef NB_CALL_SITES
#define nb_matmul(...) NB_AT(nb_matmul(__VA_ARGS__))
#endif

#endif
