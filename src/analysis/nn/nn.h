/* ONNX models on our own kernels and XNNPACK.
 *
 * A model is parsed and translated once (fc_nn_model_load): the ONNX graph is
 * checked op by op, weights are re-laid out from ONNX's NCHW/OIHW to
 * NHWC/OHWI, layout-only Transpose/Reshape nodes become views that cost
 * nothing at run time, and each convolution is fused with the ops around it
 * that can ride in its pass. Unsupported ops fail here, naming the op and
 * the node. The model is immutable afterwards and may be shared by any number
 * of threads.
 *
 * A session is the workspace of one inference at a time: our kernels
 * (kernels.h) with their packed weights for the operators they cover, XNNPACK
 * runtimes for the rest, and the tensors between them. Sessions run on the
 * calling thread only (no thread pool); give each concurrent caller its own
 * session. The model must outlive every session made from it.
 *
 * Tensors are float32, row-major in the model's own (logical) dimension order,
 * whatever layout the kernels use internally. */
#ifndef FC_ANALYSIS_NN_H
#define FC_ANALYSIS_NN_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/nn/isa.h"

#define FC_NN_MAX_RANK 6

typedef struct fc_nn_model fc_nn_model;
typedef struct fc_nn_session fc_nn_session;

typedef struct fc_nn_shape {
    int rank;
    int64_t dims[FC_NN_MAX_RANK];
} fc_nn_shape;

/* Loads the ONNX file at `path`. On failure returns a negative code and writes
 * what failed into err. */
int fc_nn_model_load(const char *path, fc_nn_model **out, char *err, size_t errlen);
/* The file's bytes, for loading more than once (fc_nn_model_load_resized);
 * the caller frees *data. Refuses files larger than any model this loads. */
int fc_nn_model_read(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen);
/* Same from memory; `label` names the model in error messages. The bytes are
 * not kept. */
int fc_nn_model_load_buffer(const void *data, size_t len, const char *label, fc_nn_model **out,
                            char *err, size_t errlen);
/* Same for a fully convolutional model run at another input size: input 0
 * takes the shape `input` (same rank and batch; the graph decides whether the
 * rest fits) and sizes follow through the graph. A Reshape to a constant
 * shape written for the declared size keeps its other dimensions and lets the
 * largest one follow, so [1,384,16] (anchors x values) becomes [1,240,16] for
 * a smaller input; a ConstantOfShape fill padding a Concat takes the other
 * input's size outside the concat axis. Declared output shapes are not
 * checked. input NULL: as
 * fc_nn_model_load_buffer. */
int fc_nn_model_load_resized(const void *data, size_t len, const char *label,
                             const fc_nn_shape *input, fc_nn_model **out, char *err, size_t errlen);
void fc_nn_model_free(fc_nn_model *m);

/* Graph inputs and outputs, in the model's order. Index lookups by name return
 * the index, or -ENOENT when the model has no such input or output. */
int fc_nn_model_input_count(const fc_nn_model *m);
int fc_nn_model_output_count(const fc_nn_model *m);
int fc_nn_model_find_input(const fc_nn_model *m, const char *name);
int fc_nn_model_find_output(const fc_nn_model *m, const char *name);
void fc_nn_model_input_shape(const fc_nn_model *m, int index, fc_nn_shape *shape);
void fc_nn_model_output_shape(const fc_nn_model *m, int index, fc_nn_shape *shape);
size_t fc_nn_shape_elements(const fc_nn_shape *s);
/* Formats "[1,128,128,3]" into buf; returns buf. */
const char *fc_nn_shape_str(const fc_nn_shape *s, char *buf, size_t len);

/* A runtime for one inference at a time, on our kernels for the instruction
 * set isa.h picks (FC_NN_ISA from the environment, else the best this CPU
 * has) and XNNPACK for what they do not cover. A bad FC_NN_ISA fails here
 * with a message naming it. */
int fc_nn_session_new(const fc_nn_model *m, fc_nn_session **out, char *err, size_t errlen);
/* Same with our kernels forced to `isa`; one this CPU lacks is refused
 * (-ENOTSUP). */
int fc_nn_session_new_isa(const fc_nn_model *m, fc_nn_isa isa, fc_nn_session **out, char *err,
                          size_t errlen);
void fc_nn_session_free(fc_nn_session *s);
/* The buffer to write input `index` into before fc_nn_session_run; it holds
 * fc_nn_shape_elements(shape) floats and stays valid for the session. */
float *fc_nn_session_input(fc_nn_session *s, int index);
int fc_nn_session_run(fc_nn_session *s, char *err, size_t errlen);
/* What one run costs op by op, for profiling (bench/detect-ops): runs the
 * model once like fc_nn_session_run, timing each segment (one op of ours, or
 * a run of ops on XNNPACK) in thread CPU time. Fills up to `cap` entries in
 * op order and returns how many segments there are, or a negative code with
 * err set. The strings live as long as the session. */
typedef struct fc_nn_op_cost {
    const char *node; /* the ONNX node of its (first) op */
    const char *what; /* e.g. "dw3x3 + conv1x1 + add  64x64x24 -> 64x64x28" */
    double macs;      /* multiply-adds */
    double seconds;
} fc_nn_op_cost;
int fc_nn_session_profile(fc_nn_session *s, fc_nn_op_cost *costs, int cap, char *err,
                          size_t errlen);
/* Output `index` of the last run; valid until the next run. */
const float *fc_nn_session_output(fc_nn_session *s, int index);

#endif
