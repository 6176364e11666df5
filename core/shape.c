/* Shape arithmetic shared by tensors, ops and kernels. */
#include <stdio.h>
#include <string.h>

#include "core/shape.h"
#include "nabla/tensor.h"

int64_t nbi_numel(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= shape[i];
    return n;
}

bool nbi_valid_sizes(int rank, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > (INT64_C(1) << 58) / shape[i]))
            return false;
        n *= shape[i];
    }
    return true;
}

void nbi_contiguous_strides(int rank, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
}

bool nbi_broadcast_shapes(int ra, const int64_t *a, int rb, const int64_t *b,
                          int *rank, int64_t *out, int *bad_dim)
{
    int r = ra > rb ? ra : rb;
    for (int i = 0; i < r; i++) {
        /* i counts from the last axis */
        int64_t da = i < ra ? a[ra - 1 - i] : 1;
        int64_t db = i < rb ? b[rb - 1 - i] : 1;
        if (da != db && da != 1 && db != 1) {
            if (bad_dim)
                *bad_dim = -1 - i;
            return false;
        }
        out[r - 1 - i] = da == 1 ? db : da;
    }
    *rank = r;
    return true;
}

void nbi_broadcast_strides(int rank, const int64_t *shape, const int64_t *strides,
                           int out_rank, const int64_t *out_shape, int64_t *out_strides)
{
    int lead = out_rank - rank;
    for (int i = 0; i < out_rank; i++) {
        int j = i - lead;
        out_strides[i] = (j < 0 || (shape[j] == 1 && out_shape[i] != 1)) ? 0 : strides[j];
    }
}

bool nbi_axis(int axis, int rank, int *out)
{
    if (axis < -rank || axis >= rank)
        return false;
    *out = axis < 0 ? axis + rank : axis;
    return true;
}

bool nbi_same_shape(int ra, const int64_t *a, int rb, const int64_t *b)
{
    return ra == rb && memcmp(a, b, (size_t)ra * sizeof *a) == 0;
}

/* Walks old and new shapes in chunks whose element counts agree; each old chunk must be
 * contiguous within itself (stride[i] == stride[i+1] * shape[i+1]) to be re-split. */
bool nbi_view_strides(int rank, const int64_t *shape, const int64_t *strides,
                      int new_rank, const int64_t *new_shape, int64_t *new_strides)
{
    int64_t numel = nbi_numel(rank, shape);
    if (numel == 0 || rank == 0) {
        nbi_contiguous_strides(new_rank, new_shape, new_strides);
        return true;
    }
    int view_d = new_rank - 1;
    int64_t chunk_base_stride = strides[rank - 1];
    int64_t tensor_numel = 1, view_numel = 1;
    for (int d = rank - 1; d >= 0; d--) {
        tensor_numel *= shape[d];
        if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
            while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
                new_strides[view_d] = view_numel * chunk_base_stride;
                view_numel *= new_shape[view_d];
                view_d--;
            }
            if (view_numel != tensor_numel)
                return false;
            if (d > 0) {
                chunk_base_stride = strides[d - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    return view_d == -1;
}

NB_API char *nb_shape_str(int rank, const int64_t *shape, char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, size - used, "[");
    for (int i = 0; i < rank && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}
