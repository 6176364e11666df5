/* Helpers shared by the op families (internal): shape rules, attribute formatting, tables. */
#ifndef NABLA_OPS_REGISTRY_H
#define NABLA_OPS_REGISTRY_H

#include "core/error_impl.h"
#include "core/shape.h"
#include "core/tensor_impl.h"
#include "nabla/op_def.h"
#include "nabla.h"

/* Each family file ends with a NULL-terminated table of its ops. */
extern const nb_op_def *const nbi_elementwise_ops[];
extern const nb_op_def *const nbi_reduce_ops[];
extern const nb_op_def *const nbi_linalg_ops[];
extern const nb_op_def *const nbi_shape_ops[];
extern const nb_op_def *const nbi_activation_ops[];
extern const nb_op_def *const nbi_index_ops[];
extern const nb_op_def *const nbi_join_ops[];
extern const nb_op_def *const nbi_loss_ops[];
extern const nb_op_def *const nbi_random_ops[];

/* Shape rules used by many ops. */
/* Inputs of one float dtype (f32 or f64) broadcast together; output of that dtype. */
nb_status nbi_rule_broadcast(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z);
/* One float input; output of its shape and dtype. */
nb_status nbi_rule_unary(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z);

/* Requires input i to be f32 or f64. */
nb_status nbi_check_float(const nb_op_def *op, nb_tensor *const *x, int i);
/* Requires inputs 0..n-1 to share one dtype. */
nb_status nbi_check_same_dtype(const nb_op_def *op, nb_tensor *const *x, int n);

/* "[2, 3]" of a tensor into a caller buffer of at least NBI_SHAPE_STR bytes. */
#define NBI_SHAPE_STR 160
const char *nbi_shape_of(const nb_tensor *t, char *buf);

/* Shorthands for ops' public functions. */
static inline nb_tensor *nbi_apply1(const nb_op_def *op, nb_tensor *x, const void *attrs)
{
    return nb_apply(op, (nb_tensor *const[]){ x }, attrs);
}
static inline nb_tensor *nbi_apply2(const nb_op_def *op, nb_tensor *x, nb_tensor *y, const void *attrs)
{
    return nb_apply(op, (nb_tensor *const[]){ x, y }, attrs);
}

/* Axis lists as bit masks (one bit per axis, rank <= 8). n_axes == 0 with axes == NULL
 * means every axis. Returns false with an error naming fn and the shape. */
bool nbi_axes_mask(const char *fn, const nb_tensor *x, const int *axes, int n_axes, unsigned *mask);
/* Formats a mask as a JSON list "[0, 2]" into buf. */
int nbi_format_axes(unsigned mask, char *buf, size_t size);

#endif
