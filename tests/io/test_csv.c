/* The CSV reader: headers, label columns of integers and of names, skipped columns,
 * quoting, line endings, and one test per malformed input, each asserting the message
 * names the file, line:column and what was expected. */
#include <math.h>

#include "../common/check.h"
#include "core/alloc.h"
#include "files.h"

static const char iris[] =
    "sepal_length,sepal_width,petal_length,petal_width,species\n"
    "5.1,3.5,1.4,0.2,Iris-setosa\n"
    "7.0,3.2,4.7,1.4,Iris-versicolor\n"
    "6.3,3.3,6.0,2.5,Iris-virginica\n"
    "4.9,3.0,1.4,0.2,Iris-setosa\n";

static nb_csv_opts labelled(int column)
{
    nb_csv_opts o = nb_csv_opts_default();
    o.label_column = column;
    return o;
}

/* Reads text from memory; fails the test unless it succeeds. */
static void read_ok(const char *text, const nb_csv_opts *o, nb_tensor **x, nb_tensor **y, nb_class_names **c)
{
    nb_status st = nb_csv_read_memory(text, strlen(text), o, x, y, c);
    if (st != NB_OK)
        fail_msg("nb_csv_read_memory failed: %s", nb_error());
}

/* Reads text from memory and from a file, expecting code and a message holding where and
 * what (the memory message names "<memory>", the file's its path). */
