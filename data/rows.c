/* Gathering rows: the one copy a batch or a split costs (see rows.h). */
#include <string.h>

#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "data/rows.h"

nb_tensor *nbi_contiguous_ref(const nb_tensor *t)
{
    if (nbi_is_contiguous(t->rank, t->shape, t->strides))
        return nb_retain((nb_tensor *)t);
    nb_tensor *c = nbi_tensor_alloc(t->dtype, t->rank, t->shape);
    if (c)
        nbi_copy_strided(c, t);
    return c;
}

nb_tensor *nbi_gather_rows(const nb_tensor *t, const int64_t *idx, int64_t n)
{
    NB_ASSERT(t->rank >= 1 && nbi_is_contiguous(t->rank, t->shape, t->strides));
    int64_t shape[NB_MAX_RANK];
    memcpy(shape, t->shape, (size_t)t->rank * sizeof *shape);
    shape[0] = n;
    nb_tensor *z = nbi_tensor_alloc(t->dtype, t->rank, shape);
    if (!z)
        return NULL;
    size_t row = (size_t)(t->shape[0] ? t->numel / t->shape[0] : 0) * nb_dtype_size(t->dtype);
    const char *x = nbi_data(t);
    char *out = nbi_data(z);
    if (row == sizeof(int64_t)) {   /* labels: a store beats a call to memcpy */
        for (int64_t i = 0; i < n; i++)
            memcpy(out + (size_t)i * 8, x + (size_t)idx[i] * 8, 8);
    } else if (row > 0) {
        for (int64_t i = 0; i < n; i++)
            memcpy(out + (size_t)i * row, x + (size_t)idx[i] * row, row);
    }
    return z;
}
