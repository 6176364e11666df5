/* SLEEF vector math for AVX2 with FMA (8 floats, 4 doubles per vector). Built with -mavx2 -mfma. */
#include <immintrin.h>
#include <sleef.h>

#include "ops/kernels/vecmath.h"

#define ISA_NAME "avx2"
#define TABLE nbk_vecmath_avx2
#define VF32 __m256
#define WF32 8
#define LOADF32 _mm256_loadu_ps
#define STOREF32 _mm256_storeu_ps
#define EXPF32 Sleef_expf8_u10avx2
#define LOGF32 Sleef_logf8_u10avx2
#define TANHF32 Sleef_tanhf8_u35avx2
#define EXPM1F32 Sleef_expm1f8_u10avx2
#define LOG1PF32 Sleef_log1pf8_u10avx2
#define LOG2F32 Sleef_log2f8_u10avx2
#define SINF32 Sleef_sinf8_u10avx2
#define COSF32 Sleef_cosf8_u10avx2
#define ERFF32 Sleef_erff8_u10avx2
#define VF64 __m256d
#define WF64 4
#define LOADF64 _mm256_loadu_pd
#define STOREF64 _mm256_storeu_pd
#define EXPF64 Sleef_expd4_u10avx2
#define LOGF64 Sleef_logd4_u10avx2
#define TANHF64 Sleef_tanhd4_u35avx2
#define EXPM1F64 Sleef_expm1d4_u10avx2
#define LOG1PF64 Sleef_log1pd4_u10avx2
#define LOG2F64 Sleef_log2d4_u10avx2
#define SINF64 Sleef_sind4_u10avx2
#define COSF64 Sleef_cosd4_u10avx2
#define ERFF64 Sleef_erfd4_u10avx2
#include "ops/kernels/vecmath_template.h"
