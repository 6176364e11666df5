/* Turning samples into tensors (see samples.h). */
#include <math.h>
#include <string.h>

#include "samples.h"

int nbt_n_in(const nb_op_def *op, const nb_sample *s)
{
    return s->n_inputs > 0 ? s->n_inputs : op->n_in;
}

int nbt_n_out(const nb_op_def *op)
{
    return op->n_out ? op->n_out : 1;
}

uint64_t nbt_seed(const nb_op_def *op, int sample)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a over the name */
    for (const char *p = op->name; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h ^ ((uint64_t)sample * 0x9e3779b97f4a7c15ull);
}

void nbt_base_shape(const nb_sample_input *in, int64_t *shape)
{
    memcpy(shape, in->shape, sizeof in->shape);
    int r = in->rank;
    if (in->layout == NB_LAYOUT_TRANSPOSED && r >= 2) {
        shape[r - 1] = in->shape[r - 2];
        shape[r - 2] = in->shape[r - 1];
    } else if (in->layout == NB_LAYOUT_STRIDED && r >= 1) {
        shape[r - 1] = 2 * in->shape[r - 1];
    } else if (in->layout == NB_LAYOUT_EXPANDED && r >= 1) {
        shape[0] = 1;
    }
}

nb_status nbt_make_bases(const nb_op_def *op, const nb_sample *s, nb_dtype dtype, nb_rng *rng, nb_tensor **bases)
{
    for (int i = 0; i < nbt_n_in(op, s); i++) {
        const nb_sample_input *in = &s->in[i];
        int64_t shape[NB_MAX_RANK];
        nbt_base_shape(in, shape);
        if (in->integer) {
            bases[i] = nb_randint(rng, (int64_t)in->lo, (int64_t)in->hi, in->rank, shape);
            if (!bases[i])
                return nb_error_code();
            continue;
        }
        double lo = in->lo, hi = in->hi;
        if (lo == 0 && hi == 0)
            lo = -1, hi = 1;
        bases[i] = nb_empty(dtype, in->rank, shape);
        if (!bases[i])
            return nb_error_code();
        int64_t n = nb_tensor_numel(bases[i]);
        for (int64_t j = 0; j < n; j++) {
            double v;
            do
                v = lo + (hi - lo) * nb_rng_uniform(rng);
            while (fabs(v) < in->min_abs);
            if (dtype == NB_F32)
                ((float *)nb_tensor_data(bases[i]))[j] = (float)v;
            else
                ((double *)nb_tensor_data(bases[i]))[j] = v;
        }
    }
    return NB_OK;
}

nb_tensor *nbt_layout(nb_tensor *base, const nb_sample_input *in)
{
    int r = in->rank;
    if (in->layout == NB_LAYOUT_TRANSPOSED && r >= 2)
        return nb_transpose(base, -1, -2);
    if (in->layout == NB_LAYOUT_STRIDED && r >= 1)
        return nb_slice(base, -1, 0, 2 * in->shape[r - 1], 2);
    if (in->layout == NB_LAYOUT_EXPANDED && r >= 1)
        return nb_expand(base, r, in->shape);
    return base;
}

nb_status nbt_run(const nb_op_def *op, const nb_sample *s, nb_tensor *const *bases, nb_tensor **outputs)
{
    nb_tensor *inputs[NB_MAX_INPUTS];
    int n = nbt_n_in(op, s);
    for (int i = 0; i < n; i++)
        inputs[i] = nbt_layout(bases[i], &s->in[i]);
    return nb_apply_variadic(op, inputs, n, s->attrs, outputs);
}
