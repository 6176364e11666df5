/* The IDX reader: every element type and dtype, plain, gzip and memory, and one test per
 * malformed-file check, each asserting that the message names the file, the byte offset
 * and what was expected there. */
#include <math.h>

#include "../common/check.h"
#include "core/alloc.h"
#include "files.h"

/* ---------------------------------------------------------------- building files */

typedef struct bytes {
    unsigned char b[4096];
    size_t n;
} bytes;

static void put(bytes *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof f->b);
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

static void put_be32(bytes *f, uint32_t v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8),
                           (unsigned char)v };
    put(f, b, 4);
}

/* The header: 00 00 type rank, then the sizes. */
static bytes header(unsigned char type, int rank, const uint32_t *dims)
{
    bytes f = { .n = 0 };
    put(&f, (unsigned char[]){ 0, 0, type, (unsigned char)rank }, 4);
    for (int i = 0; i < rank; i++)
        put_be32(&f, dims[i]);
    return f;
}

/* A 2 x 3 u8 image file holding 0, 1, 2, 127, 128, 255. */
static bytes small_u8(void)
{
    bytes f = header(0x08, 2, (uint32_t[]){ 2, 3 });
    put(&f, (unsigned char[]){ 0, 1, 2, 127, 128, 255 }, 6);
    return f;
}

static const double small_values[] = { 0, 1, 2, 127, 128, 255 };

/* Reads f from a temporary file (gzip when gz). */
static nb_tensor *read_file(const bytes *f, int gz, nb_dtype dtype, const nb_idx_opts *opts, char **path_out)
{
    char *path = nbt_temp_file(f->b, f->n, gz);
    assert_non_null(path);
    nb_tensor *t = nb_idx_read(path, dtype, opts);
    if (path_out)
        *path_out = path;
    else
        nbt_remove_file(path);
    return t;
}

/* Reads the malformed f from memory, from a plain file and from a gzip file, and checks
 * that each fails with code and a message holding every one of the needles. */
static void expect_failure(const bytes *f, nb_dtype dtype, nb_status code, const char *const *needles, int n)
{
    nb_scope *s = nb_scope_begin();
    for (int how = 0; how < 3; how++) {
        nb_error_clear();
        char *path = NULL;
        nb_tensor *t = how == 0 ? nb_idx_read_memory(f->b, f->n, dtype, NULL) : read_file(f, how == 2, dtype, NULL, &path);
        assert_null(t);
        assert_int_equal(nb_error_code(), code);
        ASSERT_CONTAINS(nb_error(), how == 0 ? "nb_idx_read_memory: <memory>: " : "nb_idx_read: ");
        if (path)
            ASSERT_CONTAINS(nb_error(), path);
        for (int i = 0; i < n; i++)
            ASSERT_CONTAINS(nb_error(), needles[i]);
        nbt_remove_file(path);
    }
    nb_scope_end(s);
}

#define EXPECT_FAILURE(f, dtype, code, ...)                                                          \
    expect_failure(&(f), dtype, code, (const char *const[]){ __VA_ARGS__ },                          \
                   (int)(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)))

/* ---------------------------------------------------------------- reading */

static void u8_file_reads_as_f32_f64_and_i64_with_its_shape(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    bytes f = small_u8();
    nb_dtype dtypes[] = { NB_F32, NB_F64, NB_I64 };
    for (int i = 0; i < 3; i++) {
        nb_tensor *t = read_file(&f, 0, dtypes[i], NULL, NULL);
        nbt_assert_shape(t, 2, (int64_t[]){ 2, 3 });
        assert_int_equal(nb_tensor_dtype(t), dtypes[i]);
        assert_true(nb_tensor_is_contiguous(t));
        nbt_assert_close(t, small_values, 6, 0);
    }
    nb_scope_end(s);
}

static void gzip_file_and_memory_read_the_same_as_plain(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    bytes f = small_u8();
    nbt_assert_close(read_file(&f, 1, NB_F32, NULL, NULL), small_values, 6, 0);
    nbt_assert_close(nb_idx_read_memory(f.b, f.n, NB_F32, NULL), small_values, 6, 0);
    nb_scope_end(s);
}

