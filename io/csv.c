/* The CSV reader: the whole file in memory, one pass over its records that checks every
 * field as it goes (numbers into a growing array, labels into a string arena), then the
 * tensors, and class names sorted when labels are names. */
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "io/source.h"
#include "nabla/io.h"

NB_API nb_csv_opts nb_csv_opts_default(void)
{
    return (nb_csv_opts){
        .delimiter = ',',
        .has_header = true,
        .label_column = NB_CSV_NO_LABEL,
        .label_kind = NB_CSV_LABELS_AUTO,
        .dtype = NB_F32,
    };
}

/* ---------------------------------------------------------------- class names */

struct nb_class_names {
    int64_t count;
    char **names;          /* sorted by strcmp; the strings follow the array in one block */
};

/* A new object holding copies of the count sorted, distinct names. */
static nb_class_names *class_names_new(char *const *names, int64_t count)
{
    size_t bytes = sizeof(nb_class_names) + (size_t)count * sizeof(char *);
    for (int64_t i = 0; i < count; i++)
        bytes += strlen(names[i]) + 1;
    nb_class_names *c = nbi_malloc(bytes);
    if (!c)
        return NULL;
    c->count = count;
    c->names = (char **)(c + 1);
    char *p = (char *)(c->names + count);
    for (int64_t i = 0; i < count; i++) {
        size_t n = strlen(names[i]) + 1;
        memcpy(p, names[i], n);
        c->names[i] = p;
        p += n;
    }
    return c;
}

NB_API int64_t nb_class_names_count(const nb_class_names *c)
{
    return c ? c->count : 0;
}

NB_API const char *nb_class_names_get(const nb_class_names *c, int64_t id)
{
    if (!c) {
        nbi_error(NB_ERR_NULL, "nb_class_names_get: classes is NULL");
        return NULL;
    }
    if (id < 0 || id >= c->count) {
        nbi_error(NB_ERR_ARG, "nb_class_names_get: id %lld is out of range [0, %lld)", (long long)id,
                  (long long)c->count);
        return NULL;
    }
    return c->names[id];
}

