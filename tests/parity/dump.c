/* Runs every registered op on its samples, in f32 and f64, and writes inputs, outputs and
 * gradients as JSON lines for tests/parity/compare.py, which redoes the same in PyTorch.
 *
 * One line per (op, sample, dtype). Bases are drawn from the seed nbt_seed(op, k) for both
 * dtypes, so the f32 case holds the f64 case's values rounded to f32. Differentiable ops also
 * get a random upstream gradient gz per float output (drawn in f64, then rounded likewise),
 * and the line carries d<outputs, gz>/d base for every float base. Values are printed so
 * that they read back exactly: %.17g for f64, %.9g for f32. A case nabla cannot run is
 * written with an "error" field, which compare.py counts as a failure.
 *
 * Usage: parity_dump [output file]   (stdout by default) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/samples.h"

/* Upstream gradients come from their own stream so that they do not shift the inputs. */
#define GZ_SEED_SALT 0x2545f4914f6cdd1dull

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

/* NaN and infinities in the spelling Python's json module reads. */
static void put_number(FILE *f, double v, nb_dtype dtype)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "Infinity" : "-Infinity", f);
    else
        fprintf(f, dtype == NB_F32 ? "%.9g" : "%.17g", v);
}

static void put_shape(FILE *f, int rank, const int64_t *shape)
{
    fputc('[', f);
    for (int d = 0; d < rank; d++)
        fprintf(f, "%s%lld", d ? ", " : "", (long long)shape[d]);
    fputc(']', f);
}

/* The elements of t in C order, whatever its strides. */
static nb_status put_values(FILE *f, const nb_tensor *t)
{
    int64_t n = nb_tensor_numel(t);
    nb_dtype dtype = nb_tensor_dtype(t);
    bool integer = dtype == NB_I64;
    void *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    if (!buf)
        return NB_ERR_MEMORY;
    nb_status st = nb_tensor_copy_to(t, buf, integer ? NB_I64 : NB_F64, n);
    if (!st) {
        fputc('[', f);
        for (int64_t i = 0; i < n; i++) {
            if (i)
                fputs(", ", f);
            if (integer)
                fprintf(f, "%lld", (long long)((const int64_t *)buf)[i]);
            else
                put_number(f, ((const double *)buf)[i], dtype);
        }
        fputc(']', f);
    }
    free(buf);
    return st;
}

/* {"shape": [...], "dtype": "f32", "values": [...]}, or null for a NULL t. */
static nb_status put_tensor(FILE *f, const nb_tensor *t)
{
    if (!t) {
        fputs("null", f);
        return NB_OK;
    }
    fputs("{\"shape\": ", f);
    put_shape(f, nb_tensor_rank(t), nb_tensor_shape(t));
    fputs(", \"dtype\": ", f);
    put_string(f, nb_dtype_name(nb_tensor_dtype(t)));
    fputs(", \"values\": ", f);
    nb_status st = put_values(f, t);
    fputc('}', f);
    return st;
}

static void put_attrs(FILE *f, const nb_op_def *op, const nb_sample *s)
{
    if (!op->format_attrs || !s->attrs) {
        fputs("{}", f);
        return;
    }
    char small[512];
    int len = op->format_attrs(s->attrs, small, sizeof small);
    if (len < (int)sizeof small) {
        fputs(small, f);
        return;
    }
    char *big = malloc((size_t)len + 1);
    if (big) {
        op->format_attrs(s->attrs, big, (size_t)len + 1);
        fputs(big, f);
    } else {
        fputs("{}", f);
    }
    free(big);
}

/* The fields that name a case: op, sample, dtype. Leaves the object open. */
static void put_case_head(FILE *f, const nb_op_def *op, int k, const char *label, nb_dtype dtype)
{
    fputs("{\"op\": ", f);
    put_string(f, op->name);
    fprintf(f, ", \"sample_index\": %d, \"sample\": ", k);
    put_string(f, label ? label : "");
    fputs(", \"dtype\": ", f);
    put_string(f, nb_dtype_name(dtype));
}

static void put_error(FILE *f, const nb_op_def *op, int k, const char *label, nb_dtype dtype, const char *what)
{
    put_case_head(f, op, k, label, dtype);
    fputs(", \"error\": ", f);
    char message[1024];
    snprintf(message, sizeof message, "%s: %s", what, nb_error());
    put_string(f, message);
    fputs("}\n", f);
    nb_error_clear();
}

static bool is_float(const nb_tensor *t)
{
    return nb_tensor_dtype(t) == NB_F32 || nb_tensor_dtype(t) == NB_F64;
}

/* A gz for output z: uniform in [-1, 1), drawn in f64 and rounded to z's dtype. */
static nb_tensor *upstream_gradient(nb_rng *rng, const nb_tensor *z)
{
    nb_tensor *g = nb_uniform(rng, NB_F64, nb_tensor_rank(z), nb_tensor_shape(z), -1, 1);
    return g ? nb_cast(g, nb_tensor_dtype(z)) : NULL;
}

