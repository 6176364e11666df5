/* Turning an op's test samples into tensors: shared by the gradcheck and parity tests.
 *
 * Each sample input becomes a contiguous "base" leaf; its layout (transposed, strided,
 * expanded) is applied with view ops inside the function under test, so gradients are
 * taken with respect to the bases and flow through the views' own backward rules. */
#ifndef NABLA_TESTS_SAMPLES_H
#define NABLA_TESTS_SAMPLES_H

#include <nabla.h>

/* Shape of the base tensor that in's layout is taken from. */
void nbt_base_shape(const nb_sample_input *in, int64_t *shape);
/* Contiguous bases for every input of sample s, values drawn from rng within the sample's
 * domain; float bases get dtype, integer inputs i64. Owned by the current scope. */
nb_status nbt_make_bases(const nb_op_def *op, const nb_sample *s, nb_dtype dtype, nb_rng *rng, nb_tensor **bases);
/* The input view of a base, as the sample lays it out. */
nb_tensor *nbt_layout(nb_tensor *base, const nb_sample_input *in);
/* Lays out the bases and applies op; writes its outputs (op->n_out of them). */
nb_status nbt_run(const nb_op_def *op, const nb_sample *s, nb_tensor *const *bases, nb_tensor **outputs);
/* Number of inputs of sample s of op (variadic ops: the sample says). */
int nbt_n_in(const nb_op_def *op, const nb_sample *s);
/* Number of outputs of op. */
int nbt_n_out(const nb_op_def *op);
/* A seed that depends on the op name and sample number only. */
uint64_t nbt_seed(const nb_op_def *op, int sample);

#endif
