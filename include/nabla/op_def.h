/* Defining operations. Every op of nabla, built-in or the user's own, is one nb_op_def:
 * checks and shape rule, forward kernels per dtype, the list of tensors backward reads, a
 * backward rule written with nabla ops, and sample inputs that the test suite walks to
 * gradient-check the op and compare it with PyTorch. nb_apply does everything ops share. */
#ifndef NABLA_OP_DEF_H
#define NABLA_OP_DEF_H

#include "common.h"
#include "tensor.h"

#define NB_MAX_INPUTS 8
#define NB_MAX_OUTPUTS 4

typedef struct nb_op_def nb_op_def;
typedef struct nb_backward_ctx nb_backward_ctx;

/* What a shape rule computes for each output. */
typedef struct nb_meta {
    nb_dtype dtype;
    int rank;
    int64_t shape[NB_MAX_RANK];
} nb_meta;

/* Checks the inputs and fills z[0..n_out-1]. On a mistake it calls nb_op_error and returns
 * its status. Inputs are never NULL here. x holds op->n_in tensors; for NB_OP_VARIADIC ops
 * it holds any number of them followed by NULL (nb_count_inputs counts them), and so do
 * the kernels' x. */
typedef nb_status (*nb_shape_rule)(const nb_op_def *op, nb_tensor *const *x, const void *attrs,
                                   nb_meta *z);
/* Computes the outputs z (freshly allocated, contiguous) from the inputs x (any strides). */
typedef nb_status (*nb_kernel)(nb_tensor *const *x, nb_tensor *const *z, const void *attrs);
/* For view ops: the strides and element offset of the single output, which shares x[0]'s
 * storage and has the shape the shape rule gave. Returns false when no view can express
 * the result (a reshape of some strided tensors); nb_apply then runs the forward kernel. */
typedef bool (*nb_view_rule)(nb_tensor *const *x, const void *attrs, const nb_meta *z,
                             int64_t *strides, int64_t *offset);
/* Reads saved tensors and incoming gradients from c and sets the input gradients. */
typedef void (*nb_backward_rule)(nb_backward_ctx *c);
/* Writes the attributes as a JSON object ("{}" for none); returns the length as snprintf. */
typedef int (*nb_attrs_format)(const void *attrs, char *buf, size_t size);

/* Bits of nb_op_def.saves: the tensors the backward rule reads (the rest are not kept). */
#define NB_SAVE_INPUT(i)  (1u << (i))
#define NB_SAVE_OUTPUT(i) (1u << (16 + (i)))

/* How a test sample lays out an input, to exercise kernels' strided paths. */
enum nb_sample_layout {
    NB_LAYOUT_CONTIGUOUS = 0,
    NB_LAYOUT_TRANSPOSED,   /* stored with the last two axes swapped, then transposed back */
    NB_LAYOUT_STRIDED,      /* every other element of a last axis twice as long */
    NB_LAYOUT_EXPANDED,     /* axis 0 broadcast from size 1 (stride 0) */
};

typedef struct nb_sample_input {
    int rank;
    int64_t shape[NB_MAX_RANK];
    int layout;             /* enum nb_sample_layout */
    double lo, hi;          /* values uniform in [lo, hi]; both 0 means [-1, 1] */
    double min_abs;         /* redraw values closer to 0 than this (keeps away from kinks) */
    bool integer;           /* an i64 input with values in [lo, hi) */
} nb_sample_input;

typedef struct nb_sample {
    const char *label;
    nb_sample_input in[NB_MAX_INPUTS];
    const void *attrs;      /* the op's attribute struct, or NULL */
    int n_inputs;           /* for NB_OP_VARIADIC ops: inputs used (0 means n_in) */
} nb_sample;

/* Bits of nb_op_def.flags. */
#define NB_OP_NO_DOUBLE_BACKWARD (1u << 0)  /* backward rule is not itself differentiable */
#define NB_OP_VARIADIC           (1u << 1)  /* takes n_in or more inputs (cat, stack) */

/* Most inputs a variadic op takes in one call. */
#define NB_MAX_VARIADIC_INPUTS 65536