NB_API int64_t nb_class_names_find(const nb_class_names *c, const char *name)
{
    if (!c || !name)
        return -1;
    int64_t lo = 0, hi = c->count;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(c->names[mid], name);
        if (cmp == 0)
            return mid;
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

NB_API void nb_class_names_free(nb_class_names *c)
{
    nbi_free(c);
}

/* ---------------------------------------------------------------- growing arrays */

typedef struct growing {
    void *data;
    size_t len, cap;       /* in elements */
} growing;

/* Room for `more` elements of `size` bytes after len; false (error set) when out of memory. */
static bool grow(growing *g, size_t size, size_t more)
{
    if (g->cap - g->len >= more)
        return true;
    size_t cap = g->cap ? g->cap : 256;
    while (cap - g->len < more) {
        if (cap > SIZE_MAX / 2 / size) {
            nbi_error(NB_ERR_MEMORY, "out of memory: the file has too many values");
            return false;
        }
        cap *= 2;
    }
    void *data = nbi_realloc(g->data, cap * size);
    if (!data)
        return false;
    g->data = data;
    g->cap = cap;
    return true;
}

/* ---------------------------------------------------------------- tokenizer */

typedef struct field {
    size_t start, len;     /* the raw bytes, quotes excluded */
    int64_t line, col;     /* where the field starts, from 1 */
    bool escaped;          /* holds "" pairs to undo */
} field;

typedef struct parser {
    const char *fn, *name;
    const unsigned char *buf;
    size_t len, pos;
    int64_t line;          /* of pos */
    size_t line_start;     /* offset of that line's first byte */
    char delim;
    field *fields;         /* of the current record */
    int64_t n_fields, cap_fields;
    int64_t end_line, end_col;   /* where the current record ended */
} parser;

static bool is_blank(unsigned char c, char delim)
{
    return (c == ' ' || c == '\t') && c != (unsigned char)delim;
}

static bool push_field(parser *p, field f)
{
    if (p->n_fields == p->cap_fields) {
        int64_t cap = p->cap_fields ? 2 * p->cap_fields : 16;
        field *fields = nbi_realloc(p->fields, (size_t)cap * sizeof *fields);
        if (!fields)
            return false;
        p->fields = fields;
        p->cap_fields = cap;
    }
    p->fields[p->n_fields++] = f;
    return true;
}

/* Copies the text of f, quotes undone, into out (NUL-terminated, at most size - 1 bytes);
 * returns the full length. */
static size_t field_text(const parser *p, const field *f, char *out, size_t size)
{
    const unsigned char *s = p->buf + f->start;
    size_t n = 0;
    for (size_t i = 0; i < f->len; i++) {
        if (f->escaped && s[i] == '"')
            i++;   /* the first of a "" pair; the second is copied */
        if (n + 1 < size)
            out[n] = (char)s[i];
        n++;
    }
    if (size)
        out[n < size ? n : size - 1] = '\0';
    return n;
}

/* The first bytes of f, printable, for a message: "3..5" or "a very long fi...". */
static const char *field_excerpt(const parser *p, const field *f, char *out, size_t size)
{
    char raw[48];
    size_t n = field_text(p, f, raw, sizeof raw);
    size_t k = 0;
    for (size_t i = 0; raw[i] && k + 5 < size; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[k++] = (char)c;
        else
            k += (size_t)snprintf(out + k, size - k, "\\x%02x", c);
    }
    if (n >= sizeof raw && k + 4 < size)
        k += (size_t)snprintf(out + k, size - k, "...");
    out[k < size ? k : size - 1] = '\0';
    return out;
}

/* Parses the next record into p->fields, skipping blank lines. 1: a record; 0: end of the
 * data; -1: error recorded. */
static int next_record(parser *p)
{
    const unsigned char *b = p->buf;
    for (;;) {   /* blank lines: "\n", "\r\n", or a "\r" that ends the data */
        if (p->pos < p->len && b[p->pos] == '\n') {
            p->pos++;
        } else if (p->pos < p->len && b[p->pos] == '\r' && (p->pos + 1 == p->len || b[p->pos + 1] == '\n')) {
            p->pos += p->pos + 1 == p->len ? 1 : 2;
        } else {
            break;
        }
        p->line++;
        p->line_start = p->pos;
    }
    if (p->pos >= p->len)
        return 0;
    p->n_fields = 0;
    for (;;) {
        field f = { .start = p->pos, .line = p->line, .col = (int64_t)(p->pos - p->line_start) + 1 };
        if (p->pos < p->len && b[p->pos] == '"') {
            p->pos++;
            f.start = p->pos;
            for (;;) {
                if (p->pos >= p->len) {
                    nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: quoted field has no closing quote before the end of "
                              "the file", p->fn, p->name, (long long)f.line, (long long)f.col);
                    return -1;
                }
                unsigned char c = b[p->pos];
                if (c == '"') {
                    if (p->pos + 1 < p->len && b[p->pos + 1] == '"') {
                        f.escaped = true;
                        p->pos += 2;
                        continue;
                    }
                    break;
                }
                p->pos++;
                if (c == '\n') {
                    p->line++;
                    p->line_start = p->pos;
                }
            }
            f.len = p->pos - f.start;
            p->pos++;   /* the closing quote */
            while (p->pos < p->len && is_blank(b[p->pos], p->delim))
                p->pos++;
            if (p->pos < p->len && b[p->pos] == '\r' && (p->pos + 1 == p->len || b[p->pos + 1] == '\n'))
                p->pos++;
            if (p->pos < p->len && b[p->pos] != (unsigned char)p->delim && b[p->pos] != '\n') {
                unsigned char c = b[p->pos];
                char shown[8];
                snprintf(shown, sizeof shown, c >= 0x20 && c < 0x7f ? "'%c'" : "byte %02x", c);
                nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: expected the delimiter or the end of the line after a "
                          "closing quote, found %s", p->fn, p->name, (long long)p->line,
                          (long long)(p->pos - p->line_start) + 1, shown);
                return -1;
            }
        } else {
            while (p->pos < p->len && b[p->pos] != (unsigned char)p->delim && b[p->pos] != '\n')
                p->pos++;
            f.len = p->pos - f.start;
            if (f.len > 0 && b[f.start + f.len - 1] == '\r' && (p->pos == p->len || b[p->pos] == '\n'))
                f.len--;
        }
        if (!push_field(p, f))
            return -1;
        if (p->pos < p->len && b[p->pos] == (unsigned char)p->delim) {
            p->pos++;
            continue;
        }
        p->end_line = p->line;
        p->end_col = (int64_t)(p->pos - p->line_start) + 1;
        if (p->pos < p->len) {   /* '\n' */
            p->pos++;
            p->line++;
            p->line_start = p->pos;
        }
        return 1;
    }
}

