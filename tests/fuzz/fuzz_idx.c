/* libFuzzer target: the IDX reader. The first input byte picks the dtype (bits 0-1), scale
 * (bit 2) and the path (bit 3: a file, so gzip input is inflated by zlib; else memory); the
 * rest is the file. Whatever it holds, the reader must succeed with a tensor whose size
 * matches the data, or fail with a message naming it, and leak nothing. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++, size--;
    nb_dtype dtype = (nb_dtype)((mode & 3) % 3);
    nb_idx_opts opts = nb_idx_opts_default();
    opts.scale = mode & 4;
    bool file = mode & 8;
    int64_t live = nb_memory_stats().live_bytes;
    nb_error_clear();
    nb_scope *s = nb_scope_begin();
    nb_tensor *t = file ? nb_idx_read(fuzz_file(data, size), dtype, &opts)
                        : nb_idx_read_memory(data, size, dtype, &opts);
    if (t) {
        FUZZ_CHECK(nb_tensor_dtype(t) == dtype && nb_tensor_is_contiguous(t));
        int rank = nb_tensor_rank(t);
        FUZZ_CHECK(rank >= 1 && rank <= NB_MAX_RANK);
        if (!file) {   /* a plain buffer: the header and the elements are the whole of it */
            static const int sizes[16] = { [8] = 1, [9] = 1, [11] = 2, [12] = 4, [13] = 4, [14] = 8 };
            FUZZ_CHECK(size >= 4 && sizes[data[2] & 15] > 0);
            FUZZ_CHECK(size == 4 + 4 * (size_t)rank + (size_t)nb_tensor_numel(t) * (size_t)sizes[data[2] & 15]);
        }
        double sum = 0;   /* every element is readable */
        for (int64_t i = 0; i < nb_tensor_numel(t); i++)
            sum += dtype == NB_F32 ? ((float *)nb_tensor_data(t))[i]
                 : dtype == NB_F64 ? ((double *)nb_tensor_data(t))[i]
                                   : (double)((int64_t *)nb_tensor_data(t))[i];
        (void)sum;
    } else {
        fuzz_check_error(file ? "nb_idx_read" : "nb_idx_read_memory");
    }
    nb_scope_end(s);
    fuzz_check_no_leak(live);
    return 0;
}