static void expect_failure(const char *text, const nb_csv_opts *o, nb_status code, const char *where,
                           const char *what)
{
    nb_scope *s = nb_scope_begin();
    nb_tensor *x = (nb_tensor *)1, *y = (nb_tensor *)1;
    nb_class_names *c = (nb_class_names *)1;
    assert_int_equal(nb_csv_read_memory(text, strlen(text), o, &x, &y, &c), code);
    assert_null(x);
    assert_null(y);
    assert_null(c);
    char expected[256];
    snprintf(expected, sizeof expected, "nb_csv_read_memory: <memory>%s", where);
    ASSERT_CONTAINS(nb_error(), expected);
    ASSERT_CONTAINS(nb_error(), what);

    char *path = nbt_temp_file(text, strlen(text), 0);
    assert_non_null(path);
    assert_int_equal(nb_csv_read(path, o, &x, &y, &c), code);
    snprintf(expected, sizeof expected, "nb_csv_read: %s%s", path, where);
    ASSERT_CONTAINS(nb_error(), expected);
    ASSERT_CONTAINS(nb_error(), what);
    nbt_remove_file(path);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- reading */

static void iris_names_become_sorted_class_ids(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_class_names *c;
    nb_csv_opts o = labelled(4);
    read_ok(iris, &o, &x, &y, &c);
    nbt_assert_shape(x, 2, (int64_t[]){ 4, 4 });
    assert_int_equal(nb_tensor_dtype(x), NB_F32);
    nbt_assert_close(x, (double[]){ 5.1, 3.5, 1.4, 0.2, 7.0, 3.2, 4.7, 1.4, 6.3, 3.3, 6.0, 2.5, 4.9, 3.0, 1.4, 0.2 },
                     16, 1e-7);
    nbt_assert_shape(y, 1, (int64_t[]){ 4 });
    assert_int_equal(nb_tensor_dtype(y), NB_I64);
    nbt_assert_close(y, (double[]){ 0, 1, 2, 0 }, 4, 0);
    assert_non_null(c);
    assert_int_equal(nb_class_names_count(c), 3);
    assert_string_equal(nb_class_names_get(c, 0), "Iris-setosa");
    assert_string_equal(nb_class_names_get(c, 2), "Iris-virginica");
    assert_int_equal(nb_class_names_find(c, "Iris-versicolor"), 1);
    assert_int_equal(nb_class_names_find(c, "rose"), -1);
    assert_null(nb_class_names_get(c, 3));
    ASSERT_CONTAINS(nb_error(), "nb_class_names_get: id 3 is out of range [0, 3)");
    nb_class_names_free(c);
    nb_scope_end(s);
}

static void label_column_can_be_named_and_classes_reused_for_a_test_file(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_class_names *train, *test;
    nb_csv_opts o = nb_csv_opts_default();
    o.label_name = "species";
    o.dtype = NB_F64;
    read_ok(iris, &o, &x, &y, &train);
    assert_int_equal(nb_tensor_dtype(x), NB_F64);
    assert_true(nbt_value_at(x, 0) == 5.1);
    /* a test file holding only two of the classes, in another order, maps them the same way */
    o.classes = train;
    read_ok("species,a,b,c,d\nIris-virginica,1,2,3,4\nIris-setosa,5,6,7,8\n", &o, &x, &y, &test);
    nbt_assert_close(y, (double[]){ 2, 0 }, 2, 0);
    nbt_assert_close(x, (double[]){ 1, 2, 3, 4, 5, 6, 7, 8 }, 8, 0);
    assert_int_equal(nb_class_names_count(test), 3);
    nb_class_names_free(test);
    expect_failure("species,a\nIris-virginica,1\nrose,2\n", &o, NB_ERR_IO, ":3:1:",
                   "label \"rose\" is not one of the 3 classes in opts.classes");
    nb_class_names_free(train);
    nb_scope_end(s);
}

static void integer_labels_are_kept_as_written(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_class_names *c = (nb_class_names *)1;
    nb_csv_opts o = labelled(0);
    read_ok("label,p0,p1\n7,0,255\n-1,12,13\n 3 ,1,2\n", &o, &x, &y, &c);
    assert_null(c);
    nbt_assert_close(y, (double[]){ 7, -1, 3 }, 3, 0);
    nbt_assert_close(x, (double[]){ 0, 255, 12, 13, 1, 2 }, 6, 0);
    /* the same as names: sorted strings */
    o.label_kind = NB_CSV_LABELS_NAMES;
    read_ok("label,p0\n7,0\n-1,12\n3,1\n7,5\n", &o, &x, &y, &c);
    nbt_assert_close(y, (double[]){ 2, 0, 1, 2 }, 4, 0);
    assert_string_equal(nb_class_names_get(c, 0), "-1");
    nb_class_names_free(c);
    nb_scope_end(s);
}

static void no_label_column_and_skipped_columns(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y = (nb_tensor *)1;
    nb_csv_opts o = nb_csv_opts_default();
    o.skip_columns = (int[]){ 0, 4 };
    o.n_skip_columns = 2;
    read_ok("id,a,b,c,comment\n17,1,2,3,free text\n18,4,5,6,\"more, text\"\n", &o, &x, &y, NULL);
    assert_null(y);
    nbt_assert_shape(x, 2, (int64_t[]){ 2, 3 });
    nbt_assert_close(x, (double[]){ 1, 2, 3, 4, 5, 6 }, 6, 0);
    /* only a label column: no features (found by fuzzing) */
    nb_class_names *c;
    o = labelled(0);
    read_ok("y\nc\na\nb\n", &o, &x, &y, &c);
    nbt_assert_shape(x, 2, (int64_t[]){ 3, 0 });
    nbt_assert_close(y, (double[]){ 2, 0, 1 }, 3, 0);
    nb_class_names_free(c);
    /* labels may be discarded */
    o = labelled(2);
    read_ok("a,b,c\n1,2,x\n", &o, &x, NULL, NULL);
    nbt_assert_close(x, (double[]){ 1, 2 }, 2, 0);
    nb_scope_end(s);
}

static void no_header_other_delimiters_crlf_bom_and_blank_lines(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_class_names *c;
    nb_csv_opts o = labelled(2);
    o.has_header = false;
    o.delimiter = ';';
    read_ok("\xef\xbb\xbf\r\n1.5;-2e3;cat\r\n\r\n\n 0x10 ;\tinf ;dog\r\n", &o, &x, &y, &c);
    nbt_assert_shape(x, 2, (int64_t[]){ 2, 2 });
    assert_true(nbt_value_at(x, 0) == 1.5f && nbt_value_at(x, 1) == -2000.0f && nbt_value_at(x, 2) == 16.0f);
    assert_true(isinf(nbt_value_at(x, 3)));
    nbt_assert_close(y, (double[]){ 0, 1 }, 2, 0);
    nb_class_names_free(c);
    o.delimiter = '\t';
    read_ok("1\t2\ta\n3\t4\tb", &o, &x, &y, NULL);   /* no final line break */
    nbt_assert_close(x, (double[]){ 1, 2, 3, 4 }, 4, 0);
    nb_scope_end(s);
}

static void quoted_fields_hold_delimiters_quotes_and_line_breaks(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_class_names *c;
    nb_csv_opts o = labelled(1);
    read_ok("\"x, quoted\",\"label\"\n\"1.25\",\"say \"\"hi\"\"\"\n2,\"two\nlines\"  \n3,\"say \"\"hi\"\"\"\n", &o, &x, &y,
            &c);
    nbt_assert_close(x, (double[]){ 1.25, 2, 3 }, 3, 0);
    assert_int_equal(nb_class_names_count(c), 2);
    assert_string_equal(nb_class_names_get(c, 0), "say \"hi\"");
    assert_string_equal(nb_class_names_get(c, 1), "two\nlines");
    nbt_assert_close(y, (double[]){ 0, 1, 0 }, 3, 0);
    nb_class_names_free(c);
    nb_scope_end(s);
}

static void header_without_rows_gives_zero_rows(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_class_names *c;
    nb_csv_opts o = labelled(2);
    read_ok("a,b,label\n", &o, &x, &y, &c);
    nbt_assert_shape(x, 2, (int64_t[]){ 0, 2 });
    nbt_assert_shape(y, 1, (int64_t[]){ 0 });
    nb_class_names_free(c);
    nb_scope_end(s);
}

static void gzip_file_reads_like_plain(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    char *path = nbt_temp_file(iris, strlen(iris), 1);
    assert_non_null(path);
    nb_tensor *x, *y;
    nb_class_names *c;
    nb_csv_opts o = labelled(4);
    ASSERT_OK(nb_csv_read(path, &o, &x, &y, &c));
    nbt_assert_shape(x, 2, (int64_t[]){ 4, 4 });
    nbt_assert_close(y, (double[]){ 0, 1, 2, 0 }, 4, 0);
    nb_class_names_free(c);
    nbt_remove_file(path);
    nb_scope_end(s);
}

/* ---------------------------------------------------------------- malformed input */

static void bad_number_names_line_column_and_header(void **state)
{
    (void)state;
    nb_csv_opts o = labelled(4);
    expect_failure("sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,a\n4.9,3..5,1.4,0.2,b\n",
                   &o, NB_ERR_IO, ":3:5:", "column 1 (\"sepal_width\"): expected a number, found \"3..5\"");
    o = nb_csv_opts_default();
    o.has_header = false;
    expect_failure("1,2\n3,\"x\ty\"\n", &o, NB_ERR_IO, ":2:3:", "column 1: expected a number, found \"x\\x09y\"");
}

static void empty_field_is_an_error(void **state)
{
    (void)state;
    nb_csv_opts o = nb_csv_opts_default();
    expect_failure("a,b,c\n1,,3\n", &o, NB_ERR_IO, ":2:3:", "column 1 (\"b\") is empty, expected a number");
    o.label_column = 2;
    expect_failure("a,b,c\n1,2, \n", &o, NB_ERR_IO, ":2:5:", "the label (column 2 (\"c\")) is empty");
}

static void records_with_the_wrong_number_of_fields_are_errors(void **state)
{
    (void)state;
    nb_csv_opts o = nb_csv_opts_default();
    expect_failure("a,b,c\n1,2,3\n4,5,6,7\n", &o, NB_ERR_IO, ":3:7:",
                   "record has 4 fields, expected 3 as in the header (line 1)");
    expect_failure("a,b,c\n1,2,3\n4,5\n", &o, NB_ERR_IO, ":3:4:",
                   "record has 2 fields, expected 3 as in the header (line 1)");
    o.has_header = false;
    expect_failure("\n\n1,2\n3\n", &o, NB_ERR_IO, ":4:2:", "expected 2 as in the first record (line 3)");
}

static void quoting_mistakes_are_errors(void **state)
{
    (void)state;
    nb_csv_opts o = nb_csv_opts_default();
    expect_failure("a,b\n1,\"2\n3,4\n", &o, NB_ERR_IO, ":2:3:",
                   "quoted field has no closing quote before the end of the file");
    expect_failure("a,b\n1,\"2\"x\n", &o, NB_ERR_IO, ":2:6:",
                   "expected the delimiter or the end of the line after a closing quote, found 'x'");
}

static void integer_labels_required_but_not_found(void **state)
{
    (void)state;
    nb_csv_opts o = labelled(1);
    o.label_kind = NB_CSV_LABELS_INT;
    expect_failure("a,label\n1,3\n2,3.5\n", &o, NB_ERR_IO, ":3:3:",
                   "the label (column 1 (\"label\")) should be an integer, found \"3.5\"");
    expect_failure("a,label\n1,99999999999999999999\n", &o, NB_ERR_IO, ":2:3:", "should be an integer");
}

static void empty_input_is_an_error(void **state)
{
    (void)state;
    nb_csv_opts o = nb_csv_opts_default();
    expect_failure("", &o, NB_ERR_IO, ":1:1:", "the file is empty, expected a header line");
    o.has_header = false;
    expect_failure("\n\r\n", &o, NB_ERR_IO, ":1:1:", "the file is empty, expected at least one record");
}

static void options_that_do_not_fit_the_file_are_errors(void **state)
{
    (void)state;
    nb_csv_opts o = labelled(3);
    expect_failure("a,b,c\n1,2,3\n", &o, NB_ERR_ARG, ": ", "label_column 3 is out of range: the file has 3 columns");
    o = nb_csv_opts_default();
    o.label_name = "species";
    expect_failure("a,b,c\n1,2,3\n", &o, NB_ERR_ARG, ":1:", "no column named \"species\" in the header");
    o = labelled(1);
    o.skip_columns = (int[]){ 1 };
    o.n_skip_columns = 1;
    expect_failure("a,b,c\n1,2,3\n", &o, NB_ERR_ARG, ": ", "column 1 is both the label column and in skip_columns");
    o.skip_columns = (int[]){ -1 };
    expect_failure("a,b,c\n1,2,3\n", &o, NB_ERR_ARG, ": ", "skip_columns[0] = -1 is out of range");
}

static void bad_options_are_errors(void **state)
{
    (void)state;
    nb_scope *s = nb_scope_begin();
    nb_tensor *x;
    const char *t = "a\n1\n";
    nb_csv_opts o = nb_csv_opts_default();
    o.delimiter = '"';
    assert_int_equal(nb_csv_read_memory(t, 4, &o, &x, NULL, NULL), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "nb_csv_read_memory: delimiter 0x22 cannot separate fields");
    o = nb_csv_opts_default();
    o.dtype = NB_I64;
    assert_int_equal(nb_csv_read_memory(t, 4, &o, &x, NULL, NULL), NB_ERR_DTYPE);
    ASSERT_CONTAINS(nb_error(), "features dtype must be f32 or f64, not i64");
    o = nb_csv_opts_default();
    o.has_header = false;
    o.label_name = "y";
    assert_int_equal(nb_csv_read_memory(t, 4, &o, &x, NULL, NULL), NB_ERR_ARG);
    ASSERT_CONTAINS(nb_error(), "label_name \"y\" needs has_header");
    assert_int_equal(nb_csv_read_memory(t, 4, NULL, NULL, NULL, NULL), NB_ERR_NULL);
    ASSERT_CONTAINS(nb_error(), "nb_csv_read_memory: features (the OUT pointer) is NULL");
    assert_int_equal(nb_csv_read("/nonexistent.csv", NULL, &x, NULL, NULL), NB_ERR_IO);
    ASSERT_CONTAINS(nb_error(), "nb_csv_read: /nonexistent.csv: cannot open: No such file or directory");
    assert_null(x);
    nb_scope_end(s);
}

static void results_belong_to_the_current_scope(void **state)
{
    (void)state;
    int64_t before = nbt_live_bytes();
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_csv_opts o = labelled(4);
    read_ok(iris, &o, &x, &y, NULL);
    assert_true(nbt_live_bytes() > before);
    nb_scope_end(s);
    assert_int_equal(nbt_live_bytes(), before);
}

static void allocation_failures_return_an_error_and_leak_nothing(void **state)
{
    (void)state;
    char *path = nbt_temp_file(iris, strlen(iris), 1);
    assert_non_null(path);
    nb_csv_opts o = labelled(4);
    for (long n = 1; n < 60; n++) {
        nb_scope *s = nb_scope_begin();
        nb_tensor *x, *y;
        nb_class_names *c;
        nb_error_clear();
        nbi_alloc_fail_after(n);
        nb_status st = n % 2 ? nb_csv_read(path, &o, &x, &y, &c) : nb_csv_read_memory(iris, strlen(iris), &o, &x, &y, &c);
        nbi_alloc_fail_after(0);
        if (st == NB_OK) {
            nbt_assert_close(y, (double[]){ 0, 1, 2, 0 }, 4, 0);
            nb_class_names_free(c);
        } else {
            assert_int_equal(st, NB_ERR_MEMORY);
            assert_null(x);
            assert_null(y);
            assert_null(c);
        }
        nb_scope_end(s);
    }
    nbt_remove_file(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(iris_names_become_sorted_class_ids),
        TEST(label_column_can_be_named_and_classes_reused_for_a_test_file),
        TEST(integer_labels_are_kept_as_written),
        TEST(no_label_column_and_skipped_columns),
        TEST(no_header_other_delimiters_crlf_bom_and_blank_lines),
        TEST(quoted_fields_hold_delimiters_quotes_and_line_breaks),
        TEST(header_without_rows_gives_zero_rows),
        TEST(gzip_file_reads_like_plain),
        TEST(bad_number_names_line_column_and_header),
        TEST(empty_field_is_an_error),
        TEST(records_with_the_wrong_number_of_fields_are_errors),
        TEST(quoting_mistakes_are_errors),
        TEST(integer_labels_required_but_not_found),
        TEST(empty_input_is_an_error),
        TEST(options_that_do_not_fit_the_file_are_errors),
        TEST(bad_options_are_errors),
        TEST(results_belong_to_the_current_scope),
        TEST(allocation_failures_return_an_error_and_leak_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
