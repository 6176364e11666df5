/* The IDX reader (MNIST, Fashion-MNIST): header checks, then the elements converted to the
 * requested dtype chunk by chunk, straight from the (decompressed) stream into the tensor. */
#include <string.h>
#include <sys/mman.h>

#include "core/alloc.h"
#include "core/error_impl.h"
#include "core/tensor_impl.h"
#include "io/source.h"
#include "nabla/io.h"

enum { CHUNK = 1 << 20 };   /* bytes converted at a time; a multiple of every element size */

/* The element types of the format, by the code in byte 2. */
typedef struct idx_type {
    unsigned char code;
    const char *name;
    int size;
    bool is_float;
} idx_type;

static const idx_type types[] = {
    { 0x08, "u8", 1, false },  { 0x09, "i8", 1, false },  { 0x0B, "i16", 2, false },
    { 0x0C, "i32", 4, false }, { 0x0D, "f32", 4, true },  { 0x0E, "f64", 8, true },
};

static const idx_type *find_type(unsigned char code)
{
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (types[i].code == code)
            return &types[i];
    return NULL;
}

NB_API nb_idx_opts nb_idx_opts_default(void)
{
    return (nb_idx_opts){ .scale = false };
}

/* ---------------------------------------------------------------- conversion */

static inline uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t load_be64(const unsigned char *p)
{
    return (uint64_t)load_be32(p) << 32 | load_be32(p + 4);
}