/* ---------------------------------------------------------------- numbers */

/* strtod in the C locale, whatever the program's locale says about decimal points. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* Parses the whole (blank-trimmed) text as a double or an int64; false when it is not one. */
static bool parse_double(const char *s, double *v)
{
    pthread_once(&c_locale_once, make_c_locale);
    char *end;
    *v = c_locale ? strtod_l(s, &end, c_locale) : strtod(s, &end);
    return end != s && *end == '\0';
}

static bool parse_int(const char *s, int64_t *v)
{
    const char *q = s + (*s == '-' || *s == '+');
    if (*q < '0' || *q > '9')
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    *v = x;
    return *end == '\0' && errno == 0;
}

/* Text of f with blanks trimmed into out (size bytes); returns the trimmed length, or the
 * untrimmed one when it does not fit. */
static size_t trimmed_text(const parser *p, const field *f, char *out, size_t size)
{
    size_t n = field_text(p, f, out, size);
    if (n >= size)
        return n;
    size_t a = 0;
    while (a < n && (out[a] == ' ' || out[a] == '\t'))
        a++;
    while (n > a && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        n--;
    memmove(out, out + a, n - a);
    out[n - a] = '\0';
    return n - a;
}

/* ---------------------------------------------------------------- reader */

enum role { FEATURE, LABEL, SKIP };

typedef struct reader {
    parser p;
    nb_csv_opts o;
    int64_t n_cols, n_features, rows;
    int64_t label_col;           /* -1: none */
    unsigned char *roles;        /* per column */
    char **names;                /* header names (NULL without a header), one block each */
    growing values;              /* double, rows x n_features */
    growing label_ints;          /* int64_t per row */
    growing label_offsets;       /* size_t per row, into label_text */
    growing label_text;          /* char: NUL-terminated label strings */
    bool labels_all_int;
    int64_t header_line;
} reader;

static void reader_free(reader *r)
{
    if (r->names)
        for (int64_t i = 0; i < r->n_cols; i++)
            nbi_free(r->names[i]);
    nbi_free(r->names);
    nbi_free(r->roles);
    nbi_free(r->values.data);
    nbi_free(r->label_ints.data);
    nbi_free(r->label_offsets.data);
    nbi_free(r->label_text.data);
    nbi_free(r->p.fields);
}

/* ' (column 2 "sepal_width")' or ' (column 2)' for messages. */
static const char *column_desc(const reader *r, int64_t c, char *out, size_t size)
{
    if (r->names) {
        char name[48];
        size_t n = strlen(r->names[c]);
        snprintf(name, sizeof name, "%.40s%s", r->names[c], n > 40 ? "..." : "");
        snprintf(out, size, "column %lld (\"%s\")", (long long)c, name);
    } else {
        snprintf(out, size, "column %lld", (long long)c);
    }
    return out;
}

/* The first record sets the number of columns: now the options can be checked against it. */
static nb_status setup_columns(reader *r)
{
    const char *fn = r->p.fn, *name = r->p.name;
    int64_t n = r->p.n_fields;
    r->n_cols = n;
    r->roles = nbi_calloc((size_t)n, 1);
    if (!r->roles)
        return NB_ERR_MEMORY;
    if (r->o.has_header) {
        r->names = nbi_calloc((size_t)n, sizeof *r->names);
        if (!r->names)
            return NB_ERR_MEMORY;
        for (int64_t c = 0; c < n; c++) {
            size_t len = field_text(&r->p, &r->p.fields[c], NULL, 0);
            r->names[c] = nbi_malloc(len + 1);
            if (!r->names[c])
                return NB_ERR_MEMORY;
            trimmed_text(&r->p, &r->p.fields[c], r->names[c], len + 1);
        }
    }
    int64_t label = r->o.label_column;
    if (r->o.label_name) {
        label = -1;
        for (int64_t c = 0; c < n && label < 0; c++)
            if (strcmp(r->names[c], r->o.label_name) == 0)
                label = c;
        if (label < 0)
            return nbi_error(NB_ERR_ARG, "%s: %s:%lld: no column named \"%s\" in the header (label_name)", fn,
                             name, (long long)r->header_line, r->o.label_name);
    } else if (label != NB_CSV_NO_LABEL && (label < 0 || label >= n)) {
        return nbi_error(NB_ERR_ARG, "%s: %s: label_column %lld is out of range: the file has %lld columns", fn,
                         name, (long long)label, (long long)n);
    }
    if (label >= 0)
        r->roles[label] = LABEL;
    r->label_col = label;
    for (int i = 0; i < r->o.n_skip_columns; i++) {
        int c = r->o.skip_columns[i];
        if (c < 0 || c >= n)
            return nbi_error(NB_ERR_ARG, "%s: %s: skip_columns[%d] = %d is out of range: the file has %lld columns",
                             fn, name, i, c, (long long)n);
        if (c == label)
            return nbi_error(NB_ERR_ARG, "%s: %s: column %d is both the label column and in skip_columns", fn, name,
                             c);
        r->roles[c] = SKIP;
    }
    if (r->o.classes && label < 0)
        return nbi_error(NB_ERR_ARG, "%s: opts.classes is set but there is no label column", fn);
    r->n_features = 0;
    for (int64_t c = 0; c < n; c++)
        r->n_features += r->roles[c] == FEATURE;
    return NB_OK;
}

/* Checks and stores one data record. */
static nb_status take_record(reader *r)
{
    parser *p = &r->p;
    const char *fn = p->fn, *name = p->name;
    char desc[96], excerpt[160];
    if (p->n_fields != r->n_cols) {
        bool many = p->n_fields > r->n_cols;
        const field *f = many ? &p->fields[r->n_cols] : NULL;
        return nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: record has %lld fields, expected %lld as in %s (line %lld)",
                         fn, name, (long long)(many ? f->line : p->end_line), (long long)(many ? f->col : p->end_col),
                         (long long)p->n_fields, (long long)r->n_cols,
                         r->o.has_header ? "the header" : "the first record", (long long)r->header_line);
    }
    if (!grow(&r->values, sizeof(double), (size_t)r->n_features))
        return nb_error_code();
    double *v = r->n_features ? (double *)r->values.data + r->values.len : NULL;   /* no features: no array */
    for (int64_t c = 0; c < r->n_cols; c++) {
        const field *f = &p->fields[c];
        if (r->roles[c] == SKIP)
            continue;
        if (r->roles[c] == FEATURE) {
            char text[128];
            size_t n = trimmed_text(p, f, text, sizeof text);
            if (n == 0)
                return nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: %s is empty, expected a number", fn, name,
                                 (long long)f->line, (long long)f->col, column_desc(r, c, desc, sizeof desc));
            if (n >= sizeof text || !parse_double(text, v))
                return nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: %s: expected a number, found \"%s\"", fn, name,
                                 (long long)f->line, (long long)f->col, column_desc(r, c, desc, sizeof desc),
                                 field_excerpt(p, f, excerpt, sizeof excerpt));
            v++;
            continue;
        }
        /* the label */
        size_t raw = field_text(p, f, NULL, 0);
        if (!grow(&r->label_text, 1, raw + 1) || !grow(&r->label_ints, sizeof(int64_t), 1)
            || !grow(&r->label_offsets, sizeof(size_t), 1))
            return nb_error_code();
        char *text = (char *)r->label_text.data + r->label_text.len;
        size_t n = trimmed_text(p, f, text, raw + 1);
        if (n == 0)
            return nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: the label (%s) is empty", fn, name, (long long)f->line,
                             (long long)f->col, column_desc(r, c, desc, sizeof desc));
        int64_t id = 0;
        if (r->o.classes) {
            id = nb_class_names_find(r->o.classes, text);
            if (id < 0)
                return nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: label \"%s\" is not one of the %lld classes in "
                                 "opts.classes", fn, name, (long long)f->line, (long long)f->col,
                                 field_excerpt(p, f, excerpt, sizeof excerpt), (long long)r->o.classes->count);
        } else if (!parse_int(text, &id)) {
            if (r->o.label_kind == NB_CSV_LABELS_INT)
                return nbi_error(NB_ERR_IO, "%s: %s:%lld:%lld: the label (%s) should be an integer, found \"%s\"",
                                 fn, name, (long long)f->line, (long long)f->col, column_desc(r, c, desc, sizeof desc),
                                 field_excerpt(p, f, excerpt, sizeof excerpt));
            r->labels_all_int = false;
        }
        ((int64_t *)r->label_ints.data)[r->label_ints.len++] = id;
        ((size_t *)r->label_offsets.data)[r->label_offsets.len++] = r->label_text.len;
        r->label_text.len += n + 1;
    }
    r->values.len += (size_t)r->n_features;
    r->rows++;
    return NB_OK;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Label names to ids 0..C-1 in sorted order: r->label_ints gets the ids, *classes the names. */
