/* Reverse-mode differentiation: marking leaves, running backward, gradients as tensors,
 * grad mode, hooks, anomaly detection, gradient checking and graph pictures. */
#ifndef NABLA_AUTOGRAD_H
#define NABLA_AUTOGRAD_H

#include <stdio.h>
#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- leaves */
/* Marks a leaf (a tensor no recorded op produced) as a variable to differentiate by.
 * Only f32 and f64 tensors can require grad. */
NB_API nb_status nb_requires_grad(nb_tensor *t, bool requires_grad);
NB_API bool nb_tensor_requires_grad(const nb_tensor *t);
NB_API bool nb_tensor_is_leaf(const nb_tensor *t);
/* The gradient accumulated into a leaf by nb_backward, or NULL before any. Borrowed: valid
 * until nb_zero_grad(t) or t is freed. */
NB_API nb_tensor *nb_tensor_grad(const nb_tensor *t);
/* Forgets the accumulated gradient (the next backward starts it afresh). */
NB_API void nb_zero_grad(nb_tensor *t);
/* A view of t's data that is cut from the graph and does not require grad. */
NB_API nb_tensor *nb_detach(nb_tensor *t);

/* ---------------------------------------------------------------- backward */
typedef struct nb_backward_opts {
    bool retain_graph;   /* keep saved tensors so backward can run through the graph again */
    bool create_graph;   /* record the backward itself (implies retain_graph): higher derivatives */
} nb_backward_opts;

/* Differentiates root (one element, unless grad is given with root's shape) and accumulates
 * d root / d leaf into every leaf's gradient. Frees the graph's saved tensors afterwards. */
NB_API nb_status nb_backward(nb_tensor *root, nb_tensor *grad);
NB_API nb_status nb_backward_ex(nb_tensor *root, nb_tensor *grad, const nb_backward_opts *opts);
/* Gradients of sum_i <outputs[i], grad_outputs[i]> with respect to inputs, written into
 * grads[0..n_inputs-1] as new tensors of the current scope; .grad is left untouched.
 * grad_outputs may be NULL (one-element outputs). An input that the outputs do not depend
 * on gets zeros. With opts->create_graph the gradients are themselves differentiable. */
NB_API nb_status nb_grad(nb_tensor *const *outputs, nb_tensor *const *grad_outputs, int n_outputs,
                         nb_tensor *const *inputs, int n_inputs, nb_tensor **grads,
                         const nb_backward_opts *opts);

/* ---------------------------------------------------------------- grad mode (per thread) */
/* Inside no-grad, ops record nothing. Calls nest; end restores the mode begin saw. */
NB_API void nb_no_grad_begin(void);
NB_API void nb_no_grad_end(void);
NB_API bool nb_grad_enabled(void);

/* ---------------------------------------------------------------- hooks */
/* Called with the gradient of t once it is complete, before it is used. Return NULL to
 * keep it, or a replacement tensor of the same shape (made in the current scope). */
typedef nb_tensor *(*nb_grad_hook)(nb_tensor *grad, void *user);
NB_API nb_status nb_tensor_add_hook(nb_tensor *t, nb_grad_hook hook, void *user);

/* ---------------------------------------------------------------- anomaly mode */
/* When on, each op checks its outputs, and backward each gradient, for NaN and Inf, and
 * fails naming the op and the file:line it was called from. Off by default (it costs a
 * pass over every tensor). Also switched on by the environment variable NB_ANOMALY=1. */
NB_API void nb_set_anomaly_mode(bool on);
NB_API bool nb_anomaly_mode(void);

/* ---------------------------------------------------------------- gradient checking */
/* The function to check: builds one output from the inputs with nabla ops. */
typedef nb_tensor *(*nb_gradcheck_fn)(nb_tensor *const *inputs, void *user);

typedef struct nb_gradcheck_opts {
    double eps;          /* finite-difference step (default 1e-6) */
    double atol, rtol;   /* pass when |analytic - numeric| <= atol + rtol * |numeric| (1e-5, 1e-4) */
    bool second_order;   /* also check the gradient of the gradient */
    uint64_t seed;       /* for the random projection of the output */
    FILE *report;        /* where to print the first mismatch (NULL: only nb_error()) */
} nb_gradcheck_opts;

NB_API nb_gradcheck_opts nb_gradcheck_opts_default(void);
/* Compares the gradient of <fn(inputs), r> (r random) from backward with central finite
 * differences, element by element, for every input that requires grad. Inputs must be f64.
 * With second_order, does the same for the map (inputs, r) -> <grad, v> (v random), whose
 * gradient comes from backward over a create_graph backward. Returns NB_OK or NB_ERR_NUMERIC
 * with nb_error() naming the input, the element and both values. */
NB_API nb_status nb_gradcheck(nb_gradcheck_fn fn, void *user, nb_tensor *const *inputs, int n_inputs,
                              const nb_gradcheck_opts *opts);

/* ---------------------------------------------------------------- graph pictures */
/* Writes the graph that produced root as Graphviz DOT: one box per op (name, attributes,
 * output shape), one ellipse per leaf (shape, requires_grad), edges in data-flow direction. */
NB_API nb_status nb_graph_dot(const nb_tensor *root, FILE *f);

#endif