static inline double load_element(const idx_type *t, const unsigned char *p)
{
    switch (t->code) {
    case 0x08: return p[0];
    case 0x09: return (int8_t)p[0];
    case 0x0B: return (int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C: return (int32_t)load_be32(p);
    case 0x0D: {
        uint32_t bits = load_be32(p);
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    default: {
        uint64_t bits = load_be64(p);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    }
}

/* Converts n elements of type t at in to dtype at out (element index `at`). u8 has loops of
 * its own, since images are what this format is for and they vectorise. */
static void convert(const idx_type *t, const unsigned char *in, int64_t n, nb_dtype dtype, void *out,
                    int64_t at, bool scale)
{
    if (t->code == 0x08) {
        if (dtype == NB_F32) {
            float *z = (float *)out + at;
            if (scale)
                for (int64_t i = 0; i < n; i++)
                    z[i] = (float)in[i] / 255.0f;
            else
                for (int64_t i = 0; i < n; i++)
                    z[i] = (float)in[i];
        } else if (dtype == NB_F64) {
            double *z = (double *)out + at;
            for (int64_t i = 0; i < n; i++)
                z[i] = scale ? in[i] / 255.0 : (double)in[i];
        } else {
            int64_t *z = (int64_t *)out + at;
            for (int64_t i = 0; i < n; i++)
                z[i] = in[i];
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = load_element(t, in + i * t->size);
        switch (dtype) {
        case NB_F32: ((float *)out)[at + i] = (float)v; break;
        case NB_F64: ((double *)out)[at + i] = v; break;
        default: ((int64_t *)out)[at + i] = (int64_t)v; break;   /* integer types only: exact */
        }
    }
}

/* ---------------------------------------------------------------- reader */

/* The output of a large file is written once, front to back, into fresh memory: with 4 KiB
 * pages, faulting them in costs more than inflating the data (Fashion-MNIST's 188 MB of
 * f32). Transparent huge pages, where the system offers them on request, fault 2 MiB at a
 * time. Only a hint: nothing changes when it is refused. */
static void advise_huge_pages(void *p, size_t bytes)
{
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (end > start)
        madvise((void *)start, end - start, MADV_HUGEPAGE);
}

/* "60000 x 28 x 28 elements of u8" into buf. */
static const char *describe(int rank, const uint32_t *dims, const idx_type *t, char *buf, size_t size)
{
    size_t k = 0;
    for (int i = 0; i < rank && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, "%s%u", i ? " x " : "", dims[i]);
    if (k < size)
        snprintf(buf + k, size - k, " elements of %s", t->name);
    return buf;
}

/* Bytes after the data, counted (the stream is read to its end): 0 when there are none,
 * -1 on a read error. */
static int64_t count_trailing(nbi_source *s, unsigned char *buf, size_t size)
{
    int64_t total = 0, got;
    do {
        got = nbi_source_read(s, buf, size);
        if (got < 0)
            return -1;
        total += got;
    } while ((size_t)got == size);
    return total;
}

static nb_tensor *idx_read(nbi_source *s, nb_dtype dtype, bool scale)
{
    const char *fn = s->fn, *name = s->name;
    unsigned char head[4 + 4 * NB_MAX_RANK];
    int64_t got = nbi_source_read(s, head, 4);
    if (got < 0)
        return NULL;
    if (got < 4) {
        nbi_error(NB_ERR_IO, "%s: %s: byte %lld: file ends inside the magic number (expected 4 bytes: 00 00, "
                  "a type byte and a rank byte)%s", fn, name, (long long)got, nbi_source_cut_note(s));
        return NULL;
    }
    if (head[0] != 0 || head[1] != 0) {
        bool gzip = head[0] == 0x1f && head[1] == 0x8b;
        nbi_error(NB_ERR_IO, "%s: %s: byte 0: magic number starts with %02x %02x, expected 00 00: not an IDX file%s",
                  fn, name, head[0], head[1],
                  gzip ? " (gzip data: only files are decompressed, not memory buffers)" : "");
        return NULL;
    }
    const idx_type *t = find_type(head[2]);
    if (!t) {
        nbi_error(NB_ERR_IO, "%s: %s: byte 2: unknown element type 0x%02x, expected 0x08 (u8), 0x09 (i8), "
                  "0x0b (i16), 0x0c (i32), 0x0d (f32) or 0x0e (f64)", fn, name, head[2]);
        return NULL;
    }
    if (t->is_float && dtype == NB_I64) {
        nbi_error(NB_ERR_DTYPE, "%s: %s: byte 2: the file holds %s, which cannot be read as i64 (ask for f32 or f64)",
                  fn, name, t->name);
        return NULL;
    }
    if (scale && t->code != 0x08) {
        nbi_error(NB_ERR_DTYPE, "%s: %s: byte 2: scale to [0, 1] needs u8 data, the file holds %s", fn, name,
                  t->name);
        return NULL;
    }
    int rank = head[3];
    if (rank < 1 || rank > NB_MAX_RANK) {
        nbi_error(NB_ERR_IO, "%s: %s: byte 3: rank %d, expected 1 to %d dimensions", fn, name, rank, NB_MAX_RANK);
        return NULL;
    }
    got = nbi_source_read(s, head + 4, 4 * (size_t)rank);
    if (got < 0)
        return NULL;
    if (got < 4 * rank) {
        nbi_error(NB_ERR_IO, "%s: %s: byte %lld: file ends inside the dimension sizes (expected %d bytes of "
                  "header for rank %d)%s", fn, name, (long long)(4 + got), 4 + 4 * rank, rank, nbi_source_cut_note(s));
        return NULL;
    }
    uint32_t dims[NB_MAX_RANK];
    int64_t shape[NB_MAX_RANK];
    /* The product of the non-zero sizes bounds every partial product, so the element count
     * cannot overflow on the way even when a later size is 0 (the rule of the creation
     * functions, which compute it left to right). */
    const uint64_t limit = UINT64_C(1) << 58;
    uint64_t nonzero = 1;
    bool overflow = false, empty = false;
    for (int i = 0; i < rank; i++) {
        dims[i] = load_be32(head + 4 + 4 * i);
        shape[i] = dims[i];
        empty = empty || dims[i] == 0;
        if (dims[i] > 0 && !overflow) {
            overflow = nonzero > limit / dims[i];
            nonzero *= dims[i];
        }
    }
    uint64_t numel = empty ? 0 : nonzero;
    char what[160];
    describe(rank, dims, t, what, sizeof what);
    if (overflow) {
        nbi_error(NB_ERR_IO, "%s: %s: byte 4: dimensions of %s: more than 2^58 elements (counting non-zero sizes), "
                  "the most a tensor holds", fn, name, what);
        return NULL;
    }
    uint64_t header = 4 + 4 * (uint64_t)rank, payload = numel * (uint64_t)t->size;

    /* Sizes known before reading (memory, plain files) are checked exactly up front, and a
     * gzip file must be able to hold the data at deflate's best ratio (1032:1), so that a
     * corrupt header never makes us allocate more than the file could fill. */
    if (!nbi_source_compressed(s) && s->file_size >= 0) {
        uint64_t have = (uint64_t)s->file_size - header;
        if (have < payload) {
            nbi_error(NB_ERR_IO, "%s: %s: byte %llu: data ends after %llu of %llu bytes (%s): the file is truncated",
                      fn, name, (unsigned long long)(header + have), (unsigned long long)have,
                      (unsigned long long)payload, what);
            return NULL;
        }
        if (have > payload) {
            nbi_error(NB_ERR_IO, "%s: %s: byte %llu: %llu bytes after the last element (%s); expected the file "
                      "to end there", fn, name, (unsigned long long)(header + payload),
                      (unsigned long long)(have - payload), what);
            return NULL;
        }
    } else if (s->file_size >= 0 && payload / 1032 > (uint64_t)s->file_size) {
        nbi_error(NB_ERR_IO, "%s: %s: byte %llu: the header declares %llu bytes of data (%s), more than a "
                  "%lld-byte gzip file can hold: the file is truncated or the header is corrupt", fn, name,
                  (unsigned long long)header, (unsigned long long)payload, what, (long long)s->file_size);
        return NULL;
    }

    nb_tensor *z = nbi_tensor_alloc(dtype, rank, shape);
    if (!z)
        return NULL;
    size_t chunk = payload < CHUNK ? (size_t)payload : CHUNK;
    unsigned char *buf = nbi_malloc(chunk > 64 ? chunk : 64);
    if (!buf) {
        nb_release(z);
        return NULL;
    }
    void *out = nbi_data(z);
    advise_huge_pages(out, (size_t)numel * nb_dtype_size(dtype));
    uint64_t done = 0;
    while (done < payload) {
        size_t want = payload - done < chunk ? (size_t)(payload - done) : chunk;
        got = nbi_source_read(s, buf, want);
        if (got < 0)
            goto fail;
        if ((size_t)got < want) {
            nbi_error(NB_ERR_IO, "%s: %s: byte %llu: data ends after %llu of %llu bytes (%s): the file is "
                      "truncated%s", fn, name, (unsigned long long)(header + done + (uint64_t)got),
                      (unsigned long long)(done + (uint64_t)got), (unsigned long long)payload, what,
                      nbi_source_cut_note(s));
            goto fail;
        }
        convert(t, buf, got / t->size, dtype, out, (int64_t)(done / (uint64_t)t->size), scale);
        done += (uint64_t)got;
    }
    int64_t extra = count_trailing(s, buf, chunk > 64 ? chunk : 64);
    if (extra < 0)
        goto fail;
    if (extra > 0) {
        nbi_error(NB_ERR_IO, "%s: %s: byte %llu: %lld bytes after the last element (%s); expected the file to end "
                  "there", fn, name, (unsigned long long)(header + payload), (long long)extra, what);
        goto fail;
    }
    nbi_free(buf);
    return z;

fail:
    nbi_free(buf);
    nb_release(z);
    return NULL;
}

/* Checks the arguments, reads, closes s. */
static nb_tensor *read_checked(nbi_source *s, nb_dtype dtype, const nb_idx_opts *opts)
{
    nb_idx_opts o = opts ? *opts : nb_idx_opts_default();
    uint64_t errors_before = nbi_error_count();
    nb_tensor *z = NULL;
    if (dtype != NB_F32 && dtype != NB_F64 && dtype != NB_I64)
        nbi_error(NB_ERR_DTYPE, "%s: dtype %d is not f32, f64 or i64", s->fn, (int)dtype);
    else if (o.scale && dtype == NB_I64)
        nbi_error(NB_ERR_DTYPE, "%s: scale to [0, 1] needs dtype f32 or f64, not i64", s->fn);
    else
        z = idx_read(s, dtype, o.scale);
    nbi_source_close(s);
    nbi_error_prefix(s->fn, errors_before);   /* "nb_idx_read: out of memory: ..." */
    return nbi_scope_add(z);
}

NB_API nb_tensor *nb_idx_read(const char *path, nb_dtype dtype, const nb_idx_opts *opts)
{
    nbi_source s;
    if (nbi_source_open_file(&s, "nb_idx_read", path) != NB_OK)
        return NULL;
    return read_checked(&s, dtype, opts);
}

NB_API nb_tensor *nb_idx_read_memory(const void *data, size_t size, nb_dtype dtype, const nb_idx_opts *opts)
{
    nbi_source s;
    if (!data && size > 0) {
        nbi_error(NB_ERR_NULL, "nb_idx_read_memory: data is NULL (size %zu)", size);
        return NULL;
    }
    nbi_source_open_memory(&s, "nb_idx_read_memory", data, size);
    return read_checked(&s, dtype, opts);
}