static void scale_divides_u8_by_255(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    bytes f = small_u8();
    nb_idx_opts o = nb_idx_opts_default();
    assert_false(o.scale);
    o.scale = true;
    double expected[6];
    for (int i = 0; i < 6; i++)
        expected[i] = small_values[i] / 255.0;
    nb_tensor *t = read_file(&f, 1, NB_F32, &o, NULL);
    nbt_assert_close(t, expected, 6, 1e-7);
    assert_true(nbt_value_at(t, 5) == 1.0f);
    nbt_assert_close(nb_idx_read_memory(f.b, f.n, NB_F64, &o), expected, 6, 1e-15);
    nb_scope_end(s);
}

static void labels_read_as_i64_rank_1(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    bytes f = header(0x08, 1, (uint32_t[]){ 5 });
    put(&f, (unsigned char[]){ 9, 0, 0, 3, 0 }, 5);
    nb_tensor *t = nb_idx_read_memory(f.b, f.n, NB_I64, NULL);
    nbt_assert_shape(t, 1, (int64_t[]){ 5 });
    nbt_assert_close(t, (double[]){ 9, 0, 0, 3, 0 }, 5, 0);
    nb_scope_end(s);
}

static void every_element_type_is_read_big_endian(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    bytes f = header(0x09, 1, (uint32_t[]){ 3 });   /* i8 */
    put(&f, (unsigned char[]){ 0xff, 0x80, 0x7f }, 3);
    nbt_assert_close(nb_idx_read_memory(f.b, f.n, NB_I64, NULL), (double[]){ -1, -128, 127 }, 3, 0);

    f = header(0x0B, 1, (uint32_t[]){ 2 });   /* i16 */
    put(&f, (unsigned char[]){ 0x01, 0x02, 0xff, 0xfe }, 4);
    nbt_assert_close(nb_idx_read_memory(f.b, f.n, NB_F64, NULL), (double[]){ 258, -2 }, 2, 0);

    f = header(0x0C, 1, (uint32_t[]){ 2 });   /* i32 */
    put(&f, (unsigned char[]){ 0x00, 0x01, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00 }, 8);
    nbt_assert_close(nb_idx_read_memory(f.b, f.n, NB_I64, NULL), (double[]){ 65536, -2147483648.0 }, 2, 0);

    f = header(0x0D, 1, (uint32_t[]){ 2 });   /* f32: 1.5 = 0x3fc00000, -2 = 0xc0000000 */
    put(&f, (unsigned char[]){ 0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0 }, 8);
    nbt_assert_close(nb_idx_read_memory(f.b, f.n, NB_F32, NULL), (double[]){ 1.5, -2 }, 2, 0);

    f = header(0x0E, 2, (uint32_t[]){ 1, 1 });   /* f64: 0.1 = 0x3fb999999999999a */
    put(&f, (unsigned char[]){ 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a }, 8);
    nb_tensor *t = nb_idx_read_memory(f.b, f.n, NB_F64, NULL);
    nbt_assert_shape(t, 2, (int64_t[]){ 1, 1 });
    assert_true(nbt_value_at(t, 0) == 0.1);
    nb_scope_end(s);
}

static void zero_sized_dimension_gives_an_empty_tensor(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    bytes f = header(0x08, 3, (uint32_t[]){ 0, 28, 28 });
    nb_tensor *t = nb_idx_read_memory(f.b, f.n, NB_F32, NULL);
    nbt_assert_shape(t, 3, (int64_t[]){ 0, 28, 28 });
    t = read_file(&f, 1, NB_F32, NULL, NULL);
    nbt_assert_shape(t, 3, (int64_t[]){ 0, 28, 28 });
    nb_scope_end(s);
}

