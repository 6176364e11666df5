/* Modules: layers with parameters, built from registered ops only (autograd differentiates
 * them; no module has a hand-written backward), and the initialisers that fill them.
 *
 * A module is an instance of a class (nb_module_class: a name and a forward function) with
 * named parameters, named buffers (state that is saved but not trained, such as running
 * statistics), named child modules and a training flag. Names compose with dots into
 * PyTorch's state_dict names: "0.weight", "encoder.fc1.bias".
 *
 * Ownership: constructors return a module the caller owns and frees with nb_module_free,
 * which frees its children too. A module owns references to its parameters and buffers.
 * Functions that take ownership of a module say "steal" in their name. */
#ifndef NABLA_NN_H
#define NABLA_NN_H

#include <stdio.h>

#include "common.h"
#include "rng.h"
#include "tensor.h"

typedef struct nb_module nb_module;

/* What a module does, shared by all its instances. Users define their own modules by
 * filling one of these (see examples/ and the residual block test). */
typedef struct nb_module_class {
    const char *name;                                   /* "Linear" */
    size_t state_size;                                  /* bytes of per-instance state, zeroed */
    /* The forward pass: x in, a new tensor (of the current scope) out, NULL with an error. */
    nb_tensor *(*forward)(nb_module *m, nb_tensor *x);
    /* Optional: releases what the state points to (the state block itself is freed). */
    void (*free_state)(void *state);
    /* Optional: a short description for summaries, e.g. "in=784, out=32". */
    int (*describe)(const nb_module *m, char *buf, size_t size);
} nb_module_class;

/* ---------------------------------------------------------------- the module base */
/* CONSTRUCTOR. An empty instance of cls, in training mode. */
NB_API nb_module *nb_module_new(const nb_module_class *cls);
/* DESTRUCTOR. Frees m, its children and its references to parameters and buffers.
 * NULL is a no-op. */
NB_API void nb_module_free(nb_module *m);
/* The instance's state block (cls->state_size bytes). Borrowed: lives as long as m. */
NB_API void *nb_module_state(const nb_module *m);
NB_API const nb_module_class *nb_module_class_of(const nb_module *m);

/* Adds a trainable parameter under name (a leaf of f32 or f64; it is marked requires_grad).
 * The module takes its own reference; the caller keeps theirs. */
NB_API nb_status nb_module_add_param(nb_module *m, const char *name, nb_tensor *t);
/* Adds a buffer: state saved with the parameters but not trained (requires_grad stays off). */
NB_API nb_status nb_module_add_buffer(nb_module *m, const char *name, nb_tensor *t);
/* Adds child under name and takes ownership of it (freed with m, even when this fails). */
NB_API nb_status nb_module_add_child_steal(nb_module *m, const char *name, nb_module *child);
/* This module's own parameter, buffer or child by its local name, or NULL (no error set). */
NB_API nb_tensor *nb_module_get_param(const nb_module *m, const char *name);
NB_API nb_tensor *nb_module_get_buffer(const nb_module *m, const char *name);
NB_API nb_module *nb_module_get_child(const nb_module *m, const char *name);

/* Runs the forward pass. A NULL x propagates (NULL, first error kept). */
NB_API nb_tensor *nb_module_forward(nb_module *m, nb_tensor *x);

/* Training flag of m and all its children (Dropout and BatchNorm read it). */
NB_API void nb_module_train(nb_module *m, bool training);
NB_API bool nb_module_is_training(const nb_module *m);

/* Parameters of m and its children, depth first in the order they were added (PyTorch's
 * parameters() order). Writes up to capacity borrowed pointers into out (out may be NULL
 * with capacity 0) and returns how many there are in all. */
NB_API int nb_module_parameters(const nb_module *m, nb_tensor **out, int capacity);
/* The i-th parameter in that order and its full name ("0.weight") written into name.
 * Borrowed; NULL when i is out of range. Buffers likewise with nb_module_buffer_at. */
NB_API nb_tensor *nb_module_parameter_at(const nb_module *m, int i, char *name, size_t size);
NB_API int nb_module_buffer_count(const nb_module *m);
NB_API nb_tensor *nb_module_buffer_at(const nb_module *m, int i, char *name, size_t size);
/* A parameter or buffer by its full name ("encoder.0.weight"), or NULL with an error. */
NB_API nb_tensor *nb_module_find(const nb_module *m, const char *name);
/* Total number of trainable elements. */
NB_API int64_t nb_module_num_params(const nb_module *m);
/* Forgets the gradients of every parameter. */
NB_API void nb_module_zero_grad(nb_module *m);

/* Prints a table like Keras' model.summary(): each module that ran during one forward
 * pass of an input of the given shape (f32 zeros, no graph recorded), its output shape
 * and its own parameter count, then the totals. */
