/* Random streams for kernels (internal).
 *
 * An nb_rng is sequential: each draw depends on the one before, so a parallel kernel cannot
 * use it without making its numbers depend on how the work was split. Random ops therefore
 * draw one 64-bit key from the caller's generator (nb_rng_next) and pass it to their kernel
 * as an attribute; the kernel reads element i's bits as a pure function of (key, i). The
 * numbers are then the same for every thread count, and a recorded op replays its draws
 * exactly from its attributes (gradcheck runs an op many times and must see one mask).
 *
 * The function is splitmix64 (Steele, Lea and Flood) read at a counter: draw i of key is
 * the output splitmix64 gives at its (i + 1)-th step from state key. tests/parity/ref_random.py
 * transcribes it; a change here must change it there. */
#ifndef NABLA_CORE_RNG_IMPL_H
#define NABLA_CORE_RNG_IMPL_H

#include <stdint.h>

#define NBI_SPLITMIX_GAMMA 0x9e3779b97f4a7c15ull

/* splitmix64's output function: a bijection that scrambles every bit into every other. */
static inline uint64_t nbi_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* 64 random bits: draw i of the stream named by key. */
static inline uint64_t nbi_stream_bits(uint64_t key, uint64_t i)
{
    return nbi_mix64(key + (i + 1) * NBI_SPLITMIX_GAMMA);
}

/* Uniform on [0, 1) with 53 random bits: draw i of the stream named by key. */
static inline double nbi_stream_uniform(uint64_t key, uint64_t i)
{
    return (double)(nbi_stream_bits(key, i) >> 11) * 0x1p-53;
}

#endif