static void a_file_larger_than_one_chunk_reads_whole(void **state)
{
    (void)state;
    enum { N = 3 << 20 };   /* three 1 MiB conversion chunks */
    unsigned char *buf = malloc(16 + N);
    assert_non_null(buf);
    memcpy(buf, (unsigned char[]){ 0, 0, 8, 3, 0, 0, 0x30, 0, 0, 0, 0, 16, 0, 0, 0, 16 }, 16);   /* 12288 x 16 x 16 */
    for (int i = 0; i < N; i++)
        buf[16 + i] = (unsigned char)(i * 7 + i / 251);
    char *path = nbt_temp_file(buf, 16 + N, 1);
    assert_non_null(path);
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = nb_idx_read(path, NB_F32, NULL);
    nbt_assert_shape(t, 3, (int64_t[]){ 12288, 16, 16 });
    const float *z = nb_tensor_data(t);
    for (int i = 0; i < N; i++)
        if (z[i] != (float)buf[16 + i])
            fail_msg("element %d is %g, expected %d", i, z[i], buf[16 + i]);
    nb_scope_end(s);
    nbt_remove_file(path);
    free(buf);
}

static void result_belongs_to_the_current_scope(void **state)
{
    (void)state;
    int64_t before = nbt_live_bytes();
    nb_scope *s = nb_scope_begin();
    bytes f = small_u8();
    NOT_NULL(nb_idx_read_memory(f.b, f.n, NB_F64, NULL));
    nb_scope_end(s);
    assert_int_equal(nbt_live_bytes(), before);
}

/* ---------------------------------------------------------------- malformed files */

static void truncated_data_names_the_offset_and_the_sizes(void **state)
{
    (void)state;
    bytes f = small_u8();
    f.n -= 2;   /* 4 of 6 data bytes */
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 16: data ends after 4 of 6 bytes (2 x 3 elements of u8)",
                   "truncated");
}

static void trailing_bytes_are_an_error(void **state)
{
    (void)state;
    bytes f = small_u8();
    put(&f, "junk", 4);
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 18: 4 bytes after the last element (2 x 3 elements of u8)",
                   "expected the file to end there");
}

static void bad_magic_is_not_an_idx_file(void **state)
{
    (void)state;
    bytes f = small_u8();
    f.b[1] = 0x42;
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 0: magic number starts with 00 42, expected 00 00",
                   "not an IDX file");
}

static void gzip_data_in_memory_is_explained(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    unsigned char gz[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
    assert_null(nb_idx_read_memory(gz, sizeof gz, NB_F32, NULL));
    ASSERT_CONTAINS(nb_error(), "only files are decompressed");
    nb_scope_end(s);
}

static void unknown_type_byte_lists_the_known_ones(void **state)
{
    (void)state;
    bytes f = small_u8();
    f.b[2] = 0x0A;
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 2: unknown element type 0x0a, expected 0x08 (u8)", "0x0e (f64)");
}

static void rank_out_of_range_is_an_error(void **state)
{
    (void)state;
    bytes f = header(0x08, 0, NULL);
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 3: rank 0, expected 1 to 8 dimensions");
    f = header(0x08, 9, (uint32_t[]){ 1, 1, 1, 1, 1, 1, 1, 1, 1 });
    put(&f, "x", 1);
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 3: rank 9, expected 1 to 8 dimensions");
}

static void file_ending_inside_the_header_is_an_error(void **state)
{
    (void)state;
    bytes f = { .n = 0 };
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 0: file ends inside the magic number");
    put(&f, (unsigned char[]){ 0, 0, 8 }, 3);
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 3: file ends inside the magic number");
    f = header(0x08, 3, (uint32_t[]){ 60000, 28, 28 });
    f.n -= 2;
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 14: file ends inside the dimension sizes",
                   "expected 16 bytes of header for rank 3");
}

