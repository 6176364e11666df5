/* Body shared by the per-ISA vecmath files (internal). Before including it, a file defines
 * ISA_NAME, TABLE, the vector types, widths, load/store and the SLEEF functions:
 *   VF32, WF32, LOADF32, STOREF32, and the SLEEF function of each name in vecmath.h as
 *   EXPF32, LOGF32, TANHF32, EXPM1F32, LOG1PF32, LOG2F32, SINF32, COSF32, ERFF32
 *   (and the same for F64).
 * Whole vectors go through SLEEF; the tail is padded into one more vector.
 * Accuracy: exp and log use SLEEF's 1-ulp functions; tanh its 3.5-ulp one, because the
 * 1-ulp tanh is compute-bound at a third of memory bandwidth on one core (measured: 19 ms
 * against 6.8 ms for 16M floats with AVX-512), and 3.5 ulp is 2e-7 relative in f32. */
#include <string.h>

#define MAP(name, T, V, W, LOAD, STORE, FN)                         \
    static void name(const T *x, T *z, int64_t n)                   \
    {                                                               \
        int64_t i = 0;                                              \
        for (; i + (W) <= n; i += (W))                              \
            STORE(z + i, FN(LOAD(x + i)));                          \
        if (i < n) {                                                \
            T buf[W];                                               \
            memset(buf, 0, sizeof buf);                             \
            memcpy(buf, x + i, (size_t)(n - i) * sizeof(T));        \
            STORE(buf, FN(LOAD(buf)));                              \
            memcpy(z + i, buf, (size_t)(n - i) * sizeof(T));        \
        }                                                           \
    }

#define MAP_BOTH(name, NAME)                                        \
    MAP(name##_f32, float, VF32, WF32, LOADF32, STOREF32, NAME##F32) \
    MAP(name##_f64, double, VF64, WF64, LOADF64, STOREF64, NAME##F64)

MAP_BOTH(exp, EXP)
MAP_BOTH(log, LOG)
MAP_BOTH(tanh, TANH)
MAP_BOTH(expm1, EXPM1)
MAP_BOTH(log1p, LOG1P)
MAP_BOTH(log2, LOG2)
MAP_BOTH(sin, SIN)
MAP_BOTH(cos, COS)
MAP_BOTH(erf, ERF)

/* sigmoid(x) = 1 / (1 + exp(-x)), in cache-sized blocks: exp(-x) through SLEEF, then a
 * loop the compiler vectorises. exp(-x) = Inf for very negative x gives exactly 0. */
#define SIGMOID(name, T, EXPN)                                      \
    static void name(const T *x, T *z, int64_t n)                   \
    {                                                               \
        enum { BLOCK = 512 };                                       \
        T neg[BLOCK];                                               \
        for (int64_t b = 0; b < n; b += BLOCK) {                    \
            int64_t m = n - b < BLOCK ? n - b : BLOCK;              \
            for (int64_t i = 0; i < m; i++)                         \
                neg[i] = -x[b + i];                                 \
            EXPN(neg, z + b, m);                                    \
            for (int64_t i = 0; i < m; i++)                         \
                z[b + i] = (T)1 / ((T)1 + z[b + i]);                \
        }                                                           \
    }

SIGMOID(sigmoid_f32, float, exp_f32)
SIGMOID(sigmoid_f64, double, exp_f64)

const nbk_vecmath_table TABLE = {
    .isa = ISA_NAME,
#define ENTRY(name) .name##_f32 = name##_f32, .name##_f64 = name##_f64,
    NBK_VECMATH_FUNCTIONS(ENTRY)
#undef ENTRY
};