static nb_status map_names(reader *r, nb_class_names **classes)
{
    int64_t n = r->rows;
    char **sorted = nbi_malloc((size_t)(n > 0 ? n : 1) * sizeof *sorted);
    if (!sorted)
        return NB_ERR_MEMORY;
    const size_t *offsets = r->label_offsets.data;
    char *text = r->label_text.data;
    for (int64_t i = 0; i < n; i++)
        sorted[i] = text + offsets[i];
    qsort(sorted, (size_t)n, sizeof *sorted, compare_strings);
    int64_t count = 0;
    for (int64_t i = 0; i < n; i++)
        if (count == 0 || strcmp(sorted[count - 1], sorted[i]) != 0)
            sorted[count++] = sorted[i];
    nb_class_names *c = class_names_new(sorted, count);
    nbi_free(sorted);
    if (!c)
        return NB_ERR_MEMORY;
    int64_t *ids = r->label_ints.data;
    for (int64_t i = 0; i < n; i++)
        ids[i] = nb_class_names_find(c, text + offsets[i]);
    *classes = c;
    return NB_OK;
}

static nb_status csv_read(reader *r, nb_tensor **features, nb_tensor **labels, nb_class_names **classes)
{
    parser *p = &r->p;
    const char *fn = p->fn, *name = p->name;
    if (p->len >= 3 && memcmp(p->buf, "\xef\xbb\xbf", 3) == 0)   /* UTF-8 byte-order mark */
        p->pos = p->line_start = 3;
    int got = next_record(p);
    if (got < 0)
        return nb_error_code();
    if (got == 0)
        return nbi_error(NB_ERR_IO, "%s: %s:1:1: the file is empty, expected %s", fn, name,
                         r->o.has_header ? "a header line" : "at least one record");
    r->header_line = p->fields[0].line;
    nb_status st = setup_columns(r);
    if (st != NB_OK)
        return st;
    if (!r->o.has_header && (st = take_record(r)) != NB_OK)
        return st;
    while ((got = next_record(p)) > 0)
        if ((st = take_record(r)) != NB_OK)
            return st;
    if (got < 0)
        return nb_error_code();

    bool has_label = r->label_col >= 0;
    bool names = has_label && (r->o.classes || r->o.label_kind == NB_CSV_LABELS_NAMES || !r->labels_all_int);
    nb_class_names *c = NULL;
    if (names && !r->o.classes && (st = map_names(r, &c)) != NB_OK)
        return st;
    if (names && r->o.classes && !(c = class_names_new(r->o.classes->names, r->o.classes->count)))
        return NB_ERR_MEMORY;

    nb_tensor *x = nbi_tensor_alloc(r->o.dtype, 2, (const int64_t[]){ r->rows, r->n_features });
    nb_tensor *y = has_label ? nbi_tensor_alloc(NB_I64, 1, &r->rows) : NULL;
    if (!x || (has_label && !y)) {
        nb_release(x);
        nb_release(y);
        nb_class_names_free(c);
        return NB_ERR_MEMORY;
    }
    const double *v = r->values.data;
    int64_t count = r->rows * r->n_features;
    if (r->o.dtype == NB_F32)
        for (int64_t i = 0; i < count; i++)
            ((float *)nbi_data(x))[i] = (float)v[i];
    else if (count > 0)
        memcpy(nbi_data(x), v, (size_t)count * sizeof *v);
    if (y && r->rows > 0)
        memcpy(nbi_data(y), r->label_ints.data, (size_t)r->rows * sizeof(int64_t));
    *features = x;
    *labels = y;
    *classes = c;
    return NB_OK;
}