static void dimensions_that_overflow_are_rejected_before_allocating(void **state)
{
    (void)state;
    bytes f = header(0x0E, 4, (uint32_t[]){ 0xffffffffu, 0xffffffffu, 0xffffffffu, 2 });
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 4: dimensions of 4294967295 x 4294967295 x 4294967295 x 2",
                   "more than 2^58 elements");
    /* a zero size does not excuse the others: their product would overflow on the way (found by fuzzing) */
    f = header(0x08, 3, (uint32_t[]){ 0x80000000u, 0x80000000u, 0 });
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "byte 4: dimensions of 2147483648 x 2147483648 x 0 elements of u8",
                   "more than 2^58 elements");
    /* 2^32 elements would fit a tensor, but not the 20 bytes the file has */
    f = header(0x08, 2, (uint32_t[]){ 65536, 65536 });
    EXPECT_FAILURE(f, NB_F32, NB_ERR_IO, "truncated");
}

static void gzip_file_too_small_for_its_header_fails_before_allocating(void **state)
{
    (void)state;
    bytes f = header(0x08, 3, (uint32_t[]){ 60000, 2800, 2800 });   /* 470 GB declared */
    int64_t allocations = nb_memory_stats().allocations;
    char *path = NULL;
    nb_scope *s = nb_scope_begin();
    assert_null(read_file(&f, 1, NB_F32, NULL, &path));
    nb_scope_end(s);
    ASSERT_CONTAINS(nb_error(), "byte 16: the header declares 470400000000 bytes of data (60000 x 2800 x 2800 "
                                "elements of u8), more than a");
    ASSERT_CONTAINS(nb_error(), "-byte gzip file can hold");
    assert_int_equal(nb_memory_stats().allocations, allocations);
    nbt_remove_file(path);
}

static void truncated_gzip_stream_says_so(void **state)
{
    (void)state;
    bytes f = header(0x08, 1, (uint32_t[]){ 4000 });
    uint32_t r = 12345;
    for (int i = 0; i < 4000; i++) {   /* incompressible, so that half the file holds half the data */
        r ^= r << 13, r ^= r >> 17, r ^= r << 5;
        unsigned char v = (unsigned char)r;
        put(&f, &v, 1);
    }
    char *path = nbt_temp_file(f.b, f.n, 1);
    assert_non_null(path);
    FILE *fp = fopen(path, "r+");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fclose(fp);
    assert_int_equal(truncate(path, size / 2), 0);
    nb_scope *s = nb_scope_begin();
    assert_null(nb_idx_read(path, NB_F32, NULL));
    nb_scope_end(s);
    assert_int_equal(nb_error_code(), NB_ERR_IO);
    ASSERT_CONTAINS(nb_error(), path);
    ASSERT_CONTAINS(nb_error(), "of 4000 bytes (4000 elements of u8): the file is truncated (the gzip stream is cut short)");
    nbt_remove_file(path);
}

static void corrupt_gzip_checksum_is_an_error(void **state)
{
    (void)state;
    bytes f = small_u8();
    char *path = nbt_temp_file(f.b, f.n, 1);
    assert_non_null(path);
    FILE *fp = fopen(path, "r+");
    assert_non_null(fp);
    fseek(fp, -8, SEEK_END);   /* the CRC-32 of the gzip trailer */
    int c = fgetc(fp);
    fseek(fp, -8, SEEK_END);
    fputc(c ^ 0xff, fp);
    fclose(fp);
    nb_scope *s = nb_scope_begin();
    assert_null(nb_idx_read(path, NB_F32, NULL));
    nb_scope_end(s);
    assert_int_equal(nb_error_code(), NB_ERR_IO);
    ASSERT_CONTAINS(nb_error(), "corrupt gzip data: incorrect data check");
    nbt_remove_file(path);
}

static void float_data_cannot_be_read_as_i64(void **state)
{
    (void)state;
    bytes f = header(0x0D, 1, (uint32_t[]){ 1 });
    put(&f, (unsigned char[]){ 0x3f, 0x80, 0, 0 }, 4);
    EXPECT_FAILURE(f, NB_I64, NB_ERR_DTYPE, "byte 2: the file holds f32, which cannot be read as i64");
}