/* Runs sample k of op in dtype and writes its line; returns false when nabla failed. */
static bool dump_case(FILE *f, const nb_op_def *op, int k, nb_dtype dtype)
{
    const nb_sample *s = &op->samples[k];
    int n_in = nbt_n_in(op, s), n_out = nbt_n_out(op);
    nb_tensor *bases[NB_MAX_INPUTS] = { 0 }, *out[NB_MAX_OUTPUTS] = { 0 };
    nb_tensor *gz[NB_MAX_OUTPUTS] = { 0 }, *grads[NB_MAX_INPUTS] = { 0 };

    nb_rng *rng = nb_rng_new(nbt_seed(op, k));
    nb_status st = rng ? nbt_make_bases(op, s, dtype, rng, bases) : nb_error_code();
    nb_rng_free(rng);
    if (st) {
        put_error(f, op, k, s->label, dtype, "cannot make inputs");
        return false;
    }
    bool differentiable = op->backward != NULL;
    int n_float_in = 0;
    for (int i = 0; i < n_in; i++)
        if (!s->in[i].integer)
            n_float_in++;
    if (differentiable)
        for (int i = 0; i < n_in; i++)
            if (!s->in[i].integer && nb_requires_grad(bases[i], true)) {
                put_error(f, op, k, s->label, dtype, "cannot mark input");
                return false;
            }
    if (nbt_run(op, s, bases, out)) {
        put_error(f, op, k, s->label, dtype, "forward failed");
        return false;
    }

    /* Gradients: one gz per float output; d/d base for every float base. */
    int n_float_out = 0;
    for (int j = 0; j < n_out; j++)
        n_float_out += is_float(out[j]);
    differentiable = differentiable && n_float_out > 0 && n_float_in > 0;
    if (differentiable) {
        nb_rng *grng = nb_rng_new(nbt_seed(op, k) ^ GZ_SEED_SALT);
        nb_tensor *zs[NB_MAX_OUTPUTS], *gs[NB_MAX_OUTPUTS], *xs[NB_MAX_INPUTS], *gx[NB_MAX_INPUTS];
        int nz = 0, nx = 0;
        for (int j = 0; j < n_out; j++) {
            if (!is_float(out[j]))
                continue;
            gz[j] = grng ? upstream_gradient(grng, out[j]) : NULL;
            zs[nz] = out[j];
            gs[nz++] = gz[j];
        }
        nb_rng_free(grng);
        for (int j = 0; j < nz; j++)
            if (!gs[j]) {
                put_error(f, op, k, s->label, dtype, "cannot draw the upstream gradient");
                return false;
            }
        for (int i = 0; i < n_in; i++)
            if (!s->in[i].integer)
                xs[nx++] = bases[i];
        if (nb_grad(zs, gs, nz, xs, nx, gx, NULL)) {
            put_error(f, op, k, s->label, dtype, "backward failed");
            return false;
        }
        for (int i = 0, m = 0; i < n_in; i++)
            if (!s->in[i].integer)
                grads[i] = gx[m++];
    }

    put_case_head(f, op, k, s->label, dtype);
    fputs(", \"attrs\": ", f);
    put_attrs(f, op, s);
    fprintf(f, ", \"differentiable\": %s, \"inputs\": [", differentiable ? "true" : "false");
    for (int i = 0; i < n_in && !st; i++) {
        const nb_sample_input *in = &s->in[i];
        int64_t base_shape[NB_MAX_RANK];
        nbt_base_shape(in, base_shape);
        fprintf(f, "%s{\"base_shape\": ", i ? ", " : "");
        put_shape(f, in->rank, base_shape);
        fprintf(f, ", \"layout\": %d, \"shape\": ", in->layout);
        put_shape(f, in->rank, in->shape);
        fprintf(f, ", \"integer\": %s, \"values\": ", in->integer ? "true" : "false");
        st = put_values(f, bases[i]);
        fputc('}', f);
    }
    fputs("], \"outputs\": [", f);
    for (int j = 0; j < n_out && !st; j++) {
        fputs(j ? ", " : "", f);
        st = put_tensor(f, out[j]);
    }
    fputs("], \"grad_outputs\": [", f);
    for (int j = 0; j < n_out && !st; j++) {
        fputs(j ? ", " : "", f);
        st = put_tensor(f, gz[j]);
    }
    fputs("], \"grads\": [", f);
    for (int i = 0; i < n_in && !st; i++) {
        fputs(i ? ", " : "", f);
        st = put_tensor(f, grads[i]);
    }
    fputs("]}\n", f);
    if (st) {
        put_error(f, op, k, s->label, dtype, "cannot read values");
        return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    FILE *f = stdout;
    if (argc > 1 && !(f = fopen(argv[1], "w"))) {
        perror(argv[1]);
        return 2;
    }
    static const nb_dtype dtypes[] = { NB_F32, NB_F64 };
    int failed = 0;
    for (int i = 0, n = nb_op_count(); i < n; i++) {
        const nb_op_def *op = nb_op_at(i);
        if (!op->samples || op->n_samples <= 0) {
            put_case_head(f, op, -1, "(none)", NB_F64);
            fputs(", \"error\": \"the op declares no samples\"}\n", f);
            failed++;
            continue;
        }
        for (int k = 0; k < op->n_samples; k++)
            for (size_t d = 0; d < sizeof dtypes / sizeof *dtypes; d++) {
                nb_scope *scope = nb_scope_begin();
                failed += !dump_case(f, op, k, dtypes[d]);
                nb_scope_end(scope);
            }
    }
    if (f != stdout && fclose(f) != 0) {
        perror(argv[1]);
        return 2;
    }
    if (failed)
        fprintf(stderr, "parity_dump: %d cases could not be run (see their \"error\" lines)\n", failed);
    return 0;
}
