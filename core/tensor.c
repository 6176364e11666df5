/* Tensors and their storage: construction, release, inspection, element access, printing. */
#include <math.h>
#include <string.h>

#include "autograd/node.h"
#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/iter.h"
#include "core/shape.h"
#include "core/tensor_impl.h"

/* ---------------------------------------------------------------- dtypes */

NB_API const char *nb_dtype_name(nb_dtype dtype)
{
    switch (dtype) {
    case NB_F32: return "f32";
    case NB_F64: return "f64";
    case NB_I64: return "i64";
    }
    return "invalid dtype";
}

NB_API size_t nb_dtype_size(nb_dtype dtype)
{
    return dtype == NB_F32 ? 4 : 8;
}

static bool valid_dtype(nb_dtype dtype)
{
    return (unsigned)dtype < NB_DTYPE_COUNT;
}

double nbi_load(nb_dtype dtype, const void *base, int64_t i)
{
    switch (dtype) {
    case NB_F32: return ((const float *)base)[i];
    case NB_F64: return ((const double *)base)[i];
    case NB_I64: return (double)((const int64_t *)base)[i];
    }
    return NAN;
}

void nbi_store(nb_dtype dtype, void *base, int64_t i, double v)
{
    switch (dtype) {
    case NB_F32: ((float *)base)[i] = (float)v; break;
    case NB_F64: ((double *)base)[i] = v; break;
    case NB_I64: ((int64_t *)base)[i] = (int64_t)v; break;
    }
}

/* ---------------------------------------------------------------- storage */

static nbi_storage *storage_new(size_t nbytes)
{
    nbi_storage *s = nbi_object_alloc(sizeof *s);
    if (!s)
        return NULL;
    if (nbytes <= NBI_INLINE_BYTES) {
        s->data = s->inline_data;
        nbi_count_inline_storage(NBI_INLINE_BYTES);
    } else if (!(s->data = nbi_storage_alloc(nbytes))) {
        nbi_object_free(s, sizeof *s);
        return NULL;
    }
    s->refcount = 1;
    s->nbytes = nbytes;
    return s;
}

static void storage_release(nbi_storage *s)
{
    if (!s || __atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (s->external) {
        if (s->deleter)
            s->deleter(s->data, s->deleter_user);
    } else if (s->data == s->inline_data) {
        nbi_count_inline_storage(-NBI_INLINE_BYTES);
    } else {
        nbi_storage_free(s->data, s->nbytes);
    }
    nbi_object_free(s, sizeof *s);
}

/* ---------------------------------------------------------------- construction */

/* Checks a caller's (dtype, rank, shape) and returns the element count, or -1 with an error. */
static int64_t check_shape(const char *fn, nb_dtype dtype, int rank, const int64_t *shape)
{
    if (!valid_dtype(dtype)) {
        nbi_error(NB_ERR_DTYPE, "%s: dtype %d is not one of NB_F32, NB_F64, NB_I64", fn, (int)dtype);
        return -1;
    }
    if (rank < 0 || rank > NB_MAX_RANK) {
        nbi_error(NB_ERR_SHAPE, "%s: rank %d is out of range (0 to %d)", fn, rank, NB_MAX_RANK);
        return -1;
    }
    if (rank > 0 && !shape) {
        nbi_error(NB_ERR_NULL, "%s: shape is NULL for rank %d", fn, rank);
        return -1;
    }
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0) {
            char buf[160];
            nbi_error(NB_ERR_SHAPE, "%s: shape %s has a negative size at axis %d", fn,
                      nb_shape_str(rank, shape, buf, sizeof buf), i);
            return -1;
        }
        if (shape[i] > 0 && n > (INT64_C(1) << 58) / shape[i]) {
            char buf[160];
            nbi_error(NB_ERR_SHAPE, "%s: shape %s has too many elements", fn,
                      nb_shape_str(rank, shape, buf, sizeof buf));
            return -1;
        }
        n *= shape[i];
    }
    return n;
}

