/* kernels_impl.h for AVX-512F: 16-float vectors, masked loads and stores.
 * Compiled for that target whatever the build's -march, and run only where
 * isa.c finds it. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "analysis/nn/kernels_isa.h"

/* clang has its own pragma for it (make fuzz builds with clang). */
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f")
#endif

typedef __m512 vf;
#define V 16
#define vset1(x) _mm512_set1_ps(x)
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, v) _mm512_storeu_ps(p, v)
#define vfma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vadd(a, b) _mm512_add_ps(a, b)
#define vmax(a, b) _mm512_max_ps(a, b)
#define vmin(a, b) _mm512_min_ps(a, b)
#define lanes(n) ((__mmask16)((1u << (n)) - 1))
#define vload_n(p, n) _mm512_maskz_loadu_ps(lanes(n), p)
#define vstore_n(p, v, n) _mm512_mask_storeu_ps(p, lanes(n), v)
#define KERNELS fc_nn_kernels_avx512
#define DWCONV dwconv_any

static void dwconv(const fc_nn_dw *d, const float *in, float *out, long r0, long r1);

/* With a channel count that is not a multiple of 16 (BlazeFace's 24), the
 * depthwise kernel is load-bound on 16-float vectors that straddle cache
 * lines and overlap; the AVX2 kernel's 8-float ones do better, and every
 * AVX-512 CPU has AVX2. */
static void dwconv_any(const fc_nn_dw *d, const float *in, float *out, long r0, long r1)
{
    if (d->C % 16 && d->C % 8 == 0)
        fc_nn_kernels_avx2.dwconv(d, in, out, r0, r1);
    else
        dwconv(d, in, out, r0, r1);
}

#include "analysis/nn/kernels_impl.h"

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
