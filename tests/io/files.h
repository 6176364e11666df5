/* Temporary files for the reader tests: bytes written plain or gzip-compressed to a fresh
 * path under $TMPDIR (or /tmp), removed by the test. */
#ifndef NABLA_TESTS_IO_FILES_H
#define NABLA_TESTS_IO_FILES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* Writes size bytes to a new temporary file, gzip-compressed when gz; returns its path
 * (free() it after unlink()), or NULL. */
static inline char *nbt_temp_file(const void *data, size_t size, int gz)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    if (!path)
        return NULL;
    snprintf(path, 4096, "%s/nabla_io_XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    int ok;
    if (gz) {
        gzFile g = gzdopen(fd, "wb");
        ok = g && (size == 0 || gzwrite(g, data, (unsigned)size) == (int)size);
        ok = g && gzclose(g) == Z_OK && ok;
    } else {
        ok = size == 0 || write(fd, data, size) == (ssize_t)size;
        ok = close(fd) == 0 && ok;
    }
    if (!ok) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

static inline void nbt_remove_file(char *path)
{
    if (path)
        unlink(path);
    free(path);
}

#endif