NB_API nb_status nb_module_summary(nb_module *m, int rank, const int64_t *input_shape, FILE *f);

/* ---------------------------------------------------------------- layers
 * rng draws the initial weights (NULL: the default generator); initialisation follows
 * PyTorch's defaults for each layer. dtype is f32 unless the constructor says otherwise. */

/* y = x W^T + b, W [out, in] ("weight"), b [out] ("bias"). W and b uniform in
 * +-1/sqrt(in) (PyTorch's kaiming_uniform with a = sqrt(5), and its bias rule). */
NB_API nb_module *nb_linear(int64_t in_features, int64_t out_features, bool bias, nb_rng *rng);
/* Flattens axes start..end (PyTorch's Flatten defaults are 1 and -1). */
NB_API nb_module *nb_flatten_module(int start_axis, int end_axis);
NB_API nb_module *nb_identity(void);
/* Activation modules (ReLU, Sigmoid, Tanh): forward applies the op. */
NB_API nb_module *nb_relu_module(void);
NB_API nb_module *nb_sigmoid_module(void);
NB_API nb_module *nb_tanh_module(void);

/* Batch normalisation over [N, C] or [N, C, L] (PyTorch's BatchNorm1d): in training,
 * normalises with the batch's mean and biased variance over N (and L) and updates the
 * buffers running_mean and running_var (unbiased) with momentum; in eval mode uses them.
 * Parameters weight (ones) and bias (zeros) of [C] when affine. */
NB_API nb_module *nb_batchnorm1d(int64_t features, double eps, double momentum, bool affine);
/* Layer normalisation over the last n_axes axes, whose sizes are shape (PyTorch's
 * LayerNorm): (x - mean) / sqrt(var + eps) * weight + bias, weight ones and bias zeros. */
NB_API nb_module *nb_layernorm(int n_axes, const int64_t *shape, double eps, bool affine);

/* An empty Sequential; children are named "0", "1", ... in the order they are added. */
NB_API nb_module *nb_sequential_new(void);
/* Appends layer to seq, taking ownership of it (freed even when this fails). */
NB_API nb_status nb_sequential_add_steal(nb_module *seq, nb_module *layer);
/* A Sequential of n layers, taking ownership of all of them. If one is NULL (its
 * constructor failed), all are freed and NULL is returned with the first error kept:
 *   nb_module *net = nb_sequential(3, nb_linear(784, 32, rng), nb_relu_module(), nb_linear(32, 10, rng)); */
NB_API nb_module *nb_sequential(int n, ...);

/* ---------------------------------------------------------------- initialisers
 * Fill an existing tensor in place from rng (NULL: the default generator), outside the
 * graph, bumping its version. Fans follow PyTorch: for a weight of shape [out, in, k...],
 * fan_in = in * prod(k), fan_out = out * prod(k). */
typedef enum nb_fan_mode { NB_FAN_IN, NB_FAN_OUT } nb_fan_mode;

/* PyTorch's calculate_gain: "linear", "conv2d", "sigmoid" (1), "tanh" (5/3), "relu" (sqrt 2),
 * "leaky_relu" (sqrt(2 / (1 + param^2))), "selu" (3/4). NAN with an error for other names. */
NB_API double nb_init_gain(const char *nonlinearity, double param);
NB_API nb_status nb_init_uniform(nb_tensor *t, double low, double high, nb_rng *rng);
NB_API nb_status nb_init_normal(nb_tensor *t, double mean, double std, nb_rng *rng);
NB_API nb_status nb_init_constant(nb_tensor *t, double value);
NB_API nb_status nb_init_zeros(nb_tensor *t);
NB_API nb_status nb_init_ones(nb_tensor *t);
/* Glorot: bound gain * sqrt(6 / (fan_in + fan_out)); std gain * sqrt(2 / (fan_in + fan_out)). */
NB_API nb_status nb_init_xavier_uniform(nb_tensor *t, double gain, nb_rng *rng);
NB_API nb_status nb_init_xavier_normal(nb_tensor *t, double gain, nb_rng *rng);
/* He: std = gain(nonlinearity, a) / sqrt(fan); uniform bound sqrt(3) * std. */
NB_API nb_status nb_init_kaiming_uniform(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity,
                                         nb_rng *rng);
NB_API nb_status nb_init_kaiming_normal(nb_tensor *t, double a, nb_fan_mode mode, const char *nonlinearity,
                                        nb_rng *rng);
/* A (semi-)orthogonal matrix times gain, from the QR decomposition of a normal matrix
 * (rank >= 2; trailing axes are flattened), as torch.nn.init.orthogonal_. */
NB_API nb_status nb_init_orthogonal(nb_tensor *t, double gain, nb_rng *rng);

#endif
