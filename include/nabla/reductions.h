/* Reductions over any set of axes. Conventions of ops.h apply (ownership, errors, NULL
 * propagation, negative axes). */
#ifndef NABLA_REDUCTIONS_H
#define NABLA_REDUCTIONS_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- reductions
 * axes: n_axes distinct axes; axes == NULL with n_axes == 0 reduces every axis.
 * keepdim keeps reduced axes with size 1. */
NB_API nb_tensor *nb_sum(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_mean(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
/* Largest element; the gradient goes to the first largest element of each reduced block. */
NB_API nb_tensor *nb_max(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_min(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
/* i64 index of the first largest (smallest) element within each reduced block, counted in
 * C order over the reduced axes. Not differentiable. */
NB_API nb_tensor *nb_argmax(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_argmin(nb_tensor *x, const int *axes, int n_axes, bool keepdim);
NB_API nb_tensor *nb_sum_all(nb_tensor *x);    /* rank 0 */
NB_API nb_tensor *nb_mean_all(nb_tensor *x);   /* rank 0 */
/* Sums x down to shape, which x's shape must be a broadcast of: the gradient of expand. */
NB_API nb_tensor *nb_sum_to(nb_tensor *x, int rank, const int64_t *shape);

#ifdef NB_CALL_SITES
#define nb_sum(...) NB_AT(nb_sum(__VA_ARGS__))
#define nb_mean(...) NB_AT(nb_mean(__VA_ARGS__))
#define nb_max(...) NB_AT(nb_max(__VA_ARGS__))
#define nb_min(...) NB_AT(nb_min(__VA_ARGS__))
#define nb_sum_all(...) NB_AT(nb_sum_all(__VA_ARGS__))
#define nb_mean_all(...) NB_AT(nb_mean_all(__VA_ARGS__))
#endif

#endif