struct nb_op_def {
    const char *name;            /* unique; identifies the op in errors, graphs and files */
    int n_in;                    /* number of tensor inputs (the least, for variadic ops) */
    int n_out;                   /* number of outputs; 0 means 1 */
    size_t attr_size;            /* sizeof the attribute struct, 0 for none */
    nb_shape_rule shape;         /* required */
    nb_kernel forward[NB_DTYPE_COUNT];  /* indexed by the dtype of input 0 */
    nb_view_rule view;           /* output is a view of input 0 (kernels: when no view fits) */
    unsigned saves;              /* NB_SAVE_INPUT / NB_SAVE_OUTPUT bits */
    nb_backward_rule backward;   /* NULL: outputs are not differentiable */
    nb_attrs_format format_attrs;
    const nb_sample *samples;    /* test inputs; an op without samples fails the test suite */
    int n_samples;
    double grad_tol;             /* gradcheck tolerance override, 0 for the default */
    double grad_eps;             /* gradcheck finite-difference step override, 0 for the default */
    unsigned flags;              /* NB_OP_* */
};

/* Runs op on inputs (op->n_in tensors) with attrs (a struct of op->attr_size bytes, copied
 * when recorded). Returns output 0. */
NB_API nb_tensor *nb_apply(const nb_op_def *op, nb_tensor *const *inputs, const void *attrs);
/* Same, for ops with several outputs: writes op->n_out new tensors into outputs. */
NB_API nb_status nb_apply_multi(const nb_op_def *op, nb_tensor *const *inputs, const void *attrs,
                                nb_tensor **outputs);
/* Same, with the number of inputs given: for NB_OP_VARIADIC ops (and any op, when n_inputs
 * equals its n_in). */
NB_API nb_status nb_apply_variadic(const nb_op_def *op, nb_tensor *const *inputs, int n_inputs,
                                   const void *attrs, nb_tensor **outputs);

/* The number of tensors before the NULL that ends a variadic op's input array. */
static inline int nb_count_inputs(nb_tensor *const *x)
{
    int n = 0;
    while (x[n])
        n++;
    return n;
}

/* Records an error "nb_<op>: <message>" and returns code; for shape rules and kernels. */
NB_API nb_status nb_op_error(const nb_op_def *op, nb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- registry
 * Built-in ops are registered from the start. nb_op_register adds a user op (the definition
 * must outlive its use; a static const struct is the usual form); names must be unique. */
NB_API nb_status nb_op_register(const nb_op_def *op);
NB_API int nb_op_count(void);
NB_API const nb_op_def *nb_op_at(int i);
NB_API const nb_op_def *nb_op_find(const char *name);

/* ---------------------------------------------------------------- inside a backward rule
 * The context is valid only during the call. Tensors returned are borrowed from the
 * context (do not release them); tensors made by ops belong to the scope the engine opens
 * around the rule. When the backward runs with create_graph, every op the rule calls is
 * recorded, which is how higher derivatives come out. */
NB_API const void *nb_attrs(nb_backward_ctx *c);
NB_API nb_tensor *nb_saved_input(nb_backward_ctx *c, int i);    /* needs NB_SAVE_INPUT(i) */
NB_API nb_tensor *nb_saved_output(nb_backward_ctx *c, int i);   /* needs NB_SAVE_OUTPUT(i) */
NB_API const nb_meta *nb_input_meta(nb_backward_ctx *c, int i); /* shape and dtype of input i */
/* Gradient flowing into output i (zeros when nothing used that output). */
NB_API nb_tensor *nb_grad_out(nb_backward_ctx *c, int i);
/* Whether input i needs a gradient; rules skip the work for inputs that do not. */
NB_API bool nb_needs_grad(nb_backward_ctx *c, int i);
/* Sets the gradient of input i. g may have the broadcast shape; it is summed down to input
 * i's shape (nb_sum_to). A NULL g records the error already set by the op that failed. */
NB_API void nb_set_grad_in(nb_backward_ctx *c, int i, nb_tensor *g);

#endif
