/* What the ONNX translation (model.c) shares with its operator rules
 * (model_ops.c): the tensors a translation tracks, its context, and the
 * helpers a rule builds the graph with (translate.c). Private to src/analysis/nn; a
 * translation runs on the thread that called fc_nn_model_load*, and nothing
 * here outlives it but what it adds to the model.
 *
 * Every helper that can fail returns 0 (or a pointer) or a negative errno
 * with the context's message set, naming the node being translated. */
#ifndef FC_ANALYSIS_NN_TRANSLATE_H
#define FC_ANALYSIS_NN_TRANSLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/nn/nn_ir.h"
#include "onnx.pb-c.h"

/* Bounds any one tensor so element counts cannot overflow. */
#define FC_NNT_MAX_ELEMENTS (1u << 28)

typedef enum { T_ACT, T_CONST, T_FILL } tensor_kind;
typedef enum { L_PLAIN, L_NCHW_AS_NHWC } tensor_layout;

typedef struct tensor {
    const char *name; /* borrowed from the protobuf, alive during translation */
    tensor_kind kind;
    tensor_layout layout;
    fc_nn_shape shape;  /* logical */
    uint32_t value;     /* T_ACT */
    const float *f;     /* T_CONST float data */
    const int64_t *i64; /* T_CONST int64 data */
    float fill;         /* T_FILL: ConstantOfShape's value */
} tensor;

typedef struct ctx {
    fc_nn_model *m;
    const char *label;
    const Onnx__NodeProto *node; /* node being translated, for messages */
    tensor *t;
    size_t nt, capt;
    size_t capv, capo;
    void **tmp; /* converted initializers, freed after translation */
    size_t ntmp, captmp;
    char *err;
    size_t errlen;
    const fc_nn_shape *resize; /* input 0's shape when run at another size, else NULL */
} ctx;

/* One supported ONNX operator: reads c->node, adds ops and output tensors. */
typedef struct fc_nnt_rule {
    const char *name;
    int (*translate)(ctx *c);
} fc_nnt_rule;

extern const fc_nnt_rule fc_nnt_rules[];
extern const size_t fc_nnt_rule_count;

int fc_nnt_fail(ctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int fc_nnt_check_shape(ctx *c, const char *what, const fc_nn_shape *s);
tensor *fc_nnt_find(ctx *c, const char *name);
tensor *fc_nnt_add_tensor(ctx *c, const char *name);
/* A new XNNPACK value of `dims` (physical), holding `data` when constant. */
int fc_nnt_new_value(ctx *c, int rank, const size_t *dims, const float *data, uint32_t *id);
fc_nn_op *fc_nnt_new_op(ctx *c, fc_nn_op_kind kind);
/* A scratch allocation freed when the translation ends. */
void *fc_nnt_keep_tmp(ctx *c, size_t bytes);
/* The dimensions a tensor's bytes have in memory. */
void fc_nnt_physical_dims(const tensor *t, size_t *dims);
/* A weight array the model owns (freed with it). */
float *fc_nnt_new_blob(ctx *c, size_t n);
/* Gives `t` a real XNNPACK value in its logical layout (a reshape when it
 * was an alias). */
int fc_nnt_materialize(ctx *c, tensor *t);
const Onnx__AttributeProto *fc_nnt_attr(const Onnx__NodeProto *n, const char *name);
int fc_nnt_attr_int(ctx *c, const char *name, int64_t def, int64_t *out);
int fc_nnt_attr_ints(ctx *c, const char *name, size_t n, int64_t def, int64_t *out);
const char *fc_nnt_attr_str(const Onnx__NodeProto *n, const char *name, char *buf, size_t len);
/* Input i of the node: any tensor, an activation, or a constant. */
int fc_nnt_input(ctx *c, size_t i, tensor **out);
int fc_nnt_act_input(ctx *c, size_t i, tensor **out);
int fc_nnt_const_input(ctx *c, size_t i, bool want_float, tensor **out);
/* The node's output: a new activation, or another name for `src`'s bytes. */
int fc_nnt_act_output(ctx *c, const fc_nn_shape *shape, tensor_layout layout, tensor **out);
int fc_nnt_alias_output(ctx *c, const tensor *src, const fc_nn_shape *shape, tensor_layout layout);

#endif
