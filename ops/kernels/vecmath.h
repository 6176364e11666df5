/* Vectorised transcendental functions over contiguous arrays (internal).
 *
 * Each instruction set has its own translation unit built with that ISA's flags, because
 * SLEEF's header declares a vector function only when the ISA is enabled at compile time.
 * nbk_vecmath() picks the best table for the running CPU once. */
#ifndef NABLA_OPS_KERNELS_VECMATH_H
#define NABLA_OPS_KERNELS_VECMATH_H

#include <stdint.h>

typedef void (*nbk_map_f32)(const float *x, float *z, int64_t n);
typedef void (*nbk_map_f64)(const double *x, double *z, int64_t n);

/* One entry per function and dtype: name_f32 and name_f64. */
#define NBK_VECMATH_FUNCTIONS(X) X(exp) X(log) X(tanh) X(sigmoid) X(expm1) X(log1p) X(log2) X(sin) X(cos) X(erf)

typedef struct nbk_vecmath_table {
    const char *isa;
#define NBK_VECMATH_FIELDS(name) nbk_map_f32 name##_f32; nbk_map_f64 name##_f64;
    NBK_VECMATH_FUNCTIONS(NBK_VECMATH_FIELDS)
#undef NBK_VECMATH_FIELDS
} nbk_vecmath_table;

extern const nbk_vecmath_table nbk_vecmath_avx512;
extern const nbk_vecmath_table nbk_vecmath_avx2;
extern const nbk_vecmath_table nbk_vecmath_sse2;

/* The table for this CPU. NB_ISA=avx512|avx2|sse2 in the environment forces a lower one
 * (for tests of every path on one machine). */
const nbk_vecmath_table *nbk_vecmath(void);

#endif
