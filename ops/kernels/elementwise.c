/* Elementwise kernels: binary with broadcasting, scalar, unary. Raw loops only.
 *
 * Every kernel walks its operands with the shared iterator; each row is a 1-D loop whose
 * contiguous and broadcast (stride 0) cases are written out so the compiler vectorises
 * them. Transcendentals go through the SLEEF tables of vecmath.h. */
#include <math.h>

#include "core/iter.h"
#include "core/tensor_impl.h"
#include "ops/kernels/kernels.h"
#include "ops/kernels/vecmath.h"

typedef struct ew_ctx {
    const char *x, *y;
    char *z;
    double s;      /* scalar attribute */
    nbk_map_f32 map_f32;
    nbk_map_f64 map_f64;
} ew_ctx;

/* z = f(x, y) over z's shape, x and y broadcast to it. */
/* Contiguous and of z's shape: the operand can be read as one flat row. */
static bool flat_like(const nb_tensor *x, const nb_tensor *z)
{
    return nbi_same_shape_t(x, z) && nbi_is_contiguous(x->rank, x->shape, x->strides);
}

static void run_binary(nb_tensor *const *x, nb_tensor *z, nbi_row_fn row)
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
    ew_ctx c = { .x = nbi_data(x[0]), .y = nbi_data(x[1]), .z = nbi_data(z) };
    nbi_iter_run(&it, row, &c);
}

static void run_unary(const nb_tensor *x, nb_tensor *z, nbi_row_fn row, ew_ctx c)
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

/* The output's inner stride is always 1: outputs are contiguous. In EXPR, a and b are the
 * operands' elements, s the scalar attribute. */
#define BINARY_ROW(name, T, EXPR)                                                        \
    static void name##_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n) \
    {                                                                                    \
        const ew_ctx *c = ctx;                                                           \
        T *z = (T *)c->z + off[0];                                                       \
        const T *x = (const T *)c->x + off[1], *y = (const T *)c->y + off[2];            \
        int64_t sx = st[1], sy = st[2];                                                  \
        if (sx == 1 && sy == 1) {                                                        \
            for (int64_t i = 0; i < n; i++) {                                            \
                T a = x[i], b = y[i];                                                    \
                z[i] = (T)(EXPR);                                                        \
            }                                                                            \
        } else if (sx == 1 && sy == 0) {                                                 \
            const T b = y[0];                                                            \
            for (int64_t i = 0; i < n; i++) {                                            \
                T a = x[i];                                                              \
                z[i] = (T)(EXPR);                                                        \
            }                                                                            \
        } else if (sx == 0 && sy == 1) {                                                 \
            const T a = x[0];                                                            \
            for (int64_t i = 0; i < n; i++) {                                            \
                T b = y[i];                                                              \
                z[i] = (T)(EXPR);                                                        \
            }                                                                            \
        } else {                                                                         \
            for (int64_t i = 0; i < n; i++) {                                            \
                T a = x[i * sx], b = y[i * sy];                                          \
                z[i] = (T)(EXPR);                                                        \
            }                                                                            \
        }                                                                                \
    }

#define BINARY(name, EXPR)                                                               \
    BINARY_ROW(name##_f32, float, EXPR)                                                  \
    BINARY_ROW(name##_f64, double, EXPR)                                                 \
    nb_status nbk_##name##_f32(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        run_binary(x, z[0], name##_f32_row);                                             \
        return NB_OK;                                                                    \
    }                                                                                    \
    nb_status nbk_##name##_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        run_binary(x, z[0], name##_f64_row);                                             \
        return NB_OK;                                                                    \
    }

#define UNARY_ROW(name, T, EXPR)                                                         \
    static void name##_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n) \
    {                                                                                    \
        const ew_ctx *c = ctx;                                                           \
        T *z = (T *)c->z + off[0];                                                       \
        const T *x = (const T *)c->x + off[1];                                           \
        const T s = (T)c->s;                                                             \
        (void)s;                                                                         \
        int64_t sx = st[1];                                                              \
        if (sx == 1) {                                                                   \
            for (int64_t i = 0; i < n; i++) {                                            \
                T a = x[i];                                                              \
                z[i] = (T)(EXPR);                                                        \
            }                                                                            \
        } else {                                                                         \
            for (int64_t i = 0; i < n; i++) {                                            \
                T a = x[i * sx];                                                         \
                z[i] = (T)(EXPR);                                                        \
            }                                                                            \
        }                                                                                \
    }