static nb_status read_source(nbi_source *s, const nb_csv_opts *opts, nb_tensor **features, nb_tensor **labels,
                             nb_class_names **classes)
{
    const char *fn = s->fn;
    nb_csv_opts o = opts ? *opts : nb_csv_opts_default();
    uint64_t errors_before = nbi_error_count();
    nb_tensor *x = NULL, *y = NULL;
    nb_class_names *c = NULL;
    nb_status st = NB_OK;
    if (o.delimiter == '"' || o.delimiter == '\n' || o.delimiter == '\r' || o.delimiter == '\0')
        st = nbi_error(NB_ERR_ARG, "%s: delimiter 0x%02x cannot separate fields (a quote, a line break or NUL)", fn,
                       (unsigned char)o.delimiter);
    else if (o.dtype != NB_F32 && o.dtype != NB_F64)
        st = nbi_error(NB_ERR_DTYPE, "%s: features dtype must be f32 or f64, not %s", fn, nb_dtype_name(o.dtype));
    else if (o.label_name && !o.has_header)
        st = nbi_error(NB_ERR_ARG, "%s: label_name \"%s\" needs has_header", fn, o.label_name);
    else if (o.n_skip_columns < 0 || (o.n_skip_columns > 0 && !o.skip_columns))
        st = nbi_error(NB_ERR_ARG, "%s: n_skip_columns is %d but skip_columns is %s", fn, o.n_skip_columns,
                       o.skip_columns ? "set" : "NULL");
    else if (o.label_kind != NB_CSV_LABELS_AUTO && o.label_kind != NB_CSV_LABELS_INT
             && o.label_kind != NB_CSV_LABELS_NAMES)
        st = nbi_error(NB_ERR_ARG, "%s: label_kind %d is not an nb_csv_label_kind", fn, (int)o.label_kind);
    if (st == NB_OK) {
        const unsigned char *data;
        size_t size;
        bool owned;
        st = nbi_source_read_all(s, &data, &size, &owned);
        if (st == NB_OK) {
            reader r = { .p = { .fn = fn, .name = s->name, .buf = data, .len = size, .line = 1,
                                .delim = o.delimiter },
                         .o = o, .label_col = -1, .labels_all_int = true };
            st = csv_read(&r, &x, &y, &c);
            reader_free(&r);
            if (owned)
                nbi_free((void *)data);
        }
    }
    nbi_source_close(s);
    if (st == NB_OK) {
        if (!labels) {
            nb_release(y);
            y = NULL;
        }
        if (!classes) {
            nb_class_names_free(c);
            c = NULL;
        }
        if (!(x = nbi_scope_add(x))) {   /* it released x */
            nb_release(y);
            st = NB_ERR_MEMORY;
        } else if (y && !(y = nbi_scope_add(y))) {   /* it released y; x stays with the scope */
            st = NB_ERR_MEMORY;
        }
        if (st != NB_OK) {
            nb_class_names_free(c);
            x = y = NULL;
            c = NULL;
        }
    }
    nbi_error_prefix(fn, errors_before);
    *features = x;
    if (labels)
        *labels = y;
    if (classes)
        *classes = c;
    return st;
}

