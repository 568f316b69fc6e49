/* See kernels.h for why these exist next to XNNPACK. */
#include <math.h>

#include "analysis/nn/kernels.h"

/* Eight floats: one AVX register, two SSE ones; the compiler picks per clone.
 * The unaligned twin reads and writes activations, which are only float
 * aligned at a channel offset. */
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32)));
#define load8(p) (*(const v8u *)(p))

static bool dwconv_supported(const fc_nn_model *m, const fc_nn_op *op)
{
    if (op->group_out != 1) return false;
    const fc_nn_value *x = &m->values[op->in[0]];
    const fc_nn_value *w = &m->values[op->in[1]];
    const fc_nn_value *b = &m->values[op->in[2]];
    if (x->rank != 4 || x->dims[0] != 1 || x->dims[3] < 8 || !w->data || !b->data)
        return false;
    if (op->kernel[0] != 3 || op->kernel[1] != 3 || op->dilation[0] != 1 || op->dilation[1] != 1)
        return false;
    if (op->stride[0] != op->stride[1] || op->stride[0] < 1 || op->stride[0] > 2) return false;
    for (int i = 0; i < 4; i++)
        if (op->pad[i] > 1) return false;
    return true;
}

/* The kernel is compiled twice, for AVX2+FMA (chosen at run time, so the
 * build needs no -march) and for the baseline; MAC(acc, x, k) is acc + x*k,
 * one fused multiply-add where there is one, the rounding XNNPACK's own
 * kernels have on such CPUs. */
#define DWCONV_KERNEL(NAME, ATTR)                                                             \
    ATTR static void NAME(const fc_nn_model *m, const fc_nn_op *op, const float *in,          \
                          float *out)                                                         \
    {                                                                                         \
    const fc_nn_value *x = &m->values[op->in[0]], *y = &m->values[op->out];                   \
    const float *filter = m->values[op->in[1]].data, *bias = m->values[op->in[2]].data;       \
    const long H = (long)x->dims[1], W = (long)x->dims[2], C = (long)x->dims[3];              \
    const long OH = (long)y->dims[1], OW = (long)y->dims[2], s = (long)op->stride[0];         \
    const long pt = (long)op->pad[0], pl = (long)op->pad[3];                                  \
    const v8 lo = {op->out_min, op->out_min, op->out_min, op->out_min,                        \
                   op->out_min, op->out_min, op->out_min, op->out_min};                       \
    const v8 hi = {op->out_max, op->out_max, op->out_max, op->out_max,                        \
                   op->out_max, op->out_max, op->out_max, op->out_max};                       \
    for (long oy = 0; oy < OH; oy++) {                                                        \
        const long iy0 = oy * s - pt;                                                         \
        const bool rows_inside = iy0 >= 0 && iy0 + 3 <= H;                                    \
        for (long cb = 0; cb < C; cb += 8) {                                                  \
            /* A last partial slice is done as the last 8 channels: the  */                   \
            /* overlap is computed twice, to the same values.            */                   \
            const long c = cb + 8 <= C ? cb : C - 8;                                          \
            v8 k[9];                                                                          \
            for (int t = 0; t < 9; t++)                                                       \
                k[t] = load8(filter + t * C + c);                                             \
            const v8 b = load8(bias + c);                                                     \
            const float *r0 = in + (iy0 * W) * C + c;                                         \
            float *dst = out + (oy * OW) * C + c;                                             \
            for (long ox = 0; ox < OW; ox++) {                                                \
                const long ix0 = ox * s - pl;                                                 \
                v8 acc = b;                                                                   \
                if (rows_inside && ix0 >= 0 && ix0 + 3 <= W) {                                \
                    const float *p = r0 + ix0 * C;                                            \
                    acc = MAC(acc, load8(p), k[0]);                                           \
                    acc = MAC(acc, load8(p + C), k[1]);                                       \
                    acc = MAC(acc, load8(p + 2 * C), k[2]);                                   \
                    p += W * C;                                                               \
                    acc = MAC(acc, load8(p), k[3]);                                           \
                    acc = MAC(acc, load8(p + C), k[4]);                                       \
                    acc = MAC(acc, load8(p + 2 * C), k[5]);                                   \
                    p += W * C;                                                               \
                    acc = MAC(acc, load8(p), k[6]);                                           \
                    acc = MAC(acc, load8(p + C), k[7]);                                       \
                    acc = MAC(acc, load8(p + 2 * C), k[8]);                                   \
                } else {                                                                      \
                    for (long ky = 0; ky < 3; ky++) {                                         \
                        const long iy = iy0 + ky;                                             \
                        if (iy < 0 || iy >= H) continue;                                      \
                        for (long kx = 0; kx < 3; kx++) {                                     \
                            const long ix = ix0 + kx;                                         \
                            if (ix < 0 || ix >= W) continue;                                  \
                            acc = MAC(acc, load8(in + (iy * W + ix) * C + c), k[ky * 3 + kx]);\
                        }                                                                     \
                    }                                                                         \
                }                                                                             \
                v8i under = acc < lo, over = acc > hi;                                        \
                acc = (v8)(((v8i)acc & ~under) | ((v8i)lo & under));                          \
                acc = (v8)(((v8i)acc & ~over) | ((v8i)hi & over));                            \
                *(v8u *)(dst + ox * C) = acc;                                                 \
            }                                                                                 \
        }                                                                                     \
    }                                                                                         \
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MAC(acc, x, k) ((v8)_mm256_fmadd_ps((__m256)(x), (__m256)(k), (__m256)(acc)))
DWCONV_KERNEL(dwconv_fma, __attribute__((target("avx2,fma"))))
#undef MAC
#endif
#define MAC(acc, x, k) ((acc) + (x) * (k))
DWCONV_KERNEL(dwconv_base, )
#undef MAC

static void dwconv(const fc_nn_model *m, const fc_nn_op *op, const float *in, float *out)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        dwconv_fma(m, op, in, out);
        return;
    }
