/* Where a reader's bytes come from (internal): a file, plain or gzip (through zlib's gzread,
 * which tells them apart by the first bytes), or a buffer in memory. Readers count the
 * offset through it, so their messages say where a problem is. */
#ifndef NABLA_IO_SOURCE_H
#define NABLA_IO_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "nabla/common.h"

typedef struct nbi_source {
    const char *fn;                  /* the public function, first word of every message */
    const char *name;                /* the path, or "<memory>" */
    gzFile gz;                       /* NULL for memory */
    const unsigned char *mem;        /* memory: the caller's buffer */
    size_t size;
    uint64_t offset;                 /* bytes delivered so far (decompressed) */
    int64_t file_size;               /* bytes on disk for a regular file, else -1 */
    bool gz_cut;                     /* zlib met the end of the file inside a gzip stream */
} nbi_source;

/* Opens path for reading. On failure records an error (NB_ERR_IO naming fn and path, or
 * NB_ERR_NULL for a NULL path) and returns its code; nothing to close then. */
nb_status nbi_source_open_file(nbi_source *s, const char *fn, const char *path);
/* A source over size bytes at data (borrowed). Never fails. */
void nbi_source_open_memory(nbi_source *s, const char *fn, const void *data, size_t size);
void nbi_source_close(nbi_source *s);

/* True when the bytes are decompressed from gzip (known after the first read). */
bool nbi_source_compressed(const nbi_source *s);

/* Reads up to n bytes into buf: returns how many (fewer than n only at the end of the
 * data), or -1 with an error recorded (corrupt gzip data, a read error). */
int64_t nbi_source_read(nbi_source *s, void *buf, size_t n);

/* The whole rest of the data, *size bytes: *data points into the memory buffer, or at an
 * nbi_malloc block holding a copy from the file (*owned true: nbi_free it). NB_OK, or an
 * error code with an error recorded. */
nb_status nbi_source_read_all(nbi_source *s, const unsigned char **data, size_t *size, bool *owned);

/* " (the gzip stream is cut short)" after a short read of a truncated gzip file, else "". */
const char *nbi_source_cut_note(const nbi_source *s);

#endif
