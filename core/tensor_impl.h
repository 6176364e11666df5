/* The tensor and storage structs and the helpers that build them (internal).
 *
 * A tensor is a view: dtype, shape and strides (in elements) and an offset into a
 * refcounted storage. Views share the storage; the storage's version counts in-place
 * writes so that backward can refuse saved tensors that changed. */
#ifndef NABLA_CORE_TENSOR_IMPL_H
#define NABLA_CORE_TENSOR_IMPL_H

#include "nabla/autograd.h"
#include "nabla/tensor.h"

/* Tensors of at most this many bytes keep their data inside the storage struct: scalars,
 * losses and small biases then cost no trip to the allocator. */
#define NBI_INLINE_BYTES 64

typedef struct nbi_storage {
    _Alignas(64) unsigned char inline_data[NBI_INLINE_BYTES];
    void *data;                       /* inline_data, an allocator block, or the caller's memory */
    size_t nbytes;
    uint64_t version;                 /* bumped by every in-place write */
    void (*deleter)(void *data, void *user);   /* for wrapped memory; NULL: nothing to free */
    void *deleter_user;
    int refcount;
    bool external;                    /* data is the caller's, not the allocator's */
} nbi_storage;

typedef struct nbi_node nbi_node;     /* autograd/node.h */

typedef struct nbi_hook {
    nb_grad_hook fn;
    void *user;
    struct nbi_hook *next;
} nbi_hook;

struct nb_tensor {
    int refcount;
    nb_dtype dtype;
    int rank;
    int64_t shape[NB_MAX_RANK];
    int64_t strides[NB_MAX_RANK];
    int64_t offset;                   /* in elements, into storage */
    int64_t numel;
    nbi_storage *storage;
    /* autograd */
    bool requires_grad;
    nbi_node *grad_fn;                /* the node that made this tensor, NULL for leaves */
    int out_index;                    /* which output of grad_fn this is */
    nb_tensor *grad;                  /* accumulated gradient of a leaf */
    nbi_hook *hooks;                  /* gradient hooks of a leaf (non-leaf hooks live on the node) */
};

/* New contiguous tensor with uninitialised storage, refcount 1, owned by the caller. */
nb_tensor *nbi_tensor_alloc(nb_dtype dtype, int rank, const int64_t *shape);
/* New tensor viewing base's storage with the given layout; refcount 1, owned by the caller. */
nb_tensor *nbi_tensor_view(const nb_tensor *base, int rank, const int64_t *shape,
                           const int64_t *strides, int64_t offset);
/* Hands a caller-owned tensor to the innermost scope (or leaves it with the caller when no
 * scope is open). Returns t; on failure releases t and returns NULL. */
nb_tensor *nbi_scope_add(nb_tensor *t);

/* Address of element 0 of the view. */
static inline char *nbi_data(const nb_tensor *t)
{
    return (char *)t->storage->data + t->offset * (int64_t)nb_dtype_size(t->dtype);
}

#include "core/shape.h"
static inline bool nbi_same_shape_t(const nb_tensor *a, const nb_tensor *b)
{
    return nbi_same_shape(a->rank, a->shape, b->rank, b->shape);
}

bool nbi_is_contiguous(int rank, const int64_t *shape, const int64_t *strides);
/* Marks an in-place write to t's storage. */
static inline void nbi_bump_version(nb_tensor *t)
{
    t->storage->version++;
}

/* Reads element i (a flat C-order index into a contiguous buffer of dtype) as double, and writes. */
double nbi_load(nb_dtype dtype, const void *base, int64_t i);
void nbi_store(nb_dtype dtype, void *base, int64_t i, double v);

/* Copies src into dst (same shape, dtypes may differ) through the strided iterator. */
void nbi_copy_strided(nb_tensor *dst, const nb_tensor *src);

#endif
