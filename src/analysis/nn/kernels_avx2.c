/* kernels_impl.h for AVX2 + FMA: 8-float vectors. Compiled for that target
 * whatever the build's -march, and run only where isa.c finds it. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>

/* clang has its own pragma for it (make fuzz builds with clang). */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

typedef __m256 vf;
#define V 8
#define vset1(x) _mm256_set1_ps(x)
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, v) _mm256_storeu_ps(p, v)
#define vfma(a, b, c) _mm256_fmadd_ps(a, b, c)
#define vadd(a, b) _mm256_add_ps(a, b)
#define vmax(a, b) _mm256_max_ps(a, b)
#define vmin(a, b) _mm256_min_ps(a, b)
/* Eight set lanes then eight clear: the mask for n lanes starts at 8 - n. */
static const int32_t lane_masks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
#define lanes(n) _mm256_loadu_si256((const __m256i *)(lane_masks + 8 - (n)))
#define vload_n(p, n) _mm256_maskload_ps(p, lanes(n))
#define vstore_n(p, v, n) _mm256_maskstore_ps(p, lanes(n), v)
#define KERNELS fc_nn_kernels_avx2

#include "analysis/nn/kernels_impl.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