/* Unary ops, and scalar ops whose attribute struct is nbk_scalar_attrs. */
#define UNARY(name, EXPR)                                                                \
    UNARY_ROW(name##_f32, float, EXPR)                                                   \
    UNARY_ROW(name##_f64, double, EXPR)                                                  \
    nb_status nbk_##name##_f32(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        ew_ctx c = { .s = attrs ? ((const nbk_scalar_attrs *)attrs)->s : 0 };            \
        run_unary(x[0], z[0], name##_f32_row, c);                                        \
        return NB_OK;                                                                    \
    }                                                                                    \
    nb_status nbk_##name##_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        ew_ctx c = { .s = attrs ? ((const nbk_scalar_attrs *)attrs)->s : 0 };            \
        run_unary(x[0], z[0], name##_f64_row, c);                                        \
        return NB_OK;                                                                    \
    }

/* C's type-generic float functions, picked by the element type. */
#define TG(fn, v) (sizeof(v) == sizeof(float) ? (__typeof__(v))fn##f((float)(v)) : (__typeof__(v))fn(v))
#define TG2(fn, v, w) (sizeof(v) == sizeof(float) ? (__typeof__(v))fn##f((float)(v), (float)(w)) : (__typeof__(v))fn(v, w))

BINARY(add, a + b)
BINARY(sub, a - b)
BINARY(mul, a * b)
BINARY(div, a / b)
BINARY(pow, TG2(pow, a, b))
/* NaN wins, as in PyTorch: a != a is true only for NaN. */
BINARY(maximum, (a != a || a > b) ? a : b)
BINARY(minimum, (a != a || a < b) ? a : b)
BINARY(eq, a == b)
BINARY(ne, a != b)
BINARY(lt, a < b)
BINARY(le, a <= b)
BINARY(gt, a > b)
BINARY(ge, a >= b)
/* Fused gradients: (gz, z) -> gz * dz/dx, written from the output where that is cheaper. */
BINARY(tanh_backward, a * (1 - b * b))
BINARY(sigmoid_backward, a * b * (1 - b))
BINARY(relu_backward, b > 0 ? a : 0)

UNARY(add_scalar, a + s)
UNARY(mul_scalar, a * s)
UNARY(pow_scalar, s == 2 ? a * a : TG2(pow, a, s))
UNARY(rsub_scalar, s - a)
UNARY(neg, -a)
UNARY(sqrt, TG(sqrt, a))
UNARY(abs, TG(fabs, a))
UNARY(relu, a < 0 ? 0 : a)   /* NaN passes through */
UNARY(sign, a > 0 ? 1 : (a < 0 ? -1 : a))
UNARY(square, a * a)

/* ---------------------------------------------------------------- SLEEF-backed unary ops */

static void map_f32_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const ew_ctx *c = ctx;
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
    const ew_ctx *c = ctx;
    double *z = (double *)c->z + off[0];
    const double *x = (const double *)c->x + off[1];
    if (st[1] != 1) {
        for (int64_t i = 0; i < n; i++)
            z[i] = x[i * st[1]];
        x = z;
    }
    c->map_f64(x, z, n);
}

#define VECMATH(name)                                                                    \
    nb_status nbk_##name##_f32(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        run_unary(x[0], z[0], map_f32_row, (ew_ctx){ .map_f32 = nbk_vecmath()->name##_f32 }); \
        return NB_OK;                                                                    \
    }                                                                                    \
    nb_status nbk_##name##_f64(nb_tensor *const *x, nb_tensor *const *z, const void *attrs) \
    {                                                                                    \
        run_unary(x[0], z[0], map_f64_row, (ew_ctx){ .map_f64 = nbk_vecmath()->name##_f64 }); \
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
