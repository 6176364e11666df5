/* Activation functions (tanh and sigmoid are in ops.h). Conventions of ops.h apply. */
#ifndef NABLA_ACTIVATIONS_H
#define NABLA_ACTIVATIONS_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- activations */
NB_API nb_tensor *nb_relu(nb_tensor *x);      /* max(x, 0); gradient 0 at 0 */
/* Fused gradient, itself differentiable (used by the backward rule). */
NB_API nb_tensor *nb_relu_backward(nb_tensor *gz, nb_tensor *x);     /* gz * (x > 0) */

#ifdef NB_CALL_SITES
#define nb_relu(...) NB_AT(nb_relu(__VA_ARGS__))
#endif

#endif
