/* kernels_impl.h in portable C: 4-float GNU C vectors, which the compiler
 * maps to whatever the build's baseline has (SSE2 on x86-64, NEON on arm64),
 * with separate multiplies and adds. The path for CPUs without AVX2 and for
 * FC_NN_ISA=scalar. */
#include <string.h>

typedef float vf __attribute__((vector_size(16)));
typedef int vi __attribute__((vector_size(16)));
#define V 4

static inline vf vset1(float x)
{
    return (vf){x, x, x, x};
}

static inline vf vload(const float *p)
{
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void vstore(float *p, vf v)
{
    memcpy(p, &v, sizeof v);
}

static inline vf vload_n(const float *p, int n)
{
    vf v = vset1(0.0f);
    for (int i = 0; i < n; i++)
        v[i] = p[i];
    return v;
}

static inline void vstore_n(float *p, vf v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = v[i];
}

/* a > b ? a : b lane by lane: b when either is NaN, as maxps. */
static inline vf vmax(vf a, vf b)
{
    vi m = a > b;
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}

static inline vf vmin(vf a, vf b)
{
    vi m = a < b;
    return (vf)(((vi)a & m) | ((vi)b & ~m));
}

#define vfma(a, b, c) ((a) * (b) + (c))
#define vadd(a, b) ((a) + (b))
#define KERNELS fc_nn_kernels_scalar

#include "analysis/nn/kernels_impl.h"
