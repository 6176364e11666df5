/* The Keras-style model: fit, evaluate, predict, history, callbacks, progress output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../common/check.h"

static nb_tensor *mse(nb_tensor *pred, nb_tensor *target)
{
    return nb_mean_all(nb_square(nb_sub(pred, target)));
}

/* y = 3 x - 1 + noise(0.01) on 200 rows. */
static void line_data(nb_tensor **x, nb_tensor **y)
{
    nb_rng *rng = nb_rng_new(4);
    *x = nb_uniform(rng, NB_F32, NB_SHAPE(200, 1), -1, 1);
    *y = nb_add(nb_add_scalar(nb_mul_scalar(*x, 3), -1), nb_mul_scalar(nb_randn(rng, NB_F32, NB_SHAPE(200, 1)), 0.01));
    nb_rng_free(rng);
}

static nb_model *line_model(double lr, uint64_t seed)
{
    nb_rng *rng = nb_rng_new(seed);
    nb_module *net = nb_linear(1, 1, true, rng);
    nb_rng_free(rng);
    nb_tensor *params[2];
    nb_module_parameters(net, params, 2);
    nb_adam_opts o = nb_adam_opts_default();
    o.lr = lr;
    nb_model *m = nb_model_new_steal(net);
    nb_model_compile_steal(m, mse, nb_adam_new(params, 2, &o), (nb_metric[]){ NB_METRIC(NB_METRIC_MAE) }, 1);
    return m;
}

static nb_fit_opts quiet(int epochs)
{
    nb_fit_opts o = nb_fit_opts_default();
    o.epochs = epochs;
    o.batch_size = 16;
    o.verbose = 0;
    return o;
}

static void fit_recovers_a_line_and_records_the_history(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *m = line_model(0.05, 1);
    nb_fit_opts o = quiet(60);
    nb_history *h = nb_model_fit(m, x, y, &o);
    NOT_NULL(h);
    assert_int_equal(nb_history_epochs(h), 60);
    assert_int_equal(nb_history_series(h), 2);
    assert_string_equal(nb_history_name(h, 1), "mae");
    assert_true(nb_history_value(h, "loss", 59) < 0.01 * nb_history_value(h, "loss", 0));
    nb_module *net = nb_model_module(m);
    assert_true(fabs(nbt_value_at(nb_module_find(net, "weight"), 0) - 3) < 0.02);
    assert_true(fabs(nbt_value_at(nb_module_find(net, "bias"), 0) + 1) < 0.02);
    assert_true(isnan(nb_history_value(h, "val_loss", 0)));
    nb_history_free(h);
    nb_model_free(m);
    nb_scope_end(s);
}

static void evaluate_and_predict_agree_with_a_manual_pass(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *m = line_model(0.05, 2);
    nb_tensor *pred = nb_model_predict(m, x, 7);   /* 7 does not divide 200 */
    nbt_assert_shape(pred, 2, (int64_t[]){ 200, 1 });
    double w = nbt_value_at(nb_module_find(nb_model_module(m), "weight"), 0);
    double b = nbt_value_at(nb_module_find(nb_model_module(m), "bias"), 0), sum_sq = 0, sum_abs = 0;
    for (int64_t i = 0; i < 200; i++) {
        double p = w * nbt_value_at(x, i) + b;
        assert_true(fabs(nbt_value_at(pred, i) - p) < 1e-5);
        sum_sq += (p - nbt_value_at(y, i)) * (p - nbt_value_at(y, i));
        sum_abs += fabs(p - nbt_value_at(y, i));
    }
    double loss, mae;
    ASSERT_OK(nb_model_evaluate(m, x, y, 64, &loss, &mae));
    assert_true(fabs(loss - sum_sq / 200) < 1e-5 && fabs(mae - sum_abs / 200) < 1e-5);
    nb_model_free(m);
    nb_scope_end(s);
}

static double weight_after_fit(uint64_t shuffle_seed)
{
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *m = line_model(0.05, 3);
    nb_fit_opts o = quiet(3);
    o.seed = shuffle_seed;
    nb_history_free(nb_model_fit(m, x, y, &o));
    double w = nbt_value_at(nb_module_find(nb_model_module(m), "weight"), 0);
    nb_model_free(m);
    return w;
}

static void the_shuffle_seed_decides_the_result(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    assert_true(weight_after_fit(7) == weight_after_fit(7));
    assert_true(weight_after_fit(7) != weight_after_fit(8));
    nb_scope_end(s);
}

static void validation_split_holds_out_the_last_rows(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *m = line_model(0.05, 4);
    nb_fit_opts o = quiet(5);
    o.validation_split = 0.25;
    nb_history *h = nb_model_fit(m, x, y, &o);
    NOT_NULL(h);
    double loss;
    ASSERT_OK(nb_model_evaluate(m, nb_slice(x, 0, 150, 200, 1), nb_slice(y, 0, 150, 200, 1), 50, &loss, NULL));
    assert_true(fabs(nb_history_value(h, "val_loss", 4) - loss) < 1e-6);
    assert_true(!isnan(nb_history_value(h, "val_mae", 4)));
    nb_history_free(h);
    nb_model_free(m);
    nb_scope_end(s);
}

