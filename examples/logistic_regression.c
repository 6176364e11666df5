/* logistic_regression.c — a linear classifier for two Gaussian blobs, trained with autograd.
 *
 * Shows: handing data made in plain C to nabla (nb_tensor_from_data); a train/test split
 * with views (nb_slice); standardising features with per-column reductions (nb_mean with
 * keepdim) and broadcasting; binary cross-entropy written from ops in a numerically stable
 * form; gradient descent on w and b; evaluation without a graph under nb_no_grad_begin/end.
 *
 * Usage: logistic_regression [--quiet] [--dot FILE]
 *   --dot FILE  write the graph of one forward pass (the loss) as Graphviz DOT
 *   --quiet     print nothing; the exit status is 0 only when test accuracy is >= 0.95 */
#include <stdio.h>
#include <string.h>
#include <nabla.h>

enum { N = 400, N_TRAIN = 320, EPOCHS = 200, PRINT_EVERY = 20 };   /* 200 points per class, 80/20 */
static const double LR = 0.5;
/* Class c is drawn from N(CENTRE[c], diag(SPREAD)^2). The two features have different scales
 * (think metres and kilograms), which is what standardisation is for. The blobs overlap a
 * little: the best any classifier can do is about 98.7% (they are 4.5 deviations apart). */
static const double CENTRE[2][2] = { { 2, 20 }, { 5, 30 } }, SPREAD[2] = { 1, 3 };

/* Mean binary cross-entropy of logits z against labels y in {0, 1}:
 * log(1 + exp(z)) - y z, computed as max(z, 0) - y z + log(1 + exp(-|z|)),
 * which never takes exp of a large positive number. */
static nb_tensor *bce_with_logits(nb_tensor *z, nb_tensor *y)
{
    nb_tensor *tail = nb_log(nb_add_scalar(nb_exp(nb_neg(nb_abs(z))), 1));
    return nb_mean_all(nb_add(nb_sub(nb_relu(z), nb_mul(y, z)), tail));
}

/* p = p - lr * dL/dp for each parameter, in place and unrecorded; then forget the gradient,
 * since backward adds into .grad. */
static nb_status sgd_step(nb_tensor *const *params, int n, double lr)
{
    nb_status st = NB_OK;
    nb_no_grad_begin();
    for (int i = 0; i < n && st == NB_OK; i++) {
        st = nb_copy_inplace(params[i], nb_sub(params[i], nb_mul_scalar(nb_tensor_grad(params[i]), lr)));
        nb_zero_grad(params[i]);
    }
    nb_no_grad_end();
    return st;
}

/* Writes the graph that produced t into path as Graphviz DOT. */
static bool write_dot(const nb_tensor *t, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return false;
    }
    bool ok = nb_graph_dot(t, f) == NB_OK;
    if (!ok)
        fprintf(stderr, "%s\n", nb_error());
    return fclose(f) == 0 && ok;
}

/* Fraction of rows where (z > 0) equals the label. */
static double accuracy(nb_tensor *z, nb_tensor *y)
{
    return nb_tensor_item(nb_mean_all(nb_eq(nb_gt(z, nb_scalar(NB_F32, 0)), y)));
}

int main(int argc, char **argv)
{
    const char *dot_path = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--dot") == 0 && i + 1 < argc)
            dot_path = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--quiet] [--dot FILE]\n", argv[0]);
            return 2;
        }
    }

    /* The data set, in plain C: point i belongs to class i % 2, so any split is balanced. */
    static float xs[N][2], ys[N][1];
    nb_rng *rng = nb_rng_new(7);
    for (int i = 0; i < N; i++) {
        int c = i % 2;
        for (int j = 0; j < 2; j++)
            xs[i][j] = (float)(CENTRE[c][j] + SPREAD[j] * nb_rng_normal(rng));
        ys[i][0] = (float)c;
    }

    /* Everything made from here on belongs to this scope; its end frees it all. */
    nb_scope *outer = nb_scope_begin();
    nb_tensor *x = nb_tensor_from_data(xs, NB_F32, NB_SHAPE(N, 2));
    nb_tensor *y = nb_tensor_from_data(ys, NB_F32, NB_SHAPE(N, 1));
    nb_tensor *y_train = nb_slice(y, 0, 0, N_TRAIN, 1), *y_test = nb_slice(y, 0, N_TRAIN, N, 1);

    /* Standardise with the training rows' column means and deviations, [1, 2] each. */
    nb_tensor *x_train = nb_slice(x, 0, 0, N_TRAIN, 1), *x_test = nb_slice(x, 0, N_TRAIN, N, 1);
    nb_tensor *mu = nb_mean(x_train, (int[]){ 0 }, 1, true);
    nb_tensor *sd = nb_sqrt(nb_mean(nb_square(nb_sub(x_train, mu)), (int[]){ 0 }, 1, true));
    x_train = nb_div(nb_sub(x_train, mu), sd);
    x_test = nb_div(nb_sub(x_test, mu), sd);

    /* w starts small and random rather than at zero: at z = 0 exactly, relu and abs take
     * gradient 0, so the gradient of the stable loss above would be off there. */
    nb_tensor *w = nb_uniform(rng, NB_F32, NB_SHAPE(2, 1), -0.1, 0.1), *b = nb_zeros(NB_F32, NB_SHAPE(1));
    nb_tensor *params[] = { w, b };
    nb_requires_grad(w, true);
    nb_requires_grad(b, true);

    bool ok = true;
    for (int epoch = 1; ok && epoch <= EPOCHS; epoch++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *loss = bce_with_logits(nb_add(nb_matmul(x_train, w), b), y_train);
        if (epoch == 1 && dot_path)
            ok = write_dot(loss, dot_path);
        if (epoch % PRINT_EVERY == 0 && !quiet)
            printf("epoch %3d  loss %.6f\n", epoch, nb_tensor_item(loss));
        /* If any op above failed, loss is NULL and nb_backward reports that first error. */
        if (ok && (nb_backward(loss, NULL) != NB_OK || sgd_step(params, 2, LR) != NB_OK)) {
            fprintf(stderr, "logistic_regression: %s\n", nb_error());
            ok = false;
        }
        nb_scope_end(s);
    }

    nb_no_grad_begin();
    double train_acc = accuracy(nb_add(nb_matmul(x_train, w), b), y_train);
    double test_acc = accuracy(nb_add(nb_matmul(x_test, w), b), y_test);
    nb_no_grad_end();
    if (ok && !quiet) {
        printf("weights (standardised features): w = [%.4f, %.4f], b = %.4f\n",
               nb_tensor_get(w, (int64_t[]){ 0, 0 }), nb_tensor_get(w, (int64_t[]){ 1, 0 }), nb_tensor_item(b));
        printf("train accuracy: %.4f (%d rows)\n", train_acc, N_TRAIN);
        printf("test accuracy:  %.4f (%d rows)\n", test_acc, N - N_TRAIN);
    }

    nb_scope_end(outer);
    nb_rng_free(rng);
    return ok && test_acc >= 0.95 ? 0 : 1;
}
