/* The translated form of a model, shared by the loader (model.c, which builds
 * it from ONNX), the graph rewrites for our kernels (fuse.c) and the sessions
 * (session.c, which run it on kernels.c and XNNPACK). Private to
 * src/analysis/nn.
 *
 * Keeping this plain-data step between ONNX and XNNPACK lets every session
 * build its own runtime from immutable data: XNNPACK's runtime creation
 * rewrites the subgraph it is given, so a shared subgraph could not be used
 * from several threads. */
#ifndef FC_ANALYSIS_NN_IR_H
#define FC_ANALYSIS_NN_IR_H

#include <stdbool.h>

#include "analysis/nn/nn.h"

/* fc_nn_value.flags: the value is a graph input or output, whose buffer the
 * session owns and hands to the caller. */
#define FC_NN_VALUE_INPUT 1u
#define FC_NN_VALUE_OUTPUT 2u

/* No value (fc_nn_op.res when there is no residual). */
#define FC_NN_NO_VALUE UINT32_MAX

/* One tensor. dims are the physical (NHWC for images) dimensions. */
typedef struct fc_nn_value {
    int rank;
    size_t dims[FC_NN_MAX_RANK];
    const float *data; /* static data owned by the model, or NULL */
    uint32_t flags;    /* FC_NN_VALUE_* */
} fc_nn_value;

typedef enum {
    FC_NN_OP_CONV,
    FC_NN_OP_DWCONV,
    FC_NN_OP_ADD,
    FC_NN_OP_MAXPOOL,
    FC_NN_OP_PAD,
    FC_NN_OP_RESHAPE,
    FC_NN_OP_CLAMP,
    /* in[0] + in[1], where in[1] has fewer channels (innermost axis) and the
     * missing ones read as zero: a channel Pad feeding an Add, without the
     * copy. Run by kernels.c, never by XNNPACK. */
    FC_NN_OP_ADD_NARROW,
    /* A convolution with everything around it that can ride in its pass
     * (fuse.c): optionally a 3x3 depthwise convolution first (dw_*; the
     * convolution is then 1x1), then the convolution of in[0] with filter
     * in[1] and bias in[2] (groups 1, any window), then optionally a residual
     * `res` added (it may have fewer channels: the missing ones are zero;
     * res_pool reads it through a 2x2 stride-2 max pool), clamped to
     * [out_min, out_max]. Run by kernels.c, never by XNNPACK. */
    FC_NN_OP_FUSED,
} fc_nn_op_kind;

typedef struct fc_nn_op {
    fc_nn_op_kind kind;
    char *node;     /* ONNX node it came from, for error messages */
    uint32_t in[3]; /* CONV/DWCONV/FUSED: input, filter, bias; ADD, ADD_NARROW: a, b */
    uint32_t out;
    float out_min, out_max;
    uint32_t pad[4]; /* top, right, bottom, left */
    uint32_t kernel[2], stride[2], dilation[2];
    uint32_t groups;
    size_t group_in, group_out; /* DWCONV: group_out is the depth multiplier */
    size_t pre[FC_NN_MAX_RANK], post[FC_NN_MAX_RANK];
    float pad_value;
    int new_rank;
    size_t new_shape[FC_NN_MAX_RANK];
    /* FC_NN_OP_FUSED */
    bool has_dw;
    uint32_t dw_filter, dw_bias, dw_stride, dw_pad[4]; /* dw_pad as pad */
    float dw_min, dw_max;
    uint32_t res; /* FC_NN_NO_VALUE: none */
    bool res_pool;
} fc_nn_op;

/* A graph input or output. value holds its data; when nchw is set the value
 * stores a logical NCHW tensor as NHWC and the session converts on the way
 * out. */
typedef struct fc_nn_io {
    char *name;
    fc_nn_shape shape;
    uint32_t value;
    bool nchw;
} fc_nn_io;

struct fc_nn_model {
    fc_nn_value *values;
    uint32_t nvalues;
    fc_nn_op *ops;
    size_t nops;
    fc_nn_io *inputs, *outputs;
    int ninputs, noutputs;
    float **blobs; /* weight arrays the values point into */
    size_t nblobs;
};

/* The values `op` reads (computed or static) into ids[]; returns how many
 * (at most 6). */
static inline int fc_nn_op_reads(const fc_nn_op *op, uint32_t ids[6])
{
    int n = 0;
    switch (op->kind) {
    case FC_NN_OP_FUSED:
        if (op->has_dw) ids[n++] = op->dw_filter, ids[n++] = op->dw_bias;
        if (op->res != FC_NN_NO_VALUE) ids[n++] = op->res;
        /* fall through */
    case FC_NN_OP_CONV:
    case FC_NN_OP_DWCONV:
        ids[n++] = op->in[2]; /* fall through */
    case FC_NN_OP_ADD:
    case FC_NN_OP_ADD_NARROW:
        ids[n++] = op->in[1]; /* fall through */
    default:
        ids[n++] = op->in[0];
    }
    return n;
}

/* Rewrites the translated graph for our kernels (fuse.c): Relu into its
 * producer, channel padding into the Add it feeds, and convolutions with
 * their depthwise pre-stage and residual Add into FC_NN_OP_FUSED. 0, or
 * -ENOMEM with err set. */
int fc_nn_fuse(fc_nn_model *m, char *err, size_t errlen);

#endif
