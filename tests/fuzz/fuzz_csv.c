/* libFuzzer target: the CSV reader. The first input byte picks the options: delimiter
 * (bits 0-1: ',' ';' '\t' ' '), header (bit 2), label column (bits 3-4: none, 0, 1, 2),
 * label kind (bit 5: auto or names), the classes of a reference file (bit 6), and the path
 * (bit 7: a file, so gzip input is inflated by zlib; else memory). The rest is the text.
 * The reader must succeed with consistent tensors, or fail with a message naming it, and
 * leak nothing. */
#include "fuzz.h"

/* Classes "a", "b", "c", read once from a small reference file. */
static nb_class_names *reference_classes(void)
{
    static nb_class_names *classes;
    if (!classes) {
        static const char text[] = "y\nc\na\nb\n";
        nb_tensor *x, *y;
        nb_csv_opts o = nb_csv_opts_default();
        o.label_column = 0;
        nb_scope *s = nb_scope_begin();
        FUZZ_CHECK(nb_csv_read_memory(text, sizeof text - 1, &o, &x, &y, &classes) == NB_OK);
        nb_scope_end(s);
        FUZZ_CHECK(nb_class_names_count(classes) == 3);
    }
    return classes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++, size--;
    nb_csv_opts o = nb_csv_opts_default();
    o.delimiter = ",;\t "[mode & 3];
    o.has_header = mode & 4;
    o.label_column = ((mode >> 3) & 3) - 1;
    o.label_kind = mode & 32 ? NB_CSV_LABELS_NAMES : NB_CSV_LABELS_AUTO;
    o.classes = mode & 64 ? reference_classes() : NULL;
    bool file = mode & 128;
    int64_t live = nb_memory_stats().live_bytes;
    nb_error_clear();
    nb_scope *s = nb_scope_begin();
    nb_tensor *x, *y;
    nb_class_names *c;
    nb_status st = file ? nb_csv_read(fuzz_file(data, size), &o, &x, &y, &c)
                        : nb_csv_read_memory(data, size, &o, &x, &y, &c);
    if (st == NB_OK) {
        FUZZ_CHECK(x && nb_tensor_rank(x) == 2 && nb_tensor_dtype(x) == NB_F32);
        int64_t rows = nb_tensor_dim(x, 0);
        FUZZ_CHECK((y != NULL) == (o.label_column >= 0));
        if (y)
            FUZZ_CHECK(nb_tensor_rank(y) == 1 && nb_tensor_dim(y, 0) == rows);
        if (!y)
            FUZZ_CHECK(!c);
        else if (o.classes || o.label_kind == NB_CSV_LABELS_NAMES)
            FUZZ_CHECK(c);   /* else c tells names (set) from integers (NULL) */
        if (c) {
            const int64_t *ids = nb_tensor_data(y);
            for (int64_t i = 0; i < rows; i++)
                FUZZ_CHECK(ids[i] >= 0 && ids[i] < nb_class_names_count(c));
            for (int64_t k = 0; k < nb_class_names_count(c); k++)
                FUZZ_CHECK(nb_class_names_find(c, nb_class_names_get(c, k)) == k);
        }
        nb_class_names_free(c);
    } else {
        FUZZ_CHECK(!x && !y && !c);
        fuzz_check_error(file ? "nb_csv_read" : "nb_csv_read_memory");
    }
    nb_scope_end(s);
    fuzz_check_no_leak(live);
    return 0;
}