/* NULL for features is a mistake; the other OUT pointers may be NULL. */
static bool check_outs(const char *fn, nb_tensor **features, nb_tensor **labels, nb_class_names **classes)
{
    if (labels)
        *labels = NULL;
    if (classes)
        *classes = NULL;
    if (!features) {
        nbi_error(NB_ERR_NULL, "%s: features (the OUT pointer) is NULL", fn);
        return false;
    }
    *features = NULL;
    return true;
}

NB_API nb_status nb_csv_read(const char *path, const nb_csv_opts *opts, nb_tensor **features, nb_tensor **labels,
                             nb_class_names **classes)
{
    if (!check_outs("nb_csv_read", features, labels, classes))
        return NB_ERR_NULL;
    nbi_source s;
    nb_status st = nbi_source_open_file(&s, "nb_csv_read", path);
    return st != NB_OK ? st : read_source(&s, opts, features, labels, classes);
}

NB_API nb_status nb_csv_read_memory(const void *data, size_t size, const nb_csv_opts *opts, nb_tensor **features,
                                    nb_tensor **labels, nb_class_names **classes)
{
    if (!check_outs("nb_csv_read_memory", features, labels, classes))
        return NB_ERR_NULL;
    if (!data && size > 0)
        return nbi_error(NB_ERR_NULL, "nb_csv_read_memory: data is NULL (size %zu)", size);
    nbi_source s;
    nbi_source_open_memory(&s, "nb_csv_read_memory", data, size);
    return read_source(&s, opts, features, labels, classes);
}
