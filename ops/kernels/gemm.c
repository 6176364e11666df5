/* Matrix products through OpenBLAS. Operands are passed with their strides as BLAS
 * leading dimensions and transpose flags; only a matrix whose strides BLAS cannot express
 * (a step in both axes, or a broadcast stride of 0) is packed into a temporary first. */
#include <limits.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/iter.h"
#include "core/tensor_impl.h"
#include "ops/kernels/blas.h"
#include "ops/kernels/kernels.h"

/* How BLAS reads one rows x cols matrix stored with strides (rs, cs). */
typedef struct blas_operand {
    const char *data;
    enum CBLAS_TRANSPOSE trans;
    int64_t ld;
    bool packed;          /* data is a temporary copy in row-major order */
} blas_operand;

static int64_t max1(int64_t v)
{
    return v > 1 ? v : 1;
}

static bool describe(const char *data, int64_t rows, int64_t cols, int64_t rs, int64_t cs, blas_operand *op)
{
    op->data = data;
    op->packed = false;
    if ((cs == 1 || cols == 1) && (rows == 1 || rs >= max1(cols))) {
        op->trans = CblasNoTrans;
        op->ld = rows == 1 ? max1(cols) : rs;
        return true;
    }
    if ((rs == 1 || rows == 1) && (cols == 1 || cs >= max1(rows))) {
        op->trans = CblasTrans;
        op->ld = cols == 1 ? max1(rows) : cs;
        return true;
    }
    return false;
}

/* Copies the matrix into buf in row-major order and describes the copy. */
static void pack(const char *data, int64_t rows, int64_t cols, int64_t rs, int64_t cs, nb_dtype dtype,
                 char *buf, blas_operand *op)
{
    size_t size = nb_dtype_size(dtype);
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++)
            memcpy(buf + (i * cols + j) * (int64_t)size, data + (i * rs + j * cs) * (int64_t)size, size);
    op->data = buf;
    op->trans = CblasNoTrans;
    op->ld = max1(cols);
    op->packed = true;
}

nb_status nbk_matmul(nb_tensor *const *x, nb_tensor *const *z, const void *attrs)
{
    const nb_tensor *a = x[0], *b = x[1];
    nb_tensor *c = z[0];
    int rank = c->rank, batch_rank = rank - 2;
    int64_t m = c->shape[rank - 2], n = c->shape[rank - 1], k = a->shape[a->rank - 1];
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return nbi_error(NB_ERR_SHAPE, "nb_matmul: sizes m=%lld n=%lld k=%lld exceed BLAS's 32-bit limit",
                         (long long)m, (long long)n, (long long)k);
    const nbi_blas *blas = nbi_blas_get();
    if (!blas)
        return nb_error_code();
    size_t size = nb_dtype_size(c->dtype);
    char *cd = nbi_data(c);
    if (c->numel == 0)
        return NB_OK;
    if (k == 0) {
        memset(cd, 0, (size_t)c->numel * size);
        return NB_OK;
    }

    /* Batch strides of a and b broadcast to c's batch shape. */
    int64_t sa[NB_MAX_RANK] = { 0 }, sb[NB_MAX_RANK] = { 0 }, sc[NB_MAX_RANK] = { 0 };
    nbi_broadcast_strides(a->rank - 2, a->shape, a->strides, batch_rank, c->shape, sa);
    nbi_broadcast_strides(b->rank - 2, b->shape, b->strides, batch_rank, c->shape, sb);
    for (int d = 0; d < batch_rank; d++)
        sc[d] = c->strides[d];
    nbi_iter it;
    nbi_iter_init(&it, batch_rank, c->shape, 3, (const int64_t *const[]){ sa, sb, sc });
    int64_t batches = it.rows * it.inner;

    int64_t ars = a->strides[a->rank - 2], acs = a->strides[a->rank - 1];
    int64_t brs = b->strides[b->rank - 2], bcs = b->strides[b->rank - 1];
    blas_operand A = { 0 }, B = { 0 };
    bool a_direct = describe(NULL, m, k, ars, acs, &A), b_direct = describe(NULL, k, n, brs, bcs, &B);
    char *a_buf = NULL, *b_buf = NULL;
    if (!a_direct && !(a_buf = nbi_malloc((size_t)(m * k) * size)))
        return NB_ERR_MEMORY;
    if (!b_direct && !(b_buf = nbi_malloc((size_t)(k * n) * size))) {
        nbi_free(a_buf);
        return NB_ERR_MEMORY;
    }

    const char *ad = nbi_data(a), *bd = nbi_data(b);
    nbi_cursor cur;
    nbi_cursor_seek(&it, &cur, 0);
    int64_t inner_sa = it.strides[0][it.rank - 1], inner_sb = it.strides[1][it.rank - 1];
    int64_t inner_sc = it.strides[2][it.rank - 1];
    for (int64_t t = 0; t < batches; t++) {
        int64_t i = t % it.inner;
        if (i == 0 && t > 0)
            nbi_cursor_next(&it, &cur);
        const char *ap = ad + (cur.offset[0] + i * inner_sa) * (int64_t)size;
        const char *bp = bd + (cur.offset[1] + i * inner_sb) * (int64_t)size;
        char *cp = cd + (cur.offset[2] + i * inner_sc) * (int64_t)size;
        if (a_direct)
            describe(ap, m, k, ars, acs, &A);
        else
            pack(ap, m, k, ars, acs, a->dtype, a_buf, &A);
        if (b_direct)
            describe(bp, k, n, brs, bcs, &B);
        else
            pack(bp, k, n, brs, bcs, b->dtype, b_buf, &B);
        if (c->dtype == NB_F32)
            blas->sgemm(CblasRowMajor, A.trans, B.trans, (int)m, (int)n, (int)k, 1.0f, (const float *)A.data,
                        (int)A.ld, (const float *)B.data, (int)B.ld, 0.0f, (float *)cp, (int)n);
        else
            blas->dgemm(CblasRowMajor, A.trans, B.trans, (int)m, (int)n, (int)k, 1.0, (const double *)A.data,
                        (int)A.ld, (const double *)B.data, (int)B.ld, 0.0, (double *)cp, (int)n);
    }
    nbi_free(a_buf);
    nbi_free(b_buf);
    return NB_OK;
}
