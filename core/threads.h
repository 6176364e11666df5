/* Thread settings shared by kernels (internal). */
#ifndef NABLA_CORE_THREADS_H
#define NABLA_CORE_THREADS_H

#include <stdint.h>

/* Elements of work below which a loop stays on one thread: starting an OpenMP team costs
 * a few microseconds, which a loop this short does not win back. */
#define NBI_PARALLEL_GRAIN 32768

/* Threads to use for a loop over `work` elements: 1 below the grain, else the setting. */
int nbi_threads_for(int64_t work);

#endif