static void scale_needs_u8_data_and_a_float_dtype(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_idx_opts o = { .scale = true };
    bytes f = header(0x0B, 1, (uint32_t[]){ 1 });
    put(&f, (unsigned char[]){ 0, 1 }, 2);
    assert_null(nb_idx_read_memory(f.b, f.n, NB_F32, &o));
    assert_int_equal(nb_error_code(), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "scale to [0, 1] needs u8 data, the file holds i16");
    f = small_u8();
    assert_null(nb_idx_read_memory(f.b, f.n, NB_I64, &o));
    ASSERT_CONTAINS(nb_error(), "nb_idx_read_memory: scale to [0, 1] needs dtype f32 or f64, not i64");
    nb_scope_end(s);
}

static void bad_arguments_are_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    bytes f = small_u8();
    assert_null(nb_idx_read_memory(f.b, f.n, (nb_dtype)7, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "nb_idx_read_memory: dtype 7 is not f32, f64 or i64");
    assert_null(nb_idx_read(NULL, NB_F32, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    ASSERT_CONTAINS(nb_error(), "nb_idx_read: path is NULL");
    assert_null(nb_idx_read_memory(NULL, 10, NB_F32, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_NULL);
    nb_scope_end(s);
}

static void missing_file_and_directory_are_io_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    assert_null(nb_idx_read("/nonexistent/train-images-idx3-ubyte.gz", NB_F32, NULL));
    assert_int_equal(nb_error_code(), NB_ERR_IO);
    ASSERT_CONTAINS(nb_error(),
                    "nb_idx_read: /nonexistent/train-images-idx3-ubyte.gz: cannot open: No such file or directory");
    assert_null(nb_idx_read("/tmp", NB_F32, NULL));
    ASSERT_CONTAINS(nb_error(), "nb_idx_read: /tmp: cannot read: it is a directory");
    nb_scope_end(s);
}

static void allocation_failures_return_null_and_leak_nothing(void **state)
{
    (void)state;
    bytes f = small_u8();
    char *path = nbt_temp_file(f.b, f.n, 1);
    assert_non_null(path);
    for (long n = 1; n < 40; n++) {
        nb_scope *s = nb_scope_begin();
        nb_error_clear();
        nbi_alloc_fail_after(n);
        nb_tensor *t = n % 2 ? nb_idx_read(path, NB_F32, NULL) : nb_idx_read_memory(f.b, f.n, NB_F64, NULL);
        nbi_alloc_fail_after(0);
        if (t)
            nbt_assert_close(t, small_values, 6, 0);
        else
            assert_int_equal(nb_error_code(), NB_ERR_MEMORY);
        nb_scope_end(s);
    }
    nbt_remove_file(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(u8_file_reads_as_f32_f64_and_i64_with_its_shape),
        TEST(gzip_file_and_memory_read_the_same_as_plain),
        TEST(scale_divides_u8_by_255),
        TEST(labels_read_as_i64_rank_1),
        TEST(every_element_type_is_read_big_endian),
        TEST(zero_sized_dimension_gives_an_empty_tensor),
        TEST(a_file_larger_than_one_chunk_reads_whole),
        TEST(result_belongs_to_the_current_scope),
        TEST(truncated_data_names_the_offset_and_the_sizes),
        TEST(trailing_bytes_are_an_error),
        TEST(bad_magic_is_not_an_idx_file),
        TEST(gzip_data_in_memory_is_explained),
        TEST(unknown_type_byte_lists_the_known_ones),
        TEST(rank_out_of_range_is_an_error),
        TEST(file_ending_inside_the_header_is_an_error),
        TEST(dimensions_that_overflow_are_rejected_before_allocating),
        TEST(gzip_file_too_small_for_its_header_fails_before_allocating),
        TEST(truncated_gzip_stream_says_so),
        TEST(corrupt_gzip_checksum_is_an_error),
        TEST(float_data_cannot_be_read_as_i64),
        TEST(scale_needs_u8_data_and_a_float_dtype),
        TEST(bad_arguments_are_errors),
        TEST(missing_file_and_directory_are_io_errors),
        TEST(allocation_failures_return_null_and_leak_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