static void early_stopping_waits_patience_epochs_and_restores_the_best(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *m = line_model(0.05, 5);
    /* min_delta so large that only epoch 0 ever counts as an improvement */
    nb_early_stopping *e = nb_early_stopping_new("loss", 1e9, 3, true);
    nb_fit_opts o = quiet(50);
    nb_callback cb = nb_early_stopping_callback(e);
    o.callbacks = &cb;
    o.n_callbacks = 1;
    nb_history *h = nb_model_fit(m, x, y, &o);
    assert_int_equal(nb_early_stopping_stopped_epoch(e), 3);
    assert_int_equal(nb_history_epochs(h), 4);
    double loss;   /* the weights are those after epoch 0 again */
    ASSERT_OK(nb_model_evaluate(m, x, y, 200, &loss, NULL));
    nb_history_free(h);
    nb_early_stopping_free(e);
    nb_model_free(m);
    nb_scope_end(s);
}

static void checkpoint_keeps_the_best_epoch(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *m = line_model(0.05, 6);
    nb_checkpoint *c = nb_checkpoint_new("val_loss");
    nb_fit_opts o = quiet(8);
    o.x_val = nb_slice(x, 0, 0, 50, 1);
    o.y_val = nb_slice(y, 0, 0, 50, 1);
    nb_callback cb = nb_checkpoint_callback(c);
    o.callbacks = &cb;
    o.n_callbacks = 1;
    nb_history *h = nb_model_fit(m, x, y, &o);
    int best = nb_checkpoint_best_epoch(c);
    for (int e = 0; e < 8; e++)
        assert_true(nb_history_value(h, "val_loss", e) >= nb_history_value(h, "val_loss", best));
    /* spoil the weights, then restore: the validation loss is the best one again */
    nb_no_grad_begin();
    nb_fill_inplace(nb_module_find(nb_model_module(m), "weight"), 0);
    nb_no_grad_end();
    ASSERT_OK(nb_checkpoint_restore(c, m));
    double loss;
    ASSERT_OK(nb_model_evaluate(m, o.x_val, o.y_val, 50, &loss, NULL));
    assert_true(fabs(loss - nb_checkpoint_best_value(c)) < 1e-6);
    nb_history_free(h);
    nb_checkpoint_free(c);
    nb_model_free(m);
    nb_scope_end(s);
}

static void progress_prints_a_line_per_epoch_off_a_terminal(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *m = line_model(0.05, 7);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    nb_fit_opts o = quiet(3);
    o.verbose = 1;   /* a memory stream is no terminal: plain lines */
    o.out = f;
    nb_history_free(nb_model_fit(m, x, y, &o));
    fclose(f);
    int lines = 0;
    for (char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    ASSERT_CONTAINS(text, "Epoch 3/3 13/13");
    ASSERT_CONTAINS(text, " - loss: ");
    ASSERT_CONTAINS(text, " - mae: ");
    ASSERT_CONTAINS(text, "samples/s");
    free(text);
    nb_model_free(m);
    nb_scope_end(s);
}

static void model_mistakes_fail_clearly(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    line_data(&x, &y);
    nb_model *raw = nb_model_new_steal(nb_linear(1, 1, true, NULL));
    assert_null(nb_model_fit(raw, x, y, NULL));
    ASSERT_CONTAINS(nb_error(), "not compiled");
    nb_error_clear();   /* a NULL argument keeps the error already recorded (NULL propagation) */
    assert_int_equal(nb_model_compile_steal(raw, mse, NULL, NULL, 0), NB_ERR_NULL);
    ASSERT_CONTAINS(nb_error(), "optimizer is NULL");
    nb_model_free(raw);
    nb_model *m = line_model(0.05, 8);
    nb_fit_opts o = quiet(1);
    assert_null(nb_model_fit(m, x, nb_slice(y, 0, 0, 10, 1), &o));
    ASSERT_CONTAINS(nb_error(), "x [200, 1] and y [10, 1] need the same number of rows");
    o.batch_size = 0;
    assert_null(nb_model_fit(m, x, y, &o));
    ASSERT_CONTAINS(nb_error(), "batch size 0");
    assert_null(nb_model_predict(m, nb_zeros(NB_F32, NB_SHAPE(4, 3)), 2));
    ASSERT_CONTAINS(nb_error(), "nb_matmul");
    assert_null(nb_checkpoint_new(""));
    assert_null(nb_early_stopping_new("loss", -1, 2, false));
    nb_model_free(m);
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(fit_recovers_a_line_and_records_the_history),
        TEST(evaluate_and_predict_agree_with_a_manual_pass),
        TEST(the_shuffle_seed_decides_the_result),
        TEST(validation_split_holds_out_the_last_rows),
        TEST(early_stopping_waits_patience_epochs_and_restores_the_best),
        TEST(checkpoint_keeps_the_best_epoch),
        TEST(progress_prints_a_line_per_epoch_off_a_terminal),
        TEST(model_mistakes_fail_clearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
