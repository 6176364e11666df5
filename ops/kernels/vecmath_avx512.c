/* SLEEF vector math for AVX-512F (16 floats, 8 doubles per vector). Built with -mavx512f. */
#include <immintrin.h>
#include <sleef.h>

#include "ops/kernels/vecmath.h"

#define ISA_NAME "avx512"
#define TABLE nbk_vecmath_avx512
#define VF32 __m512
#define WF32 16
#define LOADF32 _mm512_loadu_ps
#define STOREF32 _mm512_storeu_ps
#define EXPF32 Sleef_expf16_u10avx512f
#define LOGF32 Sleef_logf16_u10avx512f
#define TANHF32 Sleef_tanhf16_u35avx512f
#define EXPM1F32 Sleef_expm1f16_u10avx512f
#define LOG1PF32 Sleef_log1pf16_u10avx512f
#define LOG2F32 Sleef_log2f16_u10avx512f
#define SINF32 Sleef_sinf16_u10avx512f
#define COSF32 Sleef_cosf16_u10avx512f
#define ERFF32 Sleef_erff16_u10avx512f
#define VF64 __m512d
#define WF64 8
#define LOADF64 _mm512_loadu_pd
#define STOREF64 _mm512_storeu_pd
#define EXPF64 Sleef_expd8_u10avx512f
#define LOGF64 Sleef_logd8_u10avx512f
#define TANHF64 Sleef_tanhd8_u35avx512f
#define EXPM1F64 Sleef_expm1d8_u10avx512f
#define LOG1PF64 Sleef_log1pd8_u10avx512f
#define LOG2F64 Sleef_log2d8_u10avx512f
#define SINF64 Sleef_sind8_u10avx512f
#define COSF64 Sleef_cosd8_u10avx512f
#define ERFF64 Sleef_erfd8_u10avx512f
#include "ops/kernels/vecmath_template.h"
