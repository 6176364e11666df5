/* Linear algebra: matmul with broadcast batch axes (kernel: ops/kernels/gemm.c). */
#include <string.h>

#include "ops/kernels/kernels.h"
#include "ops/registry.h"

static nb_status matmul_rule(const nb_op_def *op, nb_tensor *const *x, const void *attrs, nb_meta *z)
{
    char a[NBI_SHAPE_STR], b[NBI_SHAPE_STR];
    nb_status st = nbi_check_same_dtype(op, x, 2);
    if (!st)
        st = nbi_check_float(op, x, 0);
    if (st)
        return st;
    const nb_tensor *p = x[0], *q = x[1];
    if (p->rank < 2 || q->rank < 2)
        return nb_op_error(op, NB_ERR_SHAPE, "cannot multiply %s by %s: both need at least 2 axes",
                           nbi_shape_of(p, a), nbi_shape_of(q, b));
    int64_t k = p->shape[p->rank - 1];
    if (q->shape[q->rank - 2] != k)
        return nb_op_error(op, NB_ERR_SHAPE, "cannot multiply %s by %s: inner sizes %lld and %lld differ",
                           nbi_shape_of(p, a), nbi_shape_of(q, b), (long long)k, (long long)q->shape[q->rank - 2]);
    int bad;
    if (!nbi_broadcast_shapes(p->rank - 2, p->shape, q->rank - 2, q->shape, &z->rank, z->shape, &bad))
        return nb_op_error(op, NB_ERR_SHAPE, "cannot multiply %s by %s: batch axes do not broadcast (axis %d)",
                           nbi_shape_of(p, a), nbi_shape_of(q, b), bad - 2);
    z->shape[z->rank++] = p->shape[p->rank - 2];
    z->shape[z->rank++] = q->shape[q->rank - 1];
    z->dtype = p->dtype;
    return NB_OK;
}

/* gx = gz @ y^T and gy = x^T @ gz; transposes are views that BLAS reads as flags, and
 * nb_set_grad_in sums over batch axes that were broadcast. */
static void matmul_backward(nb_backward_ctx *c)
{
    nb_tensor *x = nb_saved_input(c, 0), *y = nb_saved_input(c, 1), *gz = nb_grad_out(c, 0);
    if (nb_needs_grad(c, 0)) nb_set_grad_in(c, 0, nb_matmul(gz, nb_transpose(y, -1, -2)));
    if (nb_needs_grad(c, 1)) nb_set_grad_in(c, 1, nb_matmul(nb_transpose(x, -1, -2), gz));
}

#define S(...) { __VA_ARGS__ }
#define X(r, shape_, layout_) { .rank = r, .shape = shape_, .layout = layout_ }
static const nb_sample samples_matmul[] = {
    { .label = "matrix by matrix", .in = { X(2, S(3, 4), NB_LAYOUT_CONTIGUOUS), X(2, S(4, 5), NB_LAYOUT_CONTIGUOUS) } },
    { .label = "transposed operands", .in = { X(2, S(3, 4), NB_LAYOUT_TRANSPOSED), X(2, S(4, 2), NB_LAYOUT_TRANSPOSED) } },
    { .label = "strided operand (packed)", .in = { X(2, S(3, 4), NB_LAYOUT_STRIDED), X(2, S(4, 5), NB_LAYOUT_CONTIGUOUS) } },
    { .label = "batched", .in = { X(3, S(2, 3, 4), NB_LAYOUT_CONTIGUOUS), X(3, S(2, 4, 3), NB_LAYOUT_TRANSPOSED) } },
    { .label = "broadcast batch", .in = { X(4, S(2, 1, 3, 4), NB_LAYOUT_CONTIGUOUS), X(3, S(3, 4, 2), NB_LAYOUT_CONTIGUOUS) } },
    { .label = "matrix by batch", .in = { X(2, S(3, 4), NB_LAYOUT_CONTIGUOUS), X(3, S(2, 4, 5), NB_LAYOUT_STRIDED) } },
    { .label = "expanded batch", .in = { X(3, S(2, 3, 4), NB_LAYOUT_EXPANDED), X(3, S(2, 4, 2), NB_LAYOUT_CONTIGUOUS) } },
    { .label = "row by column", .in = { X(2, S(1, 6), NB_LAYOUT_CONTIGUOUS), X(2, S(6, 1), NB_LAYOUT_STRIDED) } },
};

static const nb_op_def op_matmul = {
    .name = "matmul", .n_in = 2, .shape = matmul_rule,
    .forward = { [NB_F32] = nbk_matmul, [NB_F64] = nbk_matmul },
    .saves = NB_SAVE_INPUT(0) | NB_SAVE_INPUT(1), .backward = matmul_backward,
    .samples = samples_matmul, .n_samples = (int)(sizeof samples_matmul / sizeof samples_matmul[0]),
};

/* 1-D operands become matrices by a unit axis, removed again from the result (as PyTorch). */
NB_API nb_tensor *nb_matmul(nb_tensor *x, nb_tensor *y)
{
    if (!x || !y) {
        nbi_error_keep(NB_ERR_NULL, "nb_matmul: input %d is NULL", x ? 1 : 0);
        return NULL;
    }
    if (x->rank == 0 || y->rank == 0) {
        char a[NBI_SHAPE_STR], b[NBI_SHAPE_STR];
        nbi_error(NB_ERR_SHAPE, "nb_matmul: cannot multiply %s by %s: rank-0 operands have no axis to contract",
                  nbi_shape_of(x, a), nbi_shape_of(y, b));
        return NULL;
    }
    bool x_vector = x->rank == 1, y_vector = y->rank == 1;
    nb_tensor *z = nbi_apply2(&op_matmul, x_vector ? nb_unsqueeze(x, 0) : x, y_vector ? nb_unsqueeze(y, 1) : y, NULL);
    if (y_vector)
        z = nb_squeeze(z, -1);
    if (x_vector)
        z = nb_squeeze(z, -1 - !y_vector);
    return z;
}

const nb_op_def *const nbi_linalg_ops[] = { &op_matmul, NULL };
