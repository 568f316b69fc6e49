/* The translated form of a model, shared by the loader (model.c, which builds
 * it from ONNX) and the sessions (session.c, which turn it into an XNNPACK
 * subgraph and runtime). Private to src/analysis/nn.
 *
 * Keeping this plain-data step between ONNX and XNNPACK lets every session
 * build its own subgraph from immutable data: XNNPACK's runtime creation
 * rewrites the subgraph it is given, so a shared subgraph could not be used
 * from several threads. */
#ifndef FC_ANALYSIS_NN_IR_H
#define FC_ANALYSIS_NN_IR_H

#include <stdbool.h>

#include "analysis/nn/nn.h"

/* One XNNPACK value. dims are the physical (NHWC for images) dimensions. */
typedef struct fc_nn_value {
    int rank;
    size_t dims[FC_NN_MAX_RANK];
    const float *data; /* static data owned by the model, or NULL */
    uint32_t flags;    /* XNN_VALUE_FLAG_EXTERNAL_* */
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
} fc_nn_op_kind;

typedef struct fc_nn_op {
    fc_nn_op_kind kind;
    char *node;     /* ONNX node it came from, for error messages */
    uint32_t in[3]; /* CONV/DWCONV: input, filter, bias; ADD, ADD_NARROW: a, b */
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

/* Initialises XNNPACK once per process; 0 or negative with err set. */
int fc_nn_xnn_init(char *err, size_t errlen);

#endif