#endif
    dwconv_base(m, op, in, out);
}

/* Memory-bound: four-float vectors (baseline SSE) are enough. */
typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4)));
typedef int v4i __attribute__((vector_size(16)));

static inline v4 clamp4(v4 v, v4 lo, v4 hi)
{
    v4i under = v < lo, over = v > hi;
    v = (v4)(((v4i)v & ~under) | ((v4i)lo & under));
    return (v4)(((v4i)v & ~over) | ((v4i)hi & over));
}

static void add_narrow_base(size_t pixels, size_t C, size_t CB, float lo, float hi, const float *a,
                            const float *b, float *out)
{
    const v4 lo4 = {lo, lo, lo, lo}, hi4 = {hi, hi, hi, hi};
    for (size_t p = 0; p < pixels; p++, a += C, b += CB, out += C) {
        size_t c = 0;
        for (; c + 4 <= CB; c += 4)
            *(v4u *)(out + c) = clamp4(*(const v4u *)(a + c) + *(const v4u *)(b + c), lo4, hi4);
        for (; c < CB; c++)
            out[c] = fminf(fmaxf(a[c] + b[c], lo), hi);
        for (; c + 4 <= C; c += 4)
            *(v4u *)(out + c) = clamp4(*(const v4u *)(a + c), lo4, hi4);
        for (; c < C; c++)
            out[c] = fminf(fmaxf(a[c], lo), hi);
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Eight-float vectors and no per-pixel scalar tails: a pixel's channels are
 * covered by whole vectors, the last of each part placed to end at the part's
 * end and so overlapping the one before it. The a-only part [CB, C) is
 * written first, as its last vector may start below CB; the a+b part then
 * overwrites that overlap with the right values. Nothing is read or written
 * outside the tensors. Clamping as max(lo, v) then min(hi, v) gives what
 * clamp4 gives, a NaN included (maxps returns its second operand on NaN). */
__attribute__((target("avx2"))) static void add_narrow_avx2(size_t pixels, size_t C, size_t CB,
                                                            float lo, float hi, const float *a,
                                                            const float *b, float *out)
{
    const __m256 lo8 = _mm256_set1_ps(lo), hi8 = _mm256_set1_ps(hi);
#define CLAMP8(v) _mm256_min_ps(hi8, _mm256_max_ps(lo8, (v)))
    for (size_t p = 0; p < pixels; p++, a += C, b += CB, out += C) {
        for (size_t c = CB; c < C; c += 8) {
            const size_t k = c + 8 <= C ? c : C - 8;
            _mm256_storeu_ps(out + k, CLAMP8(_mm256_loadu_ps(a + k)));
        }
        for (size_t c = 0; c < CB; c += 8) {
            const size_t k = c + 8 <= CB ? c : CB - 8;
            _mm256_storeu_ps(out + k,
                             CLAMP8(_mm256_add_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k))));
        }
    }
#undef CLAMP8
}
#endif

/* out is a + b over b's channels and a alone above them, clamped. out never
 * shares a buffer with a or b (an op's output slot is taken only once its
 * inputs' last reader has run). */
static void add_narrow(const fc_nn_model *m, const fc_nn_op *op, const float *a, const float *b,
                       float *out)
{
    const fc_nn_value *y = &m->values[op->out], *nb = &m->values[op->in[1]];
    const size_t C = y->dims[3], CB = nb->dims[3];
    const size_t pixels = y->dims[0] * y->dims[1] * y->dims[2];
#if defined(__x86_64__) && defined(__GNUC__)
    if (CB >= 8 && C >= 8 && out != a && out != b && __builtin_cpu_supports("avx2")) {
        add_narrow_avx2(pixels, C, CB, op->out_min, op->out_max, a, b, out);
        return;
    }
#endif
    add_narrow_base(pixels, C, CB, op->out_min, op->out_max, a, b, out);
}

bool fc_nn_kernel_supported(const fc_nn_model *m, const fc_nn_op *op)
{
    return op->kind == FC_NN_OP_ADD_NARROW ||
           (op->kind == FC_NN_OP_DWCONV && dwconv_supported(m, op));
}

void fc_nn_kernel_run(const fc_nn_model *m, const fc_nn_op *op, float *const *vbuf)
{
    if (op->kind == FC_NN_OP_ADD_NARROW)
        add_narrow(m, op, vbuf[op->in[0]], vbuf[op->in[1]], vbuf[op->out]);
    else
        dwconv(m, op, vbuf[op->in[0]], vbuf[op->out]);
}
