/* The real Fashion-MNIST training files (Debian's dataset-fashion-mnist): read them, check
 * shape, pixels and labels against zlib's own reading of the files, then run loader epochs
 * over them. Skipped (exit 77) when the files are not installed. Prints the read and epoch
 * times; asserts only loose bounds on CPU time, since the machine may be shared. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

#include "../common/check.h"

#define DIR "/usr/share/datasets/fashion-mnist/"
static const char images_path[] = DIR "train-images-idx3-ubyte.gz";
static const char labels_path[] = DIR "train-labels-idx1-ubyte.gz";

enum { N = 60000, H = 28, W = 28 };

/* Wall-clock time, and the CPU time of this process (which a loaded machine inflates less). */
static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The file's bytes past its header, decompressed by zlib directly: the reference. */
static unsigned char *raw_payload(const char *path, size_t header, size_t size)
{
    gzFile g = gzopen(path, "rb");
    assert_non_null(g);
    unsigned char head[16];
    assert_int_equal(gzread(g, head, (unsigned)header), (int)header);
    unsigned char *p = malloc(size);
    assert_non_null(p);
    assert_int_equal(gzread(g, p, (unsigned)size), (int)size);
    assert_int_equal(gzread(g, head, 1), 0);   /* nothing after the data */
    gzclose(g);
    return p;
}

static void train_images_read_with_shape_pixels_and_checksum(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    double t0 = seconds(), c0 = cpu_seconds();
    nb_tensor *x = nb_idx_read(images_path, NB_F32, NULL);
    double t1 = seconds(), c1 = cpu_seconds();
    NOT_NULL(x);
    print_message("read %s as f32 [60000, 28, 28] in %.3f s (%.3f s of CPU)\n", images_path, t1 - t0, c1 - c0);
    nbt_assert_shape(x, 3, (int64_t[]){ N, H, W });
    assert_true(c1 - c0 < 10.0);   /* ~0.3 s; loose for sanitizers and busy machines */

    unsigned char *raw = raw_payload(images_path, 16, (size_t)N * H * W);
    const float *px = nb_tensor_data(x);
    uint64_t sum = 0, weighted = 0, mine = 0, mine_weighted = 0;
    for (size_t i = 0; i < (size_t)N * H * W; i++) {
        sum += raw[i];
        weighted += raw[i] * (i % 65521);
        mine += (uint64_t)px[i];
        mine_weighted += (uint64_t)px[i] * (i % 65521);
        if (px[i] != (float)raw[i])
            fail_msg("pixel %zu is %g, zlib reads %d", i, px[i], raw[i]);
    }
    assert_true(sum == mine && weighted == mine_weighted);
    assert_true(sum == UINT64_C(3431114169));   /* computed once with Python's gzip module */
    assert_true(px[14 * W + 14] == 217.0f);     /* image 0 (an ankle boot), centre pixel */
    assert_true(px[96] == 1.0f && px[99] == 13.0f && px[100] == 73.0f);
    free(raw);

    nb_tensor *scaled = nb_idx_read(images_path, NB_F32, &(nb_idx_opts){ .scale = true });
    NOT_NULL(scaled);
    assert_true(((const float *)nb_tensor_data(scaled))[14 * W + 14] == 217.0f / 255.0f);
    nb_scope_end(s);
}

static void train_labels_are_6000_of_each_class(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *y = nb_idx_read(labels_path, NB_I64, NULL);
    nbt_assert_shape(y, 1, (int64_t[]){ N });
    const int64_t *ys = nb_tensor_data(y);
    int64_t hist[10] = { 0 };
    for (int i = 0; i < N; i++) {
        assert_true(ys[i] >= 0 && ys[i] < 10);
        hist[ys[i]]++;
    }
    for (int c = 0; c < 10; c++)
        assert_int_equal(hist[c], 6000);
    const int64_t first[] = { 9, 0, 0, 3, 0, 2, 7, 2, 5, 5 };
    for (int i = 0; i < 10; i++)
        assert_int_equal(ys[i], first[i]);
    unsigned char *raw = raw_payload(labels_path, 8, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(ys[i], raw[i]);
    free(raw);
    nb_scope_end(s);
}

static void loader_epochs_over_the_training_set(void **state)
{
    (void)state;
    nb_scope *outer = nb_scope_begin();
    nb_tensor *x = nb_idx_read(images_path, NB_F32, &(nb_idx_opts){ .scale = true });
    nb_tensor *y = nb_idx_read(labels_path, NB_I64, NULL);
    nb_dataset *ds = nb_dataset_new(nb_reshape(x, NB_SHAPE(N, H * W)), y);
    assert_non_null(ds);
    nb_loader *l = nb_loader_new(ds, &(nb_loader_opts){ .batch_size = 128, .shuffle = true, .seed = 2024 });
    assert_int_equal(nb_loader_batches(l), 469);
    for (int epoch = 0; epoch < 2; epoch++) {
        int64_t hist[10] = { 0 }, batches = 0, rows = 0;
        double checksum = 0, t0 = seconds(), c0 = cpu_seconds();
        nb_tensor *bx, *by;
        nb_scope *s = nb_scope_begin();
        while (nb_loader_next(l, &bx, &by)) {
            int64_t b = nb_tensor_dim(bx, 0);
            const int64_t *ys = nb_tensor_data(by);
            const float *xs = nb_tensor_data(bx);
            for (int64_t r = 0; r < b; r++) {
                hist[ys[r]]++;
                checksum += xs[r * H * W + 14 * W + 14];
            }
            rows += b;
            batches++;
            nb_scope_end(s);
            s = nb_scope_begin();
        }
        nb_scope_end(s);
        double t = seconds() - t0, cpu = cpu_seconds() - c0;
        print_message("epoch %d: %lld batches of 128 in %.3f s (%.3f s of CPU)\n", epoch + 1, (long long)batches, t,
                      cpu);
        assert_int_equal(batches, 469);
        assert_int_equal(rows, N);
        for (int c = 0; c < 10; c++)
            assert_int_equal(hist[c], 6000);
        /* every image once: the centre pixels sum to the same as over the whole set */
        double whole = 0;
        const float *all = nb_tensor_data(x);
        for (int i = 0; i < N; i++)
            whole += all[(int64_t)i * H * W + 14 * W + 14];
        assert_true(fabs(checksum - whole) < 1e-6 * whole);
        assert_true(cpu < 10.0);   /* ~0.02 s: the copies */
    }
    assert_int_equal(nb_loader_epoch(l), 2);
    nb_loader_free(l);
    nb_dataset_free(ds);
    nb_scope_end(outer);
}

int main(void)
{
    FILE *f = fopen(images_path, "rb"), *g = fopen(labels_path, "rb");
    if (!f || !g) {
        printf("SKIP: %s or %s is missing (install Debian's dataset-fashion-mnist)\n", images_path, labels_path);
        if (f)
            fclose(f);
        if (g)
            fclose(g);
        return 77;
    }
    fclose(f);
    fclose(g);
    const struct CMUnitTest tests[] = {
        TEST(train_images_read_with_shape_pixels_and_checksum),
        TEST(train_labels_are_6000_of_each_class),
        TEST(loader_epochs_over_the_training_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
