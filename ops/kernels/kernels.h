/* Forward kernels of the built-in ops (internal). Each has the nb_kernel signature, so op
 * definitions point at them directly; they read any strides and write contiguous outputs. */
#ifndef NABLA_OPS_KERNELS_H
#define NABLA_OPS_KERNELS_H

#include "nabla/op_def.h"

#define NBK_DECLARE(name)                                                            \
    nb_status nbk_##name##_f32(nb_tensor *const *x, nb_tensor *const *z, const void *attrs); \
    nb_status nbk_##name##_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)

/* binary, broadcasting */
NBK_DECLARE(add); NBK_DECLARE(sub); NBK_DECLARE(mul); NBK_DECLARE(div); NBK_DECLARE(pow);
NBK_DECLARE(maximum); NBK_DECLARE(minimum);
NBK_DECLARE(eq); NBK_DECLARE(ne); NBK_DECLARE(lt); NBK_DECLARE(le); NBK_DECLARE(gt); NBK_DECLARE(ge);
NBK_DECLARE(tanh_backward); NBK_DECLARE(sigmoid_backward); NBK_DECLARE(relu_backward);
/* with a scalar attribute (struct nbk_scalar_attrs) */
NBK_DECLARE(add_scalar); NBK_DECLARE(mul_scalar); NBK_DECLARE(pow_scalar); NBK_DECLARE(rsub_scalar);
/* unary */
NBK_DECLARE(neg); NBK_DECLARE(exp); NBK_DECLARE(log); NBK_DECLARE(sqrt); NBK_DECLARE(tanh);
NBK_DECLARE(sigmoid); NBK_DECLARE(relu); NBK_DECLARE(abs); NBK_DECLARE(sign); NBK_DECLARE(square);

typedef struct nbk_scalar_attrs {
    double s;
} nbk_scalar_attrs;

/* Copy (any strides, any dtypes); used by clone, contiguous and cast. */
nb_status nbk_copy(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);

/* Reductions over the axes in a bit mask (kept axes in z, which is contiguous). */
typedef enum nbk_reduce_kind { NBK_SUM, NBK_ARGMAX, NBK_ARGMIN } nbk_reduce_kind;
nb_status nbk_reduce(nbk_reduce_kind kind, const nb_tensor *x, nb_tensor *z, unsigned mask);
/* z[kept] = x[kept, index[kept]] and its transpose: g[kept, index[kept]] += gz[kept] into zeros. */
nb_status nbk_reduce_gather(const nb_tensor *x, const nb_tensor *index, nb_tensor *z, unsigned mask);
nb_status nbk_reduce_scatter(const nb_tensor *gz, const nb_tensor *index, nb_tensor *g, unsigned mask);

/* Batched GEMM through OpenBLAS: z[..., m, n] = x[..., m, k] @ y[..., k, n], batch broadcast. */
nb_status nbk_matmul(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);

#endif
