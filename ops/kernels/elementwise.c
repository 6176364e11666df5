/* Elementwise kernels: binary with broadcasting, scalar, unary. Raw loops only.
 *
 * Every kernel walks its operands with the shared iterator; each row is a 1-D loop whose
 * contiguous and broadcast (stride 0) cases are written out so the compiler vectorises
 * them. Transcendentals go through the SLEEF tables of vecmath.h. */
#include "ops/kernels/loops.h"

/* Contiguous and of z's shape: the operand can be read as one flat row. */
static bool flat_like(const nb_tensor *x, const nb_tensor *z)
{
    return nbi_same_shape_t(x, z) && nbi_is_contiguous(x->rank, x->shape, x->strides);
}

void nbk_run_binary(nb_tensor *const *x, nb_tensor *z, nbi_row_fn row)
{
    nbi_iter it;
    if (flat_like(x[0], z) && flat_like(x[1], z)) {
        nbi_iter_flat(&it, z->numel, 3);
    } else {
        int64_t sx[NB_MAX_RANK], sy[NB_MAX_RANK];
        nbi_broadcast_strides(x[0]->rank, x[0]->shape, x[0]->strides, z->rank, z->shape, sx);
        nbi_broadcast_strides(x[1]->rank, x[1]->shape, x[1]->strides, z->rank, z->shape, sy);
        nbi_iter_init(&it, z->rank, z->shape, 3, (const int64_t *const[]){ z->strides, sx, sy });
    }
    nbk_ew_ctx c = { .x = nbi_data(x[0]), .y = nbi_data(x[1]), .z = nbi_data(z) };
    nbi_iter_run(&it, row, &c);
}

void nbk_run_unary(const nb_tensor *x, nb_tensor *z, nbi_row_fn row, nbk_ew_ctx c)
{
    nbi_iter it;
    if (flat_like(x, z))
        nbi_iter_flat(&it, z->numel, 2);
    else
        nbi_iter_init(&it, z->rank, z->shape, 2, (const int64_t *const[]){ z->strides, x->strides });
    c.x = nbi_data(x);
    c.z = nbi_data(z);
    nbi_iter_run(&it, row, &c);
}

NBK_BINARY(add, a + b)
NBK_BINARY(sub, a - b)
NBK_BINARY(mul, a * b)
NBK_BINARY(div, a / b)
NBK_BINARY(pow, TG2(pow, a, b))
/* NaN wins, as in PyTorch: a != a is true only for NaN. */
NBK_BINARY(maximum, (a != a || a > b) ? a : b)
NBK_BINARY(minimum, (a != a || a < b) ? a : b)
NBK_BINARY(eq, a == b)
NBK_BINARY(ne, a != b)
NBK_BINARY(lt, a < b)
NBK_BINARY(le, a <= b)
NBK_BINARY(gt, a > b)
NBK_BINARY(ge, a >= b)
/* Fused gradients: (gz, z) -> gz * dz/dx, written from the output where that is cheaper. */
NBK_BINARY(tanh_backward, a * (1 - b * b))
NBK_BINARY(sigmoid_backward, a * b * (1 - b))
NBK_BINARY(relu_backward, b > 0 ? a : 0)

NBK_UNARY(add_scalar, a + s)
NBK_UNARY(mul_scalar, a * s)
NBK_UNARY(pow_scalar, s == 2 ? a * a : TG2(pow, a, s))
NBK_UNARY(rsub_scalar, s - a)
NBK_UNARY(neg, -a)
NBK_UNARY(sqrt, TG(sqrt, a))
NBK_UNARY(abs, TG(fabs, a))
NBK_UNARY(relu, a < 0 ? 0 : a)   /* NaN passes through */
NBK_UNARY(sign, a > 0 ? 1 : (a < 0 ? -1 : a))
NBK_UNARY(square, a * a)

/* ---------------------------------------------------------------- SLEEF-backed unary ops */

static void map_f32_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const nbk_ew_ctx *c = ctx;
    float *z = (float *)c->z + off[0];
    const float *x = (const float *)c->x + off[1];
    if (st[1] != 1) {   /* gather the strided row into z, then map z in place */
        for (int64_t i = 0; i < n; i++)
            z[i] = x[i * st[1]];
        x = z;
    }
    c->map_f32(x, z, n);
}

static void map_f64_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const nbk_ew_ctx *c = ctx;
    double *z = (double *)c->z + off[0];
    const double *x = (const double *)c->x + off[1];
    if (st[1] != 1) {
        for (int64_t i = 0; i < n; i++)
            z[i] = x[i * st[1]];
        x = z;
    }
    c->map_f64(x, z, n);
}

void nbk_map_unary(const nb_tensor *x, nb_tensor *z, nbk_map_f32 f32, nbk_map_f64 f64)
{
    if (z->dtype == NB_F32)
        nbk_run_unary(x, z, map_f32_row, (nbk_ew_ctx){ .map_f32 = f32 });
    else
        nbk_run_unary(x, z, map_f64_row, (nbk_ew_ctx){ .map_f64 = f64 });
}

#define VECMATH(name)                                                                    \
    nb_status nbk_##name##_f32(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        nbk_map_unary(x[0], z[0], nbk_vecmath()->name##_f32, NULL);                      \
        return NB_OK;                                                                    \
    }                                                                                    \
    nb_status nbk_##name##_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        nbk_map_unary(x[0], z[0], NULL, nbk_vecmath()->name##_f64);                      \
        return NB_OK;                                                                    \
    }

VECMATH(exp)
VECMATH(log)
VECMATH(tanh)
VECMATH(sigmoid)

nb_status nbk_copy(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    nbi_copy_strided(z[0], x[0]);
    return NB_OK;
}
