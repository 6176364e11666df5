/* Metrics on cases worked out by hand. */
#include <math.h>

#include "../common/check.h"
#include "nabla/metrics.h"

#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-12)

/* Four rows of three class scores: predicted classes 1, 0, 2, 1; targets 1, 0, 1, 2.
 * Confusion (row = target): [[1, 0, 0], [0, 1, 1], [0, 1, 0]]. */
static const float scores[] = { 0.1f, 0.7f, 0.2f, 0.8f, 0.1f, 0.1f, 0.2f, 0.3f, 0.5f, 0.3f, 0.4f, 0.3f };
static const int64_t targets[] = { 1, 0, 1, 2 };

static void class_metrics_match_the_hand_computed_values(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = nb_tensor_from_data(scores, NB_F32, NB_SHAPE(4, 3));
    nb_tensor *y = nb_tensor_from_data(targets, NB_I64, NB_SHAPE(4));
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_ACCURACY), p, y), 0.5);
    CLOSE(nb_metric_compute(NB_TOP_K(2), p, y), 1.0);   /* row 3: 0.3 ties 0.3, only 0.4 beats it */
    CLOSE(nb_metric_compute(NB_TOP_K(1), p, y), 0.5);
    /* per class (p, r, f): (1, 1, 1), (1/2, 1/2, 1/2), (0, 0, 0): macro 1/2 each */
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_PRECISION), p, y), 0.5);
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_RECALL), p, y), 0.5);
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_F1), p, y), 0.5);
    nb_tensor *cm = nb_confusion_matrix(p, y, 3);
    const int64_t expected[] = { 1, 0, 0, 0, 1, 1, 0, 1, 0 };
    for (int j = 0; j < 9; j++)
        assert_int_equal((int64_t)nbt_value_at(cm, j), expected[j]);
    double prec[3], rec[3], f1[3], macro[3];
    ASSERT_OK(nb_classification_scores(cm, prec, rec, f1, macro));
    CLOSE(prec[0], 1.0), CLOSE(rec[1], 0.5), CLOSE(f1[2], 0.0), CLOSE(macro[2], 0.5);
    nb_scope_end(s);
}

static void one_hot_targets_read_as_their_argmax(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const float one_hot[] = { 0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1 };
    nb_tensor *p = nb_tensor_from_data(scores, NB_F32, NB_SHAPE(4, 3));
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_ACCURACY), p, nb_tensor_from_data(one_hot, NB_F32, NB_SHAPE(4, 3))), 0.5);
    nb_scope_end(s);
}

/* Scores 0.9, 0.2, 0.6, 0.4, 0.7 give classes 1, 0, 1, 0, 1 against 1, 0, 0, 1, 1:
 * 3 of 5 right; class 1: 2 true positives of 3 predicted and of 3 actual. */
static void binary_metrics_use_the_threshold_and_class_one(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const double sc[] = { 0.9, 0.2, 0.6, 0.4, 0.7 }, tg[] = { 1, 0, 0, 1, 1 };
    nb_tensor *p = nb_tensor_from_data(sc, NB_F64, NB_SHAPE(5, 1)), *y = nb_tensor_from_data(tg, NB_F64, NB_SHAPE(5, 1));
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_BINARY_ACCURACY), p, y), 0.6);
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_PRECISION), p, y), 2.0 / 3.0);
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_RECALL), p, y), 2.0 / 3.0);
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_F1), p, y), 2.0 / 3.0);
    nb_metric high = { .kind = NB_METRIC_BINARY_ACCURACY, .threshold = 0.65 };   /* classes 1, 0, 0, 0, 1 */
    CLOSE(nb_metric_compute(high, p, y), 0.8);
    nb_scope_end(s);
}

static void regression_metrics_and_batches_add_up(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    const float pv[] = { 1, 2, 3 }, tv[] = { 1, 1, 5 };
    nb_tensor *p = nb_tensor_from_data(pv, NB_F32, NB_SHAPE(3)), *y = nb_tensor_from_data(tv, NB_F32, NB_SHAPE(3));
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_MSE), p, y), 5.0 / 3.0);
    CLOSE(nb_metric_compute(NB_METRIC(NB_METRIC_MAE), p, y), 1.0);
    /* the class metrics over two half batches equal the metric over the whole */
    nb_metric_state *acc = nb_metric_state_new(NB_METRIC(NB_METRIC_F1));
    nb_tensor *sc = nb_tensor_from_data(scores, NB_F32, NB_SHAPE(4, 3));
    nb_tensor *tg = nb_tensor_from_data(targets, NB_I64, NB_SHAPE(4));
    assert_true(isnan(nb_metric_state_value(acc)));
    ASSERT_OK(nb_metric_state_add(acc, nb_slice(sc, 0, 0, 2, 1), nb_slice(tg, 0, 0, 2, 1)));
    ASSERT_OK(nb_metric_state_add(acc, nb_slice(sc, 0, 2, 4, 1), nb_slice(tg, 0, 2, 4, 1)));
    CLOSE(nb_metric_state_value(acc), 0.5);
    nb_metric_state_reset(acc);
    assert_true(isnan(nb_metric_state_value(acc)));
    nb_metric_state_free(acc);
    char name[32];
    assert_string_equal(nb_metric_name(NB_TOP_K(3), name, sizeof name), "top_3_accuracy");
    assert_string_equal(nb_metric_name(NB_METRIC(NB_METRIC_BINARY_ACCURACY), name, sizeof name), "binary_accuracy");
    nb_scope_end(s);
}

static void metric_mistakes_fail_clearly(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *p = nb_tensor_from_data(scores, NB_F32, NB_SHAPE(4, 3));
    assert_true(isnan(nb_metric_compute(NB_METRIC(NB_METRIC_ACCURACY), p, nb_zeros(NB_I64, NB_SHAPE(5)))));
    ASSERT_CONTAINS(nb_error(), "predictions [4, 3] and targets [5] do not fit");
    const int64_t bad[] = { 0, 3, 1, 1 };
    assert_true(isnan(nb_metric_compute(NB_METRIC(NB_METRIC_ACCURACY), p, nb_tensor_from_data(bad, NB_I64, NB_SHAPE(4)))));
    ASSERT_CONTAINS(nb_error(), "target 3 at row 1 is not a class id in [0, 3)");
    assert_true(isnan(nb_metric_compute(NB_METRIC(NB_METRIC_BINARY_ACCURACY), p, nb_zeros(NB_I64, NB_SHAPE(4)))));
    ASSERT_CONTAINS(nb_error(), "binary_accuracy needs scores of shape [N] or [N, 1]");
    assert_true(isnan(nb_metric_compute(NB_METRIC(NB_METRIC_MSE), p, nb_zeros(NB_F32, NB_SHAPE(4)))));
    ASSERT_CONTAINS(nb_error(), "mse needs predictions and targets of one size, got [4, 3] and [4]");
    assert_null(nb_confusion_matrix(p, nb_zeros(NB_I64, NB_SHAPE(4)), 5));
    ASSERT_CONTAINS(nb_error(), "n_classes is 5 but the predictions have 3 classes");
    assert_int_equal(nb_classification_scores(nb_zeros(NB_I64, NB_SHAPE(2, 3)), NULL, NULL, NULL, NULL), NB_ERR_SHAPE);
    nb_scope_end(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(class_metrics_match_the_hand_computed_values),
        TEST(one_hot_targets_read_as_their_argmax),
        TEST(binary_metrics_use_the_threshold_and_class_one),
        TEST(regression_metrics_and_batches_add_up),
        TEST(metric_mistakes_fail_clearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
