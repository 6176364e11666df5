/* Reading files: IDX (MNIST, Fashion-MNIST) and CSV.
 *
 * Every reader takes a path to a plain or a gzip-compressed file (zlib's gzread tells them
 * apart by the first bytes, so "train-images-idx3-ubyte.gz" and its decompressed twin read
 * the same), and a _memory twin that parses a plain (uncompressed) buffer the caller owns.
 *
 * Ownership: returned tensors are new references owned by the innermost open scope (or by
 * the caller when no scope is open), as everywhere in nabla. Other returned objects say
 * which function frees them.
 *
 * Errors: a reader returns NULL (or a status) and sets nb_error() to a sentence that names
 * the function, the file ("<memory>" for a buffer), where the problem is (IDX: the byte
 * offset in the decompressed data; CSV: line:column, both counted from 1) and what was
 * expected there:
 *   nb_idx_read: train-images-idx3-ubyte.gz: byte 1000016: data ends after 1000000 of
 *   47040000 bytes (60000 x 28 x 28 elements of u8): the file is truncated
 *   nb_csv_read: iris.csv:7:9: column 2 ("sepal_width"): expected a number, found "3..5"
 * Codes: NB_ERR_IO for files that cannot be opened or whose contents are malformed,
 * NB_ERR_ARG / NB_ERR_DTYPE / NB_ERR_NULL for bad arguments, NB_ERR_MEMORY.
 * No reader reads outside the data it was given, whatever the file holds (tests/fuzz/). */
#ifndef NABLA_IO_H
#define NABLA_IO_H

#include "common.h"
#include "tensor.h"

/* ---------------------------------------------------------------- IDX
 * The format of MNIST and Fashion-MNIST: two zero bytes, a type byte (0x08 u8, 0x09 i8,
 * 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), a rank byte (1..NB_MAX_RANK here), one
 * big-endian uint32 size per dimension, then the elements in C order, big-endian, and
 * nothing after them. */

typedef struct nb_idx_opts {
    /* Divide by 255 so that u8 data (image pixels) lands in [0, 1], as torchvision's
     * ToTensor does. Needs u8 data and a float dtype. Default false: values as stored. */
    bool scale;
} nb_idx_opts;

/* The defaults described in nb_idx_opts. */
NB_API nb_idx_opts nb_idx_opts_default(void);

/* CONSTRUCTOR: nb_tensor. Reads the IDX file at path (plain or gzip) into a new contiguous
 * tensor with the file's shape, converted to dtype: NB_F32 or NB_F64 (images: 0..255), or
 * NB_I64 (labels, or pixels as integers; float data cannot be read as NB_I64).
 * opts may be NULL for the defaults. Checked: the magic and type bytes, the rank, that the
 * dimensions do not overflow, that the data is exactly as long as the dimensions say (a
 * truncated file and trailing bytes are both errors), gzip integrity.
 * Returns NULL with nb_error() set on failure. */
NB_API nb_tensor *nb_idx_read(const char *path, nb_dtype dtype, const nb_idx_opts *opts);

/* CONSTRUCTOR: nb_tensor. The same from size bytes of plain IDX data at data (borrowed; not
 * kept after the call). Messages name the file "<memory>". */
NB_API nb_tensor *nb_idx_read_memory(const void *data, size_t size, nb_dtype dtype,
                                     const nb_idx_opts *opts);

/* ---------------------------------------------------------------- CSV
 * Comma-separated values as RFC 4180 writes them: one record per line ("\n" or "\r\n"),
 * fields separated by the delimiter, fields in double quotes may hold delimiters, line
 * breaks and doubled quotes (""). Blank lines are skipped; a UTF-8 byte-order mark at the
 * start is ignored. Every record must have as many fields as the first one (the header
 * when there is one). Feature fields are numbers as strtod reads them in the C locale
 * (whatever setlocale says), with spaces and tabs around them allowed; an empty field is
 * an error (no missing values). */

/* The class names found in a label column of strings: ids 0..count-1 in byte-wise sorted
 * order (as scikit-learn's LabelEncoder), so two files with the same classes map them the
 * same way whatever order their rows are in. */
typedef struct nb_class_names nb_class_names;

/* How the label column is read. */
typedef enum nb_csv_label_kind {
    NB_CSV_LABELS_AUTO = 0,   /* integers as written when every label is one, else names */
    NB_CSV_LABELS_INT,        /* integers as written; anything else is an error */
    NB_CSV_LABELS_NAMES,      /* names mapped to class ids 0..C-1, even "0", "1", ... */
} nb_csv_label_kind;

/* No label column (nb_csv_opts.label_column). */
#define NB_CSV_NO_LABEL (-1)

typedef struct nb_csv_opts {
    char delimiter;               /* ','; also '\t', ';', ' ', ... (not '"', '\r' or '\n') */
    bool has_header;              /* true: the first record names the columns */
    int label_column;             /* 0-based index of the label column, or NB_CSV_NO_LABEL
                                   * (default: NB_CSV_NO_LABEL) */
    const char *label_name;       /* when not NULL: the label column is the header field
                                   * with this name (needs has_header); overrides label_column */
    nb_csv_label_kind label_kind; /* default NB_CSV_LABELS_AUTO */
    const nb_class_names *classes;/* when not NULL: read labels as names and map them through
                                   * these classes (e.g. the ones read from the training file);
                                   * an unknown name is an error. Borrowed for the call */
    const int *skip_columns;      /* 0-based indices of columns to ignore (ids, free text) */
    int n_skip_columns;
    nb_dtype dtype;               /* features: NB_F32 (default) or NB_F64 */
} nb_csv_opts;

/* The defaults described in nb_csv_opts: ',', a header, no label column, f32. */
NB_API nb_csv_opts nb_csv_opts_default(void);

/* Reads the CSV file at path (plain or gzip).
 *   features  OUT: new tensor [rows, columns kept] of opts->dtype: every column but the
 *             label column and the skipped ones, in file order.
 *   labels    OUT: new NB_I64 tensor [rows], or NULL when there is no label column. May be
 *             NULL to discard the labels.
 *   classes   OUT: when labels were read as names, a new nb_class_names the caller frees
 *             with nb_class_names_free; otherwise NULL. May be NULL when not wanted.
 * opts may be NULL for the defaults. A file with a header and no data rows gives [0, F].
 * Returns NB_OK, or an error code with nb_error() set (line:column of the bad field) and
 * every OUT pointer set to NULL. */
NB_API nb_status nb_csv_read(const char *path, const nb_csv_opts *opts, nb_tensor **features,
                             nb_tensor **labels, nb_class_names **classes);

/* The same from size bytes of plain CSV text at data (borrowed; not kept after the call).
 * Messages name the file "<memory>". */
NB_API nb_status nb_csv_read_memory(const void *data, size_t size, const nb_csv_opts *opts,
                                    nb_tensor **features, nb_tensor **labels,
                                    nb_class_names **classes);

/* METHODS: nb_class_names. */
NB_API int64_t nb_class_names_count(const nb_class_names *c);
/* Name of class id; borrowed: valid until nb_class_names_free(c). NULL with nb_error() set
 * when id is out of range. */
NB_API const char *nb_class_names_get(const nb_class_names *c, int64_t id);
/* Class id of name, or -1 when it is not one of them. */
NB_API int64_t nb_class_names_find(const nb_class_names *c, const char *name);
/* DESTRUCTOR. NULL is a no-op. */
NB_API void nb_class_names_free(nb_class_names *c);

#endif