static nb_tensor *tensor_struct(nb_dtype dtype, int rank, const int64_t *shape)
{
    nb_tensor *t = nbi_object_alloc(sizeof *t);
    if (!t)
        return NULL;
    t->refcount = 1;
    t->dtype = dtype;
    t->rank = rank;
    if (rank)
        memcpy(t->shape, shape, (size_t)rank * sizeof *shape);
    t->numel = nbi_numel(rank, shape);
    return t;
}

nb_tensor *nbi_tensor_alloc(nb_dtype dtype, int rank, const int64_t *shape)
{
    nb_tensor *t = tensor_struct(dtype, rank, shape);
    if (!t)
        return NULL;
    nbi_contiguous_strides(rank, shape, t->strides);
    t->storage = storage_new((size_t)t->numel * nb_dtype_size(dtype));
    if (!t->storage) {
        nbi_object_free(t, sizeof *t);
        return NULL;
    }
    return t;
}

nb_tensor *nbi_tensor_view(const nb_tensor *base, int rank, const int64_t *shape,
                           const int64_t *strides, int64_t offset)
{
    nb_tensor *t = tensor_struct(base->dtype, rank, shape);
    if (!t)
        return NULL;
    if (rank)
        memcpy(t->strides, strides, (size_t)rank * sizeof *strides);
    t->offset = offset;
    t->storage = base->storage;
    __atomic_add_fetch(&t->storage->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

static nb_tensor *alloc_checked(const char *fn, nb_dtype dtype, int rank, const int64_t *shape)
{
    if (check_shape(fn, dtype, rank, shape) < 0)
        return NULL;
    return nbi_tensor_alloc(dtype, rank, shape);
}

NB_API nb_tensor *nb_empty(nb_dtype dtype, int rank, const int64_t *shape)
{
    return nbi_scope_add(alloc_checked("nb_empty", dtype, rank, shape));
}

static nb_tensor *filled(const char *fn, nb_dtype dtype, int rank, const int64_t *shape, double v)
{
    nb_tensor *t = alloc_checked(fn, dtype, rank, shape);
    if (!t)
        return NULL;
    if (v == 0.0) {
        memset(t->storage->data, 0, t->storage->nbytes);
    } else {
        for (int64_t i = 0; i < t->numel; i++)
            nbi_store(dtype, t->storage->data, i, v);
    }
    return nbi_scope_add(t);
}

NB_API nb_tensor *nb_zeros(nb_dtype dtype, int rank, const int64_t *shape)
{
    return filled("nb_zeros", dtype, rank, shape, 0.0);
}

NB_API nb_tensor *nb_ones(nb_dtype dtype, int rank, const int64_t *shape)
{
    return filled("nb_ones", dtype, rank, shape, 1.0);
}

NB_API nb_tensor *nb_full(nb_dtype dtype, int rank, const int64_t *shape, double value)
{
    return filled("nb_full", dtype, rank, shape, value);
}

NB_API nb_tensor *nb_scalar(nb_dtype dtype, double value)
{
    return filled("nb_scalar", dtype, 0, NULL, value);
}

NB_API nb_tensor *nb_zeros_like(const nb_tensor *t)
{
    if (!t) {
        nbi_error_keep(NB_ERR_NULL, "nb_zeros_like: input is NULL");
        return NULL;
    }
    return filled("nb_zeros_like", t->dtype, t->rank, t->shape, 0.0);
}

NB_API nb_tensor *nb_ones_like(const nb_tensor *t)
{
    if (!t) {
        nbi_error_keep(NB_ERR_NULL, "nb_ones_like: input is NULL");
        return NULL;
    }
    return filled("nb_ones_like", t->dtype, t->rank, t->shape, 1.0);
}

NB_API nb_tensor *nb_tensor_from_data(const void *data, nb_dtype dtype, int rank, const int64_t *shape)
{
    nb_tensor *t = alloc_checked("nb_tensor_from_data", dtype, rank, shape);
    if (!t)
        return NULL;
    if (!data && t->numel > 0) {
        nbi_error(NB_ERR_NULL, "nb_tensor_from_data: data is NULL");
        nb_release(t);
        return NULL;
    }
    if (t->numel > 0)
        memcpy(t->storage->data, data, (size_t)t->numel * nb_dtype_size(dtype));
    return nbi_scope_add(t);
}

NB_API nb_tensor *nb_tensor_wrap(void *data, nb_dtype dtype, int rank, const int64_t *shape,
                                 const int64_t *strides, void (*deleter)(void *data, void *user),
                                 void *user)
{
    int64_t n = check_shape("nb_tensor_wrap", dtype, rank, shape);
    if (n < 0)
        return NULL;
    if (!data && n > 0) {
        nbi_error(NB_ERR_NULL, "nb_tensor_wrap: data is NULL");
        return NULL;
    }
    nb_tensor *t = tensor_struct(dtype, rank, shape);
    nbi_storage *s = t ? nbi_object_alloc(sizeof *s) : NULL;
    if (!s) {
        nbi_object_free(t, sizeof *t);
        return NULL;
    }
    s->refcount = 1;
    s->data = data;
    s->external = true;
    s->deleter = deleter;
    s->deleter_user = user;
    int64_t span = 1;   /* elements from the first to the last, to size the storage */
    if (strides) {
        for (int i = 0; i < rank; i++) {
            if (strides[i] < 0) {
                nbi_error(NB_ERR_ARG, "nb_tensor_wrap: stride %lld at axis %d is negative",
                          (long long)strides[i], i);
                nbi_object_free(s, sizeof *s);
                nbi_object_free(t, sizeof *t);
                return NULL;
            }
            t->strides[i] = strides[i];
            if (shape[i] > 0)
                span += (shape[i] - 1) * strides[i];
        }
    } else {
        nbi_contiguous_strides(rank, shape, t->strides);
        span = n;
    }
    s->nbytes = (size_t)(n ? span : 0) * nb_dtype_size(dtype);
    t->storage = s;
    return nbi_scope_add(t);
}

NB_API nb_tensor *nb_arange(nb_dtype dtype, double start, double stop, double step)
{
    if (step == 0 || !isfinite(start) || !isfinite(stop) || !isfinite(step)) {
        nbi_error(NB_ERR_ARG, "nb_arange: start %g, stop %g, step %g: step must be nonzero and all finite",
                  start, stop, step);
        return NULL;
    }
    double count = ceil((stop - start) / step);
    /* Past 2^62 the conversion would overflow; alloc_checked refuses such a size anyway. */
    int64_t n = count > 0 ? (count < 0x1p62 ? (int64_t)count : INT64_C(1) << 62) : 0;
    nb_tensor *t = alloc_checked("nb_arange", dtype, 1, &n);
    if (!t)
        return NULL;
    for (int64_t i = 0; i < n; i++)
        nbi_store(dtype, t->storage->data, i, start + (double)i * step);
    return nbi_scope_add(t);
}

NB_API nb_tensor *nb_linspace(nb_dtype dtype, double start, double stop, int64_t n)
{
    if (n < 0) {
        nbi_error(NB_ERR_ARG, "nb_linspace: count %lld is negative", (long long)n);
        return NULL;
    }
    nb_tensor *t = alloc_checked("nb_linspace", dtype, 1, &n);
    if (!t)
        return NULL;
    double step = n > 1 ? (stop - start) / (double)(n - 1) : 0.0;
    for (int64_t i = 0; i < n; i++)
        nbi_store(dtype, t->storage->data, i, i == n - 1 && n > 1 ? stop : start + (double)i * step);
    return nbi_scope_add(t);
}

NB_API nb_tensor *nb_eye(nb_dtype dtype, int64_t n)
{
    if (n < 0) {
        nbi_error(NB_ERR_ARG, "nb_eye: size %lld is negative", (long long)n);
        return NULL;
    }
    nb_tensor *t = alloc_checked("nb_eye", dtype, 2, (const int64_t[]){ n, n });
    if (!t)
        return NULL;
    memset(t->storage->data, 0, t->storage->nbytes);
    for (int64_t i = 0; i < n; i++)
        nbi_store(dtype, t->storage->data, i * n + i, 1.0);
    return nbi_scope_add(t);
}

/* ---------------------------------------------------------------- references */

NB_API nb_tensor *nb_retain(nb_tensor *t)
{
    if (t)
        __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

NB_API void nb_release(nb_tensor *t)
{
    if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    storage_release(t->storage);
    nb_release(t->grad);
    for (nbi_hook *h = t->hooks, *next; h; h = next) {
        next = h->next;
        nbi_free(h);
    }
    nbi_node *node = t->grad_fn;
    nbi_object_free(t, sizeof *t);
    if (node)
        nbi_node_release(node);
}

/* ---------------------------------------------------------------- inspection */

#define CHECK_T(t, fn, fail)                                         \
    do {                                                             \
        if (!(t)) {                                                  \
            nbi_error_keep(NB_ERR_NULL, "%s: tensor is NULL", fn);  \
            return fail;                                             \
        }                                                            \
    } while (0)

NB_API nb_dtype nb_tensor_dtype(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_dtype", NB_F32);
    return t->dtype;
}

NB_API int nb_tensor_rank(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_rank", -1);
    return t->rank;
}

NB_API const int64_t *nb_tensor_shape(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_shape", NULL);
    return t->shape;
}

NB_API const int64_t *nb_tensor_strides(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_strides", NULL);
    return t->strides;
}

NB_API int64_t nb_tensor_dim(const nb_tensor *t, int axis)
{
    CHECK_T(t, "nb_tensor_dim", -1);
    int a;
    if (!nbi_axis(axis, t->rank, &a)) {
        char buf[160];
        nbi_error(NB_ERR_ARG, "nb_tensor_dim: axis %d is out of range for shape %s", axis,
                  nb_shape_str(t->rank, t->shape, buf, sizeof buf));
        return -1;
    }
    return t->shape[a];
}

NB_API int64_t nb_tensor_numel(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_numel", -1);
    return t->numel;
}

bool nbi_is_contiguous(int rank, const int64_t *shape, const int64_t *strides)
{
    int64_t expected = 1;
    for (int i = rank - 1; i >= 0; i--) {
        if (shape[i] == 0)
            return true;
        if (shape[i] != 1 && strides[i] != expected)
            return false;
        expected *= shape[i];
    }
    return true;
}

NB_API bool nb_tensor_is_contiguous(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_is_contiguous", false);
    return nbi_is_contiguous(t->rank, t->shape, t->strides);
}

NB_API void *nb_tensor_data(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_data", NULL);
    return nbi_data(t);
}

NB_API double nb_tensor_item(const nb_tensor *t)
{
    CHECK_T(t, "nb_tensor_item", NAN);
    if (t->numel != 1) {
        char buf[160];
        nbi_error(NB_ERR_SHAPE, "nb_tensor_item: tensor of shape %s has %lld elements, expected 1",
                  nb_shape_str(t->rank, t->shape, buf, sizeof buf), (long long)t->numel);
        return NAN;
    }
    return nbi_load(t->dtype, nbi_data(t), 0);
}

NB_API double nb_tensor_get(const nb_tensor *t, const int64_t *index)
{
    CHECK_T(t, "nb_tensor_get", NAN);
    if (!index && t->rank > 0) {
        nbi_error(NB_ERR_NULL, "nb_tensor_get: index is NULL for a tensor of rank %d", t->rank);
        return NAN;
    }
    int64_t offset = 0;
    for (int i = 0; i < t->rank; i++) {
        int64_t k = index[i] < 0 ? index[i] + t->shape[i] : index[i];
        if (k < 0 || k >= t->shape[i]) {
            char buf[160];
            nbi_error(NB_ERR_ARG, "nb_tensor_get: index %lld is out of range for axis %d of shape %s",
                      (long long)index[i], i, nb_shape_str(t->rank, t->shape, buf, sizeof buf));
            return NAN;
        }
        offset += k * t->strides[i];
    }
    return nbi_load(t->dtype, nbi_data(t), offset);
}

/* ---------------------------------------------------------------- strided copy */

typedef struct copy_ctx {
    char *dst;
    const char *src;
    nb_dtype dst_dtype, src_dtype;
} copy_ctx;

#define COPY_ROW(TD, TS)                                                                 \
    do {                                                                                 \
        TD *d = (TD *)c->dst + off[0];                                                   \
        const TS *s = (const TS *)c->src + off[1];                                       \
        int64_t sd = st[0], ss = st[1];                                                  \
        if (sd == 1 && ss == 1)                                                          \
            for (int64_t i = 0; i < n; i++) d[i] = (TD)s[i];                             \
        else                                                                             \
            for (int64_t i = 0; i < n; i++) d[i * sd] = (TD)s[i * ss];                   \
    } while (0)

static void copy_row(void *ctx, const int64_t *off, const int64_t *st, int64_t n)
{
    const copy_ctx *c = ctx;
    switch (c->dst_dtype * NB_DTYPE_COUNT + c->src_dtype) {
    case NB_F32 * NB_DTYPE_COUNT + NB_F32: COPY_ROW(float, float); break;
    case NB_F32 * NB_DTYPE_COUNT + NB_F64: COPY_ROW(float, double); break;
    case NB_F32 * NB_DTYPE_COUNT + NB_I64: COPY_ROW(float, int64_t); break;
    case NB_F64 * NB_DTYPE_COUNT + NB_F32: COPY_ROW(double, float); break;
    case NB_F64 * NB_DTYPE_COUNT + NB_F64: COPY_ROW(double, double); break;
    case NB_F64 * NB_DTYPE_COUNT + NB_I64: COPY_ROW(double, int64_t); break;
    case NB_I64 * NB_DTYPE_COUNT + NB_F32: COPY_ROW(int64_t, float); break;
    case NB_I64 * NB_DTYPE_COUNT + NB_F64: COPY_ROW(int64_t, double); break;
    case NB_I64 * NB_DTYPE_COUNT + NB_I64: COPY_ROW(int64_t, int64_t); break;
    }
}

/* dst and src have the same shape (src's strides may be 0 where it is broadcast). */
static void copy_with_strides(nb_tensor *dst, const nb_tensor *src, const int64_t *src_strides)
{
    nbi_iter it;
    nbi_iter_init(&it, dst->rank, dst->shape, 2, (const int64_t *const[]){ dst->strides, src_strides });
    copy_ctx c = { nbi_data(dst), nbi_data(src), dst->dtype, src->dtype };
    nbi_iter_run(&it, copy_row, &c);
}

void nbi_copy_strided(nb_tensor *dst, const nb_tensor *src)
{
    copy_with_strides(dst, src, src->strides);
}

NB_API nb_status nb_tensor_copy_to(const nb_tensor *t, void *out, nb_dtype out_dtype, int64_t out_count)
{
    if (!t)
        return nbi_error_keep(NB_ERR_NULL, "nb_tensor_copy_to: tensor is NULL");
    if (!out && t->numel > 0)
        return nbi_error(NB_ERR_NULL, "nb_tensor_copy_to: output buffer is NULL");
    if (!valid_dtype(out_dtype))
        return nbi_error(NB_ERR_DTYPE, "nb_tensor_copy_to: dtype %d is not a valid nb_dtype", (int)out_dtype);
    if (out_count < t->numel)
        return nbi_error(NB_ERR_ARG, "nb_tensor_copy_to: buffer holds %lld elements, tensor has %lld",
                         (long long)out_count, (long long)t->numel);
    nb_tensor dst = { .dtype = out_dtype, .rank = t->rank, .numel = t->numel };
    nbi_storage s = { .data = out };
    memcpy(dst.shape, t->shape, sizeof dst.shape);
    nbi_contiguous_strides(t->rank, t->shape, dst.strides);
    dst.storage = &s;
    nbi_copy_strided(&dst, t);
    return NB_OK;
}

/* ---------------------------------------------------------------- in-place updates */

static nb_status check_inplace(const char *fn, const nb_tensor *t)
{
    if (!t)
        return nbi_error_keep(NB_ERR_NULL, "%s: tensor is NULL", fn);
    if (t->requires_grad && nbi_grad_enabled())
        return nbi_error(NB_ERR_AUTOGRAD,
                         "%s: tensor requires grad and grad mode is on; update it inside "
                         "nb_no_grad_begin/end (an in-place change would corrupt its gradient)", fn);
    return NB_OK;
}

NB_API nb_status nb_fill_inplace(nb_tensor *t, double value)
{
    nb_status st = check_inplace("nb_fill_inplace", t);
    if (st)
        return st;
    double v[1] = { value };
    nb_tensor src = { .dtype = NB_F64, .rank = 0, .numel = 1 };
    nbi_storage s = { .data = v };
    src.storage = &s;
    int64_t zero_strides[NB_MAX_RANK] = { 0 };
    copy_with_strides(t, &src, zero_strides);
    nbi_bump_version(t);
    return NB_OK;
}

NB_API nb_status nb_copy_inplace(nb_tensor *t, const nb_tensor *src)
{
    nb_status st = check_inplace("nb_copy_inplace", t);
    if (st)
        return st;
    if (!src)
        return nbi_error_keep(NB_ERR_NULL, "nb_copy_inplace: source is NULL");
    int rank;
    int64_t shape[NB_MAX_RANK];
    if (src->rank > t->rank || !nbi_broadcast_shapes(t->rank, t->shape, src->rank, src->shape, &rank, shape, NULL)
        || !nbi_same_shape(rank, shape, t->rank, t->shape)) {
        char a[160], b[160];
        return nbi_error(NB_ERR_SHAPE, "nb_copy_inplace: cannot copy %s into %s: source must broadcast to the target",
                         nb_shape_str(src->rank, src->shape, a, sizeof a),
                         nb_shape_str(t->rank, t->shape, b, sizeof b));
    }
    /* Reading and writing the same memory with different layouts would see half-written values. */
    nb_tensor *staged = NULL;
    if (src->storage == t->storage) {
        staged = nbi_tensor_alloc(src->dtype, src->rank, src->shape);
        if (!staged)
            return nb_error_code();
        nbi_copy_strided(staged, src);
        src = staged;
    }
    int64_t strides[NB_MAX_RANK];
    nbi_broadcast_strides(src->rank, src->shape, src->strides, t->rank, t->shape, strides);
    copy_with_strides(t, src, strides);
    nb_release(staged);
    nbi_bump_version(t);
    return NB_OK;
}

/* ---------------------------------------------------------------- printing */

static void print_axis(FILE *f, const nb_tensor *t, int axis, int64_t offset, int indent)
{
    const int64_t edge = 3;   /* elements shown at each end of a long axis */
    int64_t n = t->shape[axis];
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        if (n > 2 * edge && i == edge) {
            fprintf(f, "...");
            i = n - edge - 1;
            fputs(axis == t->rank - 1 ? ", " : ",\n", f);
            if (axis != t->rank - 1)
                fprintf(f, "%*s", indent + 1, "");
            continue;
        }
        int64_t o = offset + i * t->strides[axis];
        if (axis == t->rank - 1) {
            double v = nbi_load(t->dtype, nbi_data(t), o);
            if (t->dtype == NB_I64)
                fprintf(f, "%lld", (long long)v);
            else
                fprintf(f, "%.6g", v);
        } else {
            print_axis(f, t, axis + 1, o, indent + 1);
        }
        if (i + 1 < n) {
            fputs(axis == t->rank - 1 ? ", " : ",\n", f);
            if (axis != t->rank - 1)
                fprintf(f, "%*s", indent + 1, "");
        }
    }
    fputc(']', f);
}

NB_API void nb_tensor_print(const nb_tensor *t, FILE *f)
{
    if (!t) {
        fprintf(f, "tensor(NULL)\n");
        return;
    }
    char buf[160];
    fprintf(f, "tensor(");
    if (t->rank == 0)
        fprintf(f, t->dtype == NB_I64 ? "%.0f" : "%.6g", nbi_load(t->dtype, nbi_data(t), 0));
    else
        print_axis(f, t, 0, 0, 7);
    fprintf(f, ", shape=%s, dtype=%s%s)\n", nb_shape_str(t->rank, t->shape, buf, sizeof buf),
            nb_dtype_name(t->dtype), t->requires_grad ? ", requires_grad" : "");
}
