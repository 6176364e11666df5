/* Walks the op registry: every op must have samples, and every sample of every
 * differentiable op must pass nb_gradcheck in f64, first and second order (through
 * transposed, strided and expanded inputs, whose view ops are differentiated too). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/samples.h"

typedef struct closure {
    const nb_op_def *op;
    const nb_sample *sample;
} closure;

static nb_tensor *apply_sample(nb_tensor *const *bases, void *user)
{
    const closure *c = user;
    nb_tensor *out[NB_MAX_OUTPUTS];
    if (nbt_run(c->op, c->sample, bases, out))
        return NULL;
    return nb_cast(out[0], NB_F64);   /* ops like cast to f32 are checked through a cast back */
}

static int cases_first, cases_second;

static void check_op(void **state)
{
    const nb_op_def *op = *state;
    if (op->n_samples <= 0 || !op->samples)
        fail_msg("op '%s' has no test samples: every op must declare some", op->name);
    for (int k = 0; k < op->n_samples; k++) {
        const nb_sample *s = &op->samples[k];
        nb_scope *scope = nb_scope_begin();
        nb_rng *rng = nb_rng_new(nbt_seed(op, k));
        nb_tensor *bases[NB_MAX_INPUTS], *out[NB_MAX_OUTPUTS];
        if (nbt_make_bases(op, s, NB_F64, rng, bases))
            fail_msg("%s / %s: cannot make inputs: %s", op->name, s->label, nb_error());
        if (nbt_run(op, s, bases, out))
            fail_msg("%s / %s: forward failed: %s", op->name, s->label, nb_error());
        if (op->backward) {
            for (int i = 0; i < nbt_n_in(op, s); i++)
                if (!s->in[i].integer)
                    nb_requires_grad(bases[i], true);
            nb_gradcheck_opts o = nb_gradcheck_opts_default();
            o.second_order = !(op->flags & NB_OP_NO_DOUBLE_BACKWARD);
            if (op->grad_tol > 0)
                o.atol = o.rtol = op->grad_tol;
            if (op->grad_eps > 0)
                o.eps = op->grad_eps;
            closure c = { op, s };
            if (nb_gradcheck(apply_sample, &c, bases, nbt_n_in(op, s), &o))
                fail_msg("%s / %s: %s", op->name, s->label, nb_error());
            cases_first++;
            cases_second += o.second_order;
        }
        nb_rng_free(rng);
        nb_scope_end(scope);
    }
}

int main(void)
{
    int n = nb_op_count();
    struct CMUnitTest *tests = calloc((size_t)n, sizeof *tests);
    for (int i = 0; i < n; i++) {
        const nb_op_def *op = nb_op_at(i);
        tests[i] = (struct CMUnitTest){ .name = op->name, .test_func = check_op, .initial_state = (void *)op };
    }
    int failed = _cmocka_run_group_tests("registry_gradcheck", tests, (size_t)n, NULL, NULL);
    printf("gradcheck: %d ops, %d samples checked first order, %d second order\n", n, cases_first, cases_second);
    free(tests);
    return failed;
}
