/* What the fuzz targets share: the libFuzzer entry point's prototype, a temporary in-memory
 * file for inputs that go through the file readers (and so through zlib), and the checks
 * every input must pass whatever it holds. */
#ifndef NABLA_TESTS_FUZZ_H
#define NABLA_TESTS_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nabla.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A path whose file holds exactly data: an anonymous memory file, rewritten per input, read
 * through /proc/self/fd so that the readers open it by name as they would a real file. */
static inline const char *fuzz_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("nabla-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("writing the fuzz input");
        abort();
    }
    return path;
}

/* A broken promise of the API: report it and crash, so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "fuzz check failed: %s (%s:%d); nb_error: %s\n", #cond, __FILE__, \
                    __LINE__, nb_error());                                                 \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* After a failed call: a code and a message that starts with the function's name. */
static inline void fuzz_check_error(const char *fn)
{
    FUZZ_CHECK(nb_error_code() != NB_OK);
    FUZZ_CHECK(strncmp(nb_error(), fn, strlen(fn)) == 0);
}

/* Every input must leave no tensor storage behind once its scope has ended. */
static inline void fuzz_check_no_leak(int64_t live_before)
{
    FUZZ_CHECK(nb_memory_stats().live_bytes == live_before);
}

#endif
