/* Picks the vecmath table for the running CPU, once. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ops/kernels/vecmath.h"

static const nbk_vecmath_table *chosen;

static const nbk_vecmath_table *choose(void)
{
    const char *forced = getenv("NB_ISA");
    __builtin_cpu_init();
    bool avx512 = __builtin_cpu_supports("avx512f");
    bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (forced && strcmp(forced, "sse2") == 0)
        return &nbk_vecmath_sse2;
    if (forced && strcmp(forced, "avx2") == 0 && avx2)
        return &nbk_vecmath_avx2;
    if (avx512 && !(forced && strcmp(forced, "avx2") == 0))
        return &nbk_vecmath_avx512;
    if (avx2)
        return &nbk_vecmath_avx2;
    return &nbk_vecmath_sse2;
}

const nbk_vecmath_table *nbk_vecmath(void)
{
    if (!chosen)   /* benign race: every thread picks the same table */
        chosen = choose();
    return chosen;
}
