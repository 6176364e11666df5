/* Kernels of the joining and rearranging ops (ops/join.c) and their attributes (internal).
 * Attributes hold normalised values (axes in range, shifts reduced); the shape rules check
 * them, so kernels trust them. */
#ifndef NABLA_OPS_KERNELS_JOIN_H
#define NABLA_OPS_KERNELS_JOIN_H

#include "ops/kernels/kernels.h"

typedef struct nbk_axis_attrs {      /* cat, stack */
    int axis;
} nbk_axis_attrs;

enum nbk_pad_mode { NBK_PAD_CONSTANT, NBK_PAD_REFLECT, NBK_PAD_REPLICATE };

typedef struct nbk_pad_attrs {       /* pad, pad_backward */
    int mode;                        /* enum nbk_pad_mode (= nb_pad_mode) */
    double value;                    /* constant mode's fill */
    int rank;                        /* of the unpadded tensor */
    int64_t before[NB_MAX_RANK], after[NB_MAX_RANK];   /* per axis, in axis order */
} nbk_pad_attrs;

typedef struct nbk_flip_attrs {
    unsigned mask;                   /* axes to reverse */
} nbk_flip_attrs;

typedef struct nbk_roll_attrs {
    int rank;
    int64_t shifts[NB_MAX_RANK];     /* per axis, in [0, size) */
} nbk_roll_attrs;

typedef struct nbk_repeat_attrs {
    int rank;                        /* of the output; the input is left-padded with size-1 axes */
    int64_t repeats[NB_MAX_RANK];
} nbk_repeat_attrs;

typedef struct nbk_tri_attrs {       /* tril, triu */
    int64_t k;                       /* diagonal: 0 main, > 0 above, < 0 below */
} nbk_tri_attrs;

typedef struct nbk_diagonal_attrs {  /* diagonal, diagonal_backward */
    int64_t offset;
    int axis1, axis2;                /* distinct, in range */
    int rank;                        /* diagonal_backward: the shape it rebuilds */
    int64_t shape[NB_MAX_RANK];
} nbk_diagonal_attrs;

/* Copies each input (x NULL-terminated) into its place along the axis of z. */
nb_status nbk_cat(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
nb_status nbk_stack(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
/* Gathers: every output element reads one input element chosen axis by axis (or the fill). */
nb_status nbk_pad(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
nb_status nbk_flip(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
nb_status nbk_roll(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
nb_status nbk_repeat(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
/* The transpose of pad's gather: each input position sums the gradient of every output
 * position that read it. */
nb_status nbk_pad_backward(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
/* x with the elements above (tril) or below (triu) diagonal k of the last two axes zeroed. */
nb_status nbk_tril(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
nb_status nbk_triu(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
/* Zeros with x written along the diagonal. */
nb_status nbk_diagonal_backward(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);

/* The diagonal of a tensor of (rank, shape, strides): its length, and the element offset of
 * its first element from the tensor's first (0 when empty). Shared by the view rule and
 * diagonal_backward. */
int64_t nbk_diagonal_span(const nb_tensor *x, const nbk_diagonal_attrs *a, int64_t *start);

#endif
