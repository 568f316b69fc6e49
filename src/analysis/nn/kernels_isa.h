/* What kernels.c hands the per-ISA kernels (kernels_impl.h, compiled once per
 * instruction set by kernels_avx512.c, kernels_avx2.c and kernels_scalar.c):
 * operators with their geometry resolved and their weights packed for that
 * ISA's vector width. Private to src/analysis/nn; built by kernels.c, read
 * only while a kernel runs. */
#ifndef FC_ANALYSIS_NN_KERNELS_ISA_H
#define FC_ANALYSIS_NN_KERNELS_ISA_H

#include <stdbool.h>
#include <stddef.h>

/* A 3x3 depthwise convolution, NHWC, batch 1, multiplier 1, no dilation. */
typedef struct fc_nn_dw {
    long H, W, C, OH, OW, stride, pt, pl;
    const float *filter; /* [9][C]: tap-major, as ONNX's 1HWO re-layout */
    const float *bias;   /* [C] */
    float lo, hi;
} fc_nn_dw;

/* Output channels are covered by vectors of the ISA's width: vector j at
 * channel col[j], the last one moved back to end at the last channel
 * (overlapping its neighbour, which computes the same values) unless there
 * are fewer channels than lanes; then one vector, stored with a mask. A
 * group is up to three vectors computed together; its panel is the bias then
 * the K rows of weights, each nv x V floats, zero past the last channel. */
#define FC_NN_GROUP_MAX 3
typedef struct fc_nn_group {
    int nv;
    long col[FC_NN_GROUP_MAX];
    int nres[FC_NN_GROUP_MAX]; /* lanes of each vector the residual covers: 0..V */
    int nstore;                /* lanes stored: V, or all channels when fewer */
    bool whole;                /* nstore is V, and so is every nres (or there is no residual) */
    const float *panel;        /* (1 + K) x nv x V */
} fc_nn_group;

/* Where rows of A come from: the input itself (1x1), the depthwise stage,
 * im2col patches, or a window read in place where it lies inside the input
 * (dilation 1), im2col at the edges. */
typedef enum { FC_NN_A_DIRECT, FC_NN_A_DW, FC_NN_A_IM2COL, FC_NN_A_WINDOW } fc_nn_a_source;

/* FC_NN_OP_FUSED as a matrix product per chunk of output pixels: rows of A
 * are pixels (the input itself for a 1x1 convolution, the depthwise stage's
 * output, or im2col patches), K their length, N the output channels. */
typedef struct fc_nn_conv {
    fc_nn_a_source src;
    fc_nn_dw dw;                 /* FC_NN_A_DW */
    long H, W, C;                /* the convolution's input */
    long OH, OW, N, K;           /* output; K = kh * kw * C */
    long kh, kw, sh, sw, dy, dx; /* FC_NN_A_IM2COL window: size, stride, dilation */
    long pt, pl;
    long chunk; /* pixels per chunk (whole rows for FC_NN_A_DW) */
    int ngroups;
    fc_nn_group *group;
    bool has_res, res_pool;
    long CR, RW; /* residual channels; its row width before pooling */
    float lo, hi;
} fc_nn_conv;

/* 2x2 stride-2 max pool, NHWC, batch 1. */
typedef struct fc_nn_pool {
    long H, W, C, OH, OW;
    float lo, hi;
} fc_nn_pool;

typedef struct fc_nn_isa_kernels {
    int vec; /* floats per vector */
    /* scratch holds fc_nn_conv_scratch() floats. */
    void (*conv)(const fc_nn_conv *c, const float *in, const float *res, float *out,
                 float *scratch);
    /* Output rows [r0, r1) into out, which points at row r0. */
    void (*dwconv)(const fc_nn_dw *d, const float *in, float *out, long r0, long r1);
    void (*maxpool)(const fc_nn_pool *p, const float *in, float *out);
    /* out = clamp(a + b) over b's CB channels, clamp(a) above them. */
    void (*add_narrow)(size_t pixels, size_t C, size_t CB, float lo, float hi, const float *a,
                       const float *b, float *out);
} fc_nn_isa_kernels;

extern const fc_nn_isa_kernels fc_nn_kernels_scalar;
#if defined(__x86_64__) && defined(__GNUC__)
extern const fc_nn_isa_kernels fc_nn_kernels_avx2, fc_nn_kernels_avx512;
#endif

/* Pixel tile heights of the matrix kernels, by vectors per group (1..3),
 * chosen by bench/detect-ops: AVX-512's 2-vector tile of 12 pixels filled
 * its registers but ran 3-5% slower on the 128 model than 8 pixels. */
static inline int fc_nn_tile_rows(int vec, int nv)
{
    static const int avx512[4] = {0, 16, 8, 8}, narrow[4] = {0, 8, 6, 4};
    return vec == 16 ? avx512[nv] : narrow[nv];
}

#endif
