/* SLEEF vector math for SSE2, which every x86-64 CPU has (4 floats, 2 doubles per vector). */
#include <emmintrin.h>
#include <sleef.h>

#include "ops/kernels/vecmath.h"

#define ISA_NAME "sse2"
#define TABLE nbk_vecmath_sse2
#define VF32 __m128
#define WF32 4
#define LOADF32 _mm_loadu_ps
#define STOREF32 _mm_storeu_ps
#define EXPF32 Sleef_expf4_u10sse2
#define LOGF32 Sleef_logf4_u10sse2
#define TANHF32 Sleef_tanhf4_u35sse2
#define EXPM1F32 Sleef_expm1f4_u10sse2
#define LOG1PF32 Sleef_log1pf4_u10sse2
#define LOG2F32 Sleef_log2f4_u10sse2
#define SINF32 Sleef_sinf4_u10sse2
#define COSF32 Sleef_cosf4_u10sse2
#define ERFF32 Sleef_erff4_u10sse2
#define VF64 __m128d
#define WF64 2
#define LOADF64 _mm_loadu_pd
#define STOREF64 _mm_storeu_pd
#define EXPF64 Sleef_expd2_u10sse2
#define LOGF64 Sleef_logd2_u10sse2
#define TANHF64 Sleef_tanhd2_u35sse2
#define EXPM1F64 Sleef_expm1d2_u10sse2
#define LOG1PF64 Sleef_log1pd2_u10sse2
#define LOG2F64 Sleef_log2d2_u10sse2
#define SINF64 Sleef_sind2_u10sse2
#define COSF64 Sleef_cosd2_u10sse2
#define ERFF64 Sleef_erfd2_u10sse2
#include "ops/kernels/vecmath_template.h"
