/* ONNX -> translated graph (nn_ir.h).
 *
 * Layouts: ONNX image tensors are NCHW, XNNPACK's are NHWC. Every activation
 * tensor is tracked with its logical (ONNX) shape plus how its bytes are laid
 * out: PLAIN (row-major in logical order) or NCHW_AS_NHWC (a logical NCHW
 * tensor stored as NHWC). A Transpose that only converts between the two, and
 * a Reshape of a PLAIN tensor, then change bookkeeping, not bytes: the result
 * names the same XNNPACK value. A real XNNPACK reshape is emitted only when a
 * later op needs the value with other dimensions (materialize()).
 *
 * Weights are converted once here (OIHW -> OHWI, or -> 1HWO for depthwise)
 * into arrays the model owns. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/nn_ir.h"
#include "onnx.pb-c.h"

/* Bigger files are not BlazeFace-sized models; refuse rather than read them. */
#define MAX_MODEL_BYTES (256u << 20)
/* Bounds any one tensor so element counts cannot overflow. */
#define MAX_ELEMENTS (1u << 28)

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

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static int fail(ctx *c, int code, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->node)
        snprintf(c->err, c->errlen, "%s: node '%s' (%s): %s", c->label, str_or_empty(c->node->name),
                 str_or_empty(c->node->op_type), msg);
    else
        snprintf(c->err, c->errlen, "%s: %s", c->label, msg);
    return code;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

static void *keep_tmp(ctx *c, size_t bytes)
{
    if (grow((void **)&c->tmp, &c->captmp, c->ntmp + 1, sizeof *c->tmp) < 0) return NULL;
    void *p = malloc(bytes ? bytes : 1);
    if (p) c->tmp[c->ntmp++] = p;
    return p;
}

static float *new_blob(ctx *c, size_t n)
{
    fc_nn_model *m = c->m;
    float **b = realloc(m->blobs, (m->nblobs + 1) * sizeof *b);
    if (!b) return NULL;
    m->blobs = b;
    float *p = calloc(n ? n : 1, sizeof *p);
    if (p) m->blobs[m->nblobs++] = p;
    return p;
}

size_t fc_nn_shape_elements(const fc_nn_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= (size_t)s->dims[i];
    return n;
}

const char *fc_nn_shape_str(const fc_nn_shape *s, char *buf, size_t len)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < s->rank && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)s->dims[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

/* Every dimension positive and the total bounded. */
static int check_shape(ctx *c, const char *what, const fc_nn_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dims[i] < 1 || (uint64_t)s->dims[i] > MAX_ELEMENTS ||
            n * (size_t)s->dims[i] > MAX_ELEMENTS)
            return fail(c, -EINVAL, "%s has an invalid or too large shape", what);
        n *= (size_t)s->dims[i];
    }
    return 0;
}

/* Linear search: BlazeFace-sized graphs have a few hundred names and this runs
 * once per load. */
static tensor *find(ctx *c, const char *name)
{
    for (size_t i = c->nt; i-- > 0;)
        if (strcmp(c->t[i].name, name) == 0) return &c->t[i];
    return NULL;
}

static tensor *add_tensor(ctx *c, const char *name)
{
    if (grow((void **)&c->t, &c->capt, c->nt + 1, sizeof *c->t) < 0) return NULL;
    tensor *t = &c->t[c->nt++];
    memset(t, 0, sizeof *t);
    t->name = name;
    return t;
}

static int new_value(ctx *c, int rank, const size_t *dims, const float *data, uint32_t *id)
{
    fc_nn_model *m = c->m;
    if (grow((void **)&m->values, &c->capv, m->nvalues + 1, sizeof *m->values) < 0)
        return fail(c, -ENOMEM, "out of memory");
    fc_nn_value *v = &m->values[m->nvalues];
    memset(v, 0, sizeof *v);
    v->rank = rank;
    memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
    v->data = data;
    *id = m->nvalues++;
    return 0;
}

static fc_nn_op *new_op(ctx *c, fc_nn_op_kind kind)
{
    fc_nn_model *m = c->m;
    if (grow((void **)&m->ops, &c->capo, m->nops + 1, sizeof *m->ops) < 0) return NULL;
    fc_nn_op *op = &m->ops[m->nops];
    memset(op, 0, sizeof *op);
    op->node = strdup(str_or_empty(c->node ? c->node->name : NULL));
    if (!op->node) return NULL;
    m->nops++;
    op->kind = kind;
    op->out_min = -INFINITY;
    op->out_max = INFINITY;
    return op;
}

/* The dimensions a tensor's bytes have in memory. */
static void physical_dims(const tensor *t, size_t *dims)
{
    const int64_t *d = t->shape.dims;
    if (t->layout == L_NCHW_AS_NHWC) {
        dims[0] = (size_t)d[0], dims[1] = (size_t)d[2], dims[2] = (size_t)d[3];
        dims[3] = (size_t)d[1];
        return;
    }
    for (int i = 0; i < t->shape.rank; i++)
        dims[i] = (size_t)d[i];
}

/* Makes the tensor's XNNPACK value carry its physical dimensions, adding a
 * reshape when the tensor is a view with other dimensions. */
static int materialize(ctx *c, tensor *t)
{
    size_t dims[FC_NN_MAX_RANK];
    physical_dims(t, dims);
    const fc_nn_value *v = &c->m->values[t->value];
    if (v->rank == t->shape.rank && memcmp(v->dims, dims, (size_t)v->rank * sizeof *dims) == 0)
        return 0;
    uint32_t id;
    int rc = new_value(c, t->shape.rank, dims, NULL, &id);
    if (rc < 0) return rc;
    fc_nn_op *op = new_op(c, FC_NN_OP_RESHAPE);
    if (!op) return fail(c, -ENOMEM, "out of memory");
    op->in[0] = t->value;
    op->out = id;
    op->new_rank = t->shape.rank;
    memcpy(op->new_shape, dims, sizeof dims);
    t->value = id;
    return 0;
}

/* ---- attributes ---- */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && strcmp(str_or_empty(n->attribute[i]->name), name) == 0)
            return n->attribute[i];
    return NULL;
}

static int attr_int(ctx *c, const char *name, int64_t def, int64_t *out)
{
    const Onnx__AttributeProto *a = attr(c->node, name);
    if (!a) {
        *out = def;
        return 0;
    }
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return fail(c, -EINVAL, "attribute %s is not an int", name);
    *out = a->i;
    return 0;
}

/* Fills `n` ints from attribute `name`, or `def` when absent. */
static int attr_ints(ctx *c, const char *name, size_t n, int64_t def, int64_t *out)
{
    const Onnx__AttributeProto *a = attr(c->node, name);
    if (!a) {
        for (size_t i = 0; i < n; i++)
            out[i] = def;
        return 0;
    }
    if (a->n_ints != n)
        return fail(c, -EINVAL, "attribute %s has %zu values, expected %zu", name, a->n_ints, n);
    memcpy(out, a->ints, n * sizeof *out);
    return 0;
}

static const char *attr_str(const Onnx__NodeProto *n, const char *name, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a || a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING) return NULL;
    snprintf(buf, len, "%.*s", (int)a->s.len, a->s.data ? (const char *)a->s.data : "");
    return buf;
}

/* ---- inputs of a node ---- */

static int input(ctx *c, size_t i, tensor **out)
{
    const Onnx__NodeProto *n = c->node;
    if (i >= n->n_input || !n->input[i] || !n->input[i][0])
        return fail(c, -EINVAL, "missing input %zu", i);
    tensor *t = find(c, n->input[i]);
    if (!t) return fail(c, -EINVAL, "input '%s' is not produced by any earlier node", n->input[i]);
    *out = t;
    return 0;
}

static int act_input(ctx *c, size_t i, tensor **out)
{
    int rc = input(c, i, out);
    if (rc < 0) return rc;
    if ((*out)->kind == T_FILL)
        return fail(c, -ENOTSUP, "input '%s' comes from ConstantOfShape, which only Concat may use",
                    (*out)->name);
    if ((*out)->kind != T_ACT)
        return fail(c, -ENOTSUP, "constant input '%s' is not supported here", (*out)->name);
    return 0;
}

static int const_input(ctx *c, size_t i, bool want_float, tensor **out)
{
    int rc = input(c, i, out);
    if (rc < 0) return rc;
    if ((*out)->kind != T_CONST || (want_float ? !(*out)->f : !(*out)->i64))
        return fail(c, -ENOTSUP, "input '%s' must be a constant %s tensor", (*out)->name,
                    want_float ? "float" : "int64");
    return 0;
}

/* Registers node output 0 as a new activation with the given logical shape
 * and layout, backed by a new XNNPACK value. */
static int act_output(ctx *c, const fc_nn_shape *shape, tensor_layout layout, tensor **out)
{
    const Onnx__NodeProto *n = c->node;
    if (n->n_output < 1 || !n->output[0] || !n->output[0][0])
        return fail(c, -EINVAL, "node has no output");
    if (find(c, n->output[0]))
        return fail(c, -EINVAL, "output '%s' is produced twice", n->output[0]);
    int rc = check_shape(c, "output", shape);
    if (rc < 0) return rc;
    tensor *t = add_tensor(c, n->output[0]);
    if (!t) return fail(c, -ENOMEM, "out of memory");
    t->kind = T_ACT;
    t->layout = layout;
    t->shape = *shape;
    size_t dims[FC_NN_MAX_RANK];
    physical_dims(t, dims);
    rc = new_value(c, shape->rank, dims, NULL, &t->value);
    if (rc < 0) return rc;
    *out = t;
    return 0;
}

/* Registers node output 0 as another view of `src` (same value). */
static int alias_output(ctx *c, const tensor *src, const fc_nn_shape *shape, tensor_layout layout)
{
    const Onnx__NodeProto *n = c->node;
    if (n->n_output < 1 || !n->output[0] || !n->output[0][0])
        return fail(c, -EINVAL, "node has no output");
    if (find(c, n->output[0]))
        return fail(c, -EINVAL, "output '%s' is produced twice", n->output[0]);
    tensor copy = *src;
    tensor *t = add_tensor(c, n->output[0]);
    if (!t) return fail(c, -ENOMEM, "out of memory");
    *t = copy;
    t->name = n->output[0];
    t->shape = *shape;
    t->layout = layout;
    return 0;
}

/* ---- spatial attributes shared by Conv and MaxPool ---- */

typedef struct window {
    int64_t k[2], s[2], d[2], pads[4]; /* pads: ONNX order top, left, bottom, right */
    int64_t out[2];
} window;

static int window_attrs(ctx *c, const tensor *x, window *w)
{
    int rc;
    if ((rc = attr_ints(c, "strides", 2, 1, w->s)) < 0 ||
        (rc = attr_ints(c, "dilations", 2, 1, w->d)) < 0 ||
        (rc = attr_ints(c, "pads", 4, 0, w->pads)) < 0)
        return rc;
    for (int i = 0; i < 2; i++)
        if (w->s[i] < 1 || w->s[i] > 64 || w->d[i] < 1 || w->d[i] > 64 || w->k[i] < 1 ||
            w->k[i] > 64)
            return fail(c, -EINVAL, "kernel, stride or dilation out of range");
    for (int i = 0; i < 4; i++)
        if (w->pads[i] < 0 || w->pads[i] > 64) return fail(c, -EINVAL, "pads out of range");
    char ap[32];
    const char *autopad = attr_str(c->node, "auto_pad", ap, sizeof ap);
    for (int i = 0; i < 2; i++) {
        int64_t in = x->shape.dims[2 + i], eff = (w->k[i] - 1) * w->d[i] + 1;
        if (autopad && (!strcmp(autopad, "SAME_UPPER") || !strcmp(autopad, "SAME_LOWER"))) {
            int64_t o = (in + w->s[i] - 1) / w->s[i];
            int64_t total = (o - 1) * w->s[i] + eff - in;
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - small;
            bool upper = !strcmp(autopad, "SAME_UPPER");
            w->pads[i] = upper ? small : big;
            w->pads[i + 2] = upper ? big : small;
        } else if (autopad && !strcmp(autopad, "VALID")) {
            w->pads[i] = w->pads[i + 2] = 0;
        } else if (autopad && strcmp(autopad, "NOTSET") != 0) {
            return fail(c, -ENOTSUP, "auto_pad %s is not supported", autopad);
        }
        int64_t span = in + w->pads[i] + w->pads[i + 2] - eff;
        if (span < 0) return fail(c, -EINVAL, "kernel larger than the padded input");
        w->out[i] = span / w->s[i] + 1;
    }
    return 0;
}

static void window_to_op(const window *w, fc_nn_op *op)
{
    op->pad[0] = (uint32_t)w->pads[0]; /* top */
    op->pad[1] = (uint32_t)w->pads[3]; /* right */
    op->pad[2] = (uint32_t)w->pads[2]; /* bottom */
    op->pad[3] = (uint32_t)w->pads[1]; /* left */
    for (int i = 0; i < 2; i++) {
        op->kernel[i] = (uint32_t)w->k[i];
        op->stride[i] = (uint32_t)w->s[i];
        op->dilation[i] = (uint32_t)w->d[i];
    }
}

static int image_input(ctx *c, tensor **x)
{
    int rc = act_input(c, 0, x);
    if (rc < 0) return rc;
    if ((*x)->shape.rank != 4) return fail(c, -ENOTSUP, "input '%s' is not 4-D", (*x)->name);
    if ((*x)->layout != L_NCHW_AS_NHWC)
        return fail(c, -ENOTSUP,
                    "input '%s' is NCHW in memory; only NCHW tensors made by transposing an NHWC "
                    "tensor are supported (this XNNPACK has no transpose)",
                    (*x)->name);
    return materialize(c, *x);
}

/* ---- ops ---- */

static int tr_conv(ctx *c)
{
    tensor *x, *w, *b = NULL;
    int rc;
    if ((rc = image_input(c, &x)) < 0 || (rc = const_input(c, 1, true, &w)) < 0) return rc;
    if (c->node->n_input > 2 && c->node->input[2] && c->node->input[2][0] &&
        (rc = const_input(c, 2, true, &b)) < 0)
        return rc;
    if (w->shape.rank != 4) return fail(c, -ENOTSUP, "weight '%s' is not 4-D", w->name);
    int64_t group, ks[2];
    if ((rc = attr_int(c, "group", 1, &group)) < 0) return rc;
    int64_t C = x->shape.dims[1], M = w->shape.dims[0], cpg = w->shape.dims[1];
    int64_t kh = w->shape.dims[2], kw = w->shape.dims[3];
    if (group < 1 || C % group != 0 || C / group != cpg || M % group != 0)
        return fail(c, -EINVAL, "group %lld does not fit %lld input and %lld output channels",
                    (long long)group, (long long)C, (long long)M);
    if ((rc = attr_ints(c, "kernel_shape", 2, 0, ks)) < 0) return rc;
    if ((ks[0] || ks[1]) && (ks[0] != kh || ks[1] != kw))
        return fail(c, -EINVAL, "kernel_shape does not match the weights");
    if (b && (b->shape.rank != 1 || b->shape.dims[0] != M))
        return fail(c, -EINVAL, "bias '%s' does not have %lld elements", b->name, (long long)M);
    window win = {.k = {kh, kw}};
    if ((rc = window_attrs(c, x, &win)) < 0) return rc;

    /* Depthwise when every group is one input channel; XNNPACK has a faster
     * kernel for that and wants the filter as [1, kh, kw, M]. */
    bool dw = group > 1 && cpg == 1;
    size_t n = (size_t)(M * cpg * kh * kw);
    float *f = new_blob(c, n), *bias = new_blob(c, (size_t)M);
    if (!f || !bias) return fail(c, -ENOMEM, "out of memory");
    for (int64_t o = 0; o < M; o++)
        for (int64_t i = 0; i < cpg; i++)
            for (int64_t y = 0; y < kh; y++)
                for (int64_t xx = 0; xx < kw; xx++) {
                    float v = w->f[((o * cpg + i) * kh + y) * kw + xx];
                    if (dw)
                        f[(y * kw + xx) * M + o] = v;
                    else
                        f[((o * kh + y) * kw + xx) * cpg + i] = v;
                }
    if (b) memcpy(bias, b->f, (size_t)M * sizeof *bias);

    uint32_t fid, bid;
    size_t fdims[4] = {dw ? 1 : (size_t)M, (size_t)kh, (size_t)kw, dw ? (size_t)M : (size_t)cpg};
    size_t bdims[1] = {(size_t)M};
    if ((rc = new_value(c, 4, fdims, f, &fid)) < 0 || (rc = new_value(c, 1, bdims, bias, &bid)) < 0)
        return rc;
    fc_nn_shape os = {4, {x->shape.dims[0], M, win.out[0], win.out[1]}};
    uint32_t xin = x->value;
    tensor *y;
    if ((rc = act_output(c, &os, L_NCHW_AS_NHWC, &y)) < 0) return rc;
    fc_nn_op *op = new_op(c, dw ? FC_NN_OP_DWCONV : FC_NN_OP_CONV);
    if (!op) return fail(c, -ENOMEM, "out of memory");
    window_to_op(&win, op);
    op->in[0] = xin, op->in[1] = fid, op->in[2] = bid, op->out = y->value;
    op->groups = (uint32_t)group;
    op->group_in = (size_t)cpg;
    op->group_out = (size_t)(M / group);
    return 0;
}

static int tr_maxpool(ctx *c)
{
    tensor *x;
    int rc;
    if ((rc = image_input(c, &x)) < 0) return rc;
    int64_t ceil_mode, order;
    window win;
    if ((rc = attr_int(c, "ceil_mode", 0, &ceil_mode)) < 0 ||
        (rc = attr_int(c, "storage_order", 0, &order)) < 0 ||
        (rc = attr_ints(c, "kernel_shape", 2, 0, win.k)) < 0)
        return rc;
    if (ceil_mode || order) return fail(c, -ENOTSUP, "ceil_mode and storage_order must be 0");
    if (c->node->n_output > 1) return fail(c, -ENOTSUP, "the Indices output is not supported");
    if ((rc = window_attrs(c, x, &win)) < 0) return rc;
    if (win.k[0] * win.k[1] < 2) return fail(c, -ENOTSUP, "a 1x1 pool is not supported");
    fc_nn_shape os = {4, {x->shape.dims[0], x->shape.dims[1], win.out[0], win.out[1]}};
    uint32_t xin = x->value;
    tensor *y;
    if ((rc = act_output(c, &os, L_NCHW_AS_NHWC, &y)) < 0) return rc;
    fc_nn_op *op = new_op(c, FC_NN_OP_MAXPOOL);
    if (!op) return fail(c, -ENOMEM, "out of memory");
    window_to_op(&win, op);
    op->in[0] = xin, op->out = y->value;
    return 0;
}

static int tr_relu(ctx *c)
{
    tensor *x, *y;
    int rc;
    if ((rc = act_input(c, 0, &x)) < 0 || (rc = materialize(c, x)) < 0) return rc;
    uint32_t xin = x->value;
    fc_nn_shape s = x->shape;
    if ((rc = act_output(c, &s, x->layout, &y)) < 0) return rc;
    fc_nn_op *op = new_op(c, FC_NN_OP_CLAMP);
    if (!op) return fail(c, -ENOMEM, "out of memory");
    op->in[0] = xin, op->out = y->value;
    op->out_min = 0.0f;
    return 0;
}

static int tr_add(ctx *c)
{
    tensor *a, *b, *y;
    int rc;
    if ((rc = act_input(c, 0, &a)) < 0 || (rc = act_input(c, 1, &b)) < 0) return rc;
    char sa[96], sb[96];
    if (a->layout != b->layout || a->shape.rank != b->shape.rank)
        return fail(c, -ENOTSUP, "inputs %s and %s differ in rank or memory layout",
                    fc_nn_shape_str(&a->shape, sa, sizeof sa),
                    fc_nn_shape_str(&b->shape, sb, sizeof sb));
    fc_nn_shape s = a->shape;
    for (int i = 0; i < s.rank; i++) {
        int64_t da = a->shape.dims[i], db = b->shape.dims[i];
        if (da != db && da != 1 && db != 1)
            return fail(c, -EINVAL, "shapes %s and %s do not broadcast",
                        fc_nn_shape_str(&a->shape, sa, sizeof sa),
                        fc_nn_shape_str(&b->shape, sb, sizeof sb));
        s.dims[i] = da > db ? da : db;
    }
    if ((rc = materialize(c, a)) < 0 || (rc = materialize(c, b)) < 0) return rc;
    uint32_t ia = a->value, ib = b->value;
    tensor_layout layout = a->layout;
    if ((rc = act_output(c, &s, layout, &y)) < 0) return rc;
    fc_nn_op *op = new_op(c, FC_NN_OP_ADD);
    if (!op) return fail(c, -ENOMEM, "out of memory");
    op->in[0] = ia, op->in[1] = ib, op->out = y->value;
    return 0;
}

/* Maps a logical axis to where it lives in memory. */
static int physical_axis(const tensor *t, int axis)
{
    static const int nchw_to_nhwc[4] = {0, 3, 1, 2};
    return t->layout == L_NCHW_AS_NHWC ? nchw_to_nhwc[axis] : axis;
}

static int emit_pad(ctx *c, tensor *x, const int64_t *pre, const int64_t *post, float value)
{
    int rc;
    if ((rc = materialize(c, x)) < 0) return rc;
    fc_nn_shape s = x->shape;
    for (int i = 0; i < s.rank; i++)
        s.dims[i] += pre[i] + post[i];
    uint32_t xin = x->value;
    tensor_layout layout = x->layout;
    int rank = x->shape.rank;
    tensor *y;
    if ((rc = act_output(c, &s, layout, &y)) < 0) return rc;
    fc_nn_op *op = new_op(c, FC_NN_OP_PAD);
    if (!op) return fail(c, -ENOMEM, "out of memory");
    op->in[0] = xin, op->out = y->value;
    op->pad_value = value;
    for (int i = 0; i < rank; i++) {
        int p = physical_axis(y, i);
        op->pre[p] = (size_t)pre[i];
        op->post[p] = (size_t)post[i];
    }
    return 0;
}

static int tr_constant_of_shape(ctx *c)
{
    tensor *s;
    int rc;
    if ((rc = const_input(c, 0, false, &s)) < 0) return rc;
    if (s->shape.rank != 1 || s->shape.dims[0] > FC_NN_MAX_RANK)
        return fail(c, -ENOTSUP, "shape input '%s' must list at most %d dimensions", s->name,
                    FC_NN_MAX_RANK);
    fc_nn_shape shape = {(int)s->shape.dims[0], {0}};
    memcpy(shape.dims, s->i64, (size_t)shape.rank * sizeof *shape.dims);
    if ((rc = check_shape(c, "output", &shape)) < 0) return rc;
    float fill = 0.0f;
    const Onnx__AttributeProto *a = attr(c->node, "value");
    if (a) {
        const Onnx__TensorProto *t = a->t;
        if (!t || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return fail(c, -ENOTSUP, "value must be a float tensor");
        if (t->n_float_data == 1)
            fill = t->float_data[0];
        else if (t->raw_data.len == 4)
            memcpy(&fill, t->raw_data.data, 4);
        else
            return fail(c, -EINVAL, "value must hold one float");
    }
    const Onnx__NodeProto *n = c->node;
    if (n->n_output < 1 || !n->output[0] || find(c, n->output[0]))
        return fail(c, -EINVAL, "missing or duplicate output");
    tensor *t = add_tensor(c, n->output[0]);
    if (!t) return fail(c, -ENOMEM, "out of memory");
    t->kind = T_FILL;
    t->shape = shape;
    t->fill = fill;
    return 0;
}

/* Concat of one activation with ConstantOfShape fills is padding; that is how
 * TensorFlow converters express channel padding, and it is all XNNPACK
 * (which has no concatenate here) can do. */
static int tr_concat(ctx *c)
{
    int64_t axis;
    int rc;
    if ((rc = attr_int(c, "axis", 0, &axis)) < 0) return rc;
    tensor *x = NULL;
    int64_t pre[FC_NN_MAX_RANK] = {0}, post[FC_NN_MAX_RANK] = {0};
    bool have_fill = false;
    float fill = 0.0f;
    for (size_t i = 0; i < c->node->n_input; i++) {
        tensor *t;
        if ((rc = input(c, i, &t)) < 0) return rc;
        if (t->kind == T_CONST)
            return fail(c, -ENOTSUP, "constant input '%s' is not supported", t->name);
        if (t->kind == T_ACT) {
            if (x)
                return fail(c, -ENOTSUP,
                            "joining two computed tensors ('%s', '%s') is not "
                            "supported; only padding with ConstantOfShape",
                            x->name, t->name);
            x = t;
            continue;
        }
        if (have_fill && t->fill != fill) return fail(c, -ENOTSUP, "fills with different values");
        have_fill = true;
        fill = t->fill;
    }
    if (!x) return fail(c, -ENOTSUP, "no computed input");
    int rank = x->shape.rank;
    if (axis < -rank || axis >= rank)
        return fail(c, -EINVAL, "axis %lld out of range", (long long)axis);
    if (axis < 0) axis += rank;
    bool before = true;
    for (size_t i = 0; i < c->node->n_input; i++) {
        tensor *t = find(c, c->node->input[i]);
        if (t == x) {
            before = false;
            continue;
        }
        if (t->shape.rank != rank) return fail(c, -EINVAL, "input '%s' has another rank", t->name);
        /* In a resized model a fill's constant shape was written for the
         * declared size; it pads whatever the computed input now is. */
        for (int d = 0; d < rank; d++)
            if (d != axis && t->shape.dims[d] != x->shape.dims[d] && !c->resize)
                return fail(c, -EINVAL, "input '%s' differs outside the concat axis", t->name);
        (before ? pre : post)[axis] += t->shape.dims[axis];
    }
    return emit_pad(c, x, pre, post, fill);
}

static int tr_pad(ctx *c)
{
    tensor *x;
    int rc;
    if ((rc = act_input(c, 0, &x)) < 0) return rc;
    char mode[32];
    const char *md = attr_str(c->node, "mode", mode, sizeof mode);
    if (md && strcmp(md, "constant") != 0)
        return fail(c, -ENOTSUP, "mode %s is not supported (only constant)", md);
    int rank = x->shape.rank;
    int64_t pads[2 * FC_NN_MAX_RANK];
    float value = 0.0f;
    if (c->node->n_input > 1) { /* opset >= 11: pads and value are inputs */
        tensor *p, *v;
        if ((rc = const_input(c, 1, false, &p)) < 0) return rc;
        if (p->shape.rank != 1 || p->shape.dims[0] != 2 * rank)
            return fail(c, -EINVAL, "pads '%s' must hold %d values", p->name, 2 * rank);
        memcpy(pads, p->i64, (size_t)(2 * rank) * sizeof *pads);
        if (c->node->n_input > 2 && c->node->input[2] && c->node->input[2][0]) {
            if ((rc = const_input(c, 2, true, &v)) < 0) return rc;
            if (fc_nn_shape_elements(&v->shape) != 1)
                return fail(c, -EINVAL, "constant_value must be a scalar");
            value = v->f[0];
        }
        if (c->node->n_input > 3) return fail(c, -ENOTSUP, "the axes input is not supported");
    } else {
        if ((rc = attr_ints(c, "pads", (size_t)(2 * rank), 0, pads)) < 0) return rc;
        const Onnx__AttributeProto *a = attr(c->node, "value");
        if (a) value = a->f;
    }
    for (int i = 0; i < 2 * rank; i++)
        if (pads[i] < 0 || pads[i] > 4096)
            return fail(c, -ENOTSUP, "negative or huge pads are not supported");
    return emit_pad(c, x, pads, pads + rank, value);
}

static int tr_reshape(ctx *c)
{
    tensor *x, *s;
    int rc;
    if ((rc = act_input(c, 0, &x)) < 0 || (rc = const_input(c, 1, false, &s)) < 0) return rc;
    int64_t allowzero;
    if ((rc = attr_int(c, "allowzero", 0, &allowzero)) < 0) return rc;
    if (s->shape.rank != 1 || s->shape.dims[0] > FC_NN_MAX_RANK)
        return fail(c, -ENOTSUP, "shape '%s' must list at most %d dimensions", s->name,
                    FC_NN_MAX_RANK);
    fc_nn_shape ns = {(int)s->shape.dims[0], {0}};
    int infer = -1;
    size_t known = 1, total = fc_nn_shape_elements(&x->shape);
    for (int i = 0; i < ns.rank; i++) {
        int64_t d = s->i64[i];
        if (d == 0 && !allowzero) {
            if (i >= x->shape.rank)
                return fail(c, -EINVAL, "dimension %d copies a dimension the input lacks", i);
            d = x->shape.dims[i];
        }
        if (d == -1) {
            if (infer >= 0) return fail(c, -EINVAL, "more than one -1 in the shape");
            infer = i;
            continue;
        }
        if (d < 1 || (uint64_t)d > MAX_ELEMENTS)
            return fail(c, -EINVAL, "dimension %d is %lld", i, (long long)d);
        ns.dims[i] = d;
        known *= (size_t)d;
        if (known > MAX_ELEMENTS) return fail(c, -EINVAL, "shape too large");
    }
    if (c->resize && infer < 0 && known != total && ns.rank > 0) {
        /* A constant written for the declared input size: the dimension
         * that held the spatial extent (the largest) follows the new size. */
        infer = 0;
        for (int i = 1; i < ns.rank; i++)
            if (ns.dims[i] > ns.dims[infer]) infer = i;
        known /= (size_t)ns.dims[infer];
    }
    if (infer >= 0) {
        if (known == 0 || total % known) return fail(c, -EINVAL, "cannot infer the -1 dimension");
        ns.dims[infer] = (int64_t)(total / known);
        known *= (size_t)ns.dims[infer];
    }
    if (known != total) return fail(c, -EINVAL, "reshape changes the element count");
    /* An NCHW tensor with one channel or one pixel has the same bytes in NHWC. */
    bool plain =
        x->layout == L_PLAIN || x->shape.dims[1] == 1 || x->shape.dims[2] * x->shape.dims[3] == 1;
    if (!plain)
        return fail(c, -ENOTSUP,
                    "reshaping NCHW tensor '%s' needs a transpose, which this "
                    "XNNPACK lacks",
                    x->name);
    return alias_output(c, x, &ns, L_PLAIN);
}

static int tr_transpose(ctx *c)
{
    tensor *x;
    int rc;
    if ((rc = act_input(c, 0, &x)) < 0) return rc;
    int rank = x->shape.rank;
    int64_t perm[FC_NN_MAX_RANK];
    if (attr(c->node, "perm")) {
        if ((rc = attr_ints(c, "perm", (size_t)rank, 0, perm)) < 0) return rc;
    } else {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
    }
    fc_nn_shape s = {rank, {0}};
    bool identity = true;
    for (int i = 0; i < rank; i++) {
        if (perm[i] < 0 || perm[i] >= rank) return fail(c, -EINVAL, "perm out of range");
        s.dims[i] = x->shape.dims[perm[i]];
        identity = identity && perm[i] == i;
    }
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    if (identity) return alias_output(c, x, &s, x->layout);
    if (rank == 4 && x->layout == L_PLAIN && !memcmp(perm, to_nchw, sizeof to_nchw))
        return alias_output(c, x, &s, L_NCHW_AS_NHWC);
    if (rank == 4 && x->layout == L_NCHW_AS_NHWC && !memcmp(perm, to_nhwc, sizeof to_nhwc))
        return alias_output(c, x, &s, L_PLAIN);
    return fail(c, -ENOTSUP,
                "this permutation moves bytes; only NHWC<->NCHW relabelling is "
                "supported (this XNNPACK has no transpose)");
}

typedef struct op_entry {
    const char *name;
    int (*translate)(ctx *c);
} op_entry;

static const op_entry ops[] = {
    {"Conv", tr_conv},       {"Relu", tr_relu},       {"Add", tr_add},
    {"MaxPool", tr_maxpool}, {"Concat", tr_concat},   {"ConstantOfShape", tr_constant_of_shape},
    {"Pad", tr_pad},         {"Reshape", tr_reshape}, {"Transpose", tr_transpose},
};

/* ---- graph ---- */

static int dims_of(ctx *c, const char *what, const Onnx__ValueInfoProto *vi, fc_nn_shape *s)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return fail(c, -ENOTSUP, "%s '%s' is not a tensor", what, str_or_empty(vi->name));
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return fail(c, -ENOTSUP, "%s '%s' is not float32", what, vi->name);
    if (!tt->shape || tt->shape->n_dim < 1 || tt->shape->n_dim > FC_NN_MAX_RANK)
        return fail(c, -ENOTSUP, "%s '%s' has no shape or more than %d dimensions", what, vi->name,
                    FC_NN_MAX_RANK);
    s->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < s->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            s->dims[i] = d->dim_value;
        else if (i == 0) /* a symbolic batch size: run one image at a time */
            s->dims[i] = 1;
        else
            return fail(c, -ENOTSUP, "%s '%s' has a symbolic dimension %d", what, vi->name, i);
    }
    return check_shape(c, what, s);
}

static int add_initializer(ctx *c, const Onnx__TensorProto *tp)
{
    if (!tp || !tp->name || !tp->name[0]) return fail(c, -EINVAL, "initializer without a name");
    if (tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fail(c, -ENOTSUP, "initializer '%s' keeps its data in an external file", tp->name);
    if (tp->n_dims > FC_NN_MAX_RANK)
        return fail(c, -ENOTSUP, "initializer '%s' has too many dimensions", tp->name);
    fc_nn_shape s = {(int)tp->n_dims, {0}};
    for (size_t i = 0; i < tp->n_dims; i++)
        s.dims[i] = tp->dims[i];
    int rc = check_shape(c, tp->name, &s);
    if (rc < 0) return rc;
    size_t n = fc_nn_shape_elements(&s);
    bool is_float = tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    bool is_int64 = tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    tensor *t = add_tensor(c, tp->name);
    if (!t) return fail(c, -ENOMEM, "out of memory");
    t->kind = T_CONST;
    t->shape = s;
    if (!is_float && !is_int64)
        return 0;                 /* without data: a node that needs it says which type it wanted */
    size_t esize = 8 >> is_float; /* float 4, int64 8 */
    void *data = keep_tmp(c, n * esize);
    if (!data) return fail(c, -ENOMEM, "out of memory");
    /* raw_data is little-endian, like every machine XNNPACK runs on. */
    if (tp->raw_data.len) {
        if (tp->raw_data.len != n * esize)
            return fail(c, -EINVAL, "initializer '%s' holds %zu bytes, its shape needs %zu",
                        tp->name, tp->raw_data.len, n * esize);
        memcpy(data, tp->raw_data.data, n * esize);
    } else if (is_float && tp->n_float_data == n) {
        memcpy(data, tp->float_data, n * esize);
    } else if (is_int64 && tp->n_int64_data == n) {
        memcpy(data, tp->int64_data, n * esize);
    } else {
        return fail(c, -EINVAL, "initializer '%s' holds fewer values than its shape", tp->name);
    }
    if (is_float)
        t->f = data;
    else
        t->i64 = data;
    return 0;
}

static int add_io(ctx *c, fc_nn_io *io, const char *name, const fc_nn_shape *s, uint32_t value,
                  bool nchw)
{
    io->name = strdup(name);
    if (!io->name) return fail(c, -ENOMEM, "out of memory");
    io->shape = *s;
    io->value = value;
    io->nchw = nchw;
    return 0;
}

static int translate(ctx *c, const Onnx__ModelProto *mp)
{
    int rc;
    const Onnx__GraphProto *g = mp->graph;
    if (!g) return fail(c, -EINVAL, "not an ONNX model (no graph)");
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (o && o->domain && o->domain[0] && strcmp(o->domain, "ai.onnx") != 0)
            return fail(c, -ENOTSUP, "operator set '%s' is not supported", o->domain);
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if ((rc = add_initializer(c, g->initializer[i])) < 0) return rc;

    fc_nn_model *m = c->m;
    m->inputs = calloc(g->n_input ? g->n_input : 1, sizeof *m->inputs);
    m->outputs = calloc(g->n_output ? g->n_output : 1, sizeof *m->outputs);
    if (!m->inputs || !m->outputs) return fail(c, -ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi || !vi->name || !vi->name[0])
            return fail(c, -EINVAL, "graph input %zu has no name", i);
        if (find(c, vi->name)) /* older exporters list initializers as inputs too */
            continue;
        fc_nn_shape s;
        if ((rc = dims_of(c, "input", vi, &s)) < 0) return rc;
        if (c->resize && m->ninputs == 0) {
            char s1[96], s2[96];
            if (c->resize->rank != s.rank || c->resize->dims[0] != s.dims[0])
                return fail(c, -EINVAL, "input '%s' is %s: it cannot run as %s", vi->name,
                            fc_nn_shape_str(&s, s1, sizeof s1),
                            fc_nn_shape_str(c->resize, s2, sizeof s2));
            s = *c->resize;
            if ((rc = check_shape(c, "input", &s)) < 0) return rc;
        }
        tensor *t = add_tensor(c, vi->name);
        if (!t) return fail(c, -ENOMEM, "out of memory");
        t->kind = T_ACT;
        t->layout = L_PLAIN;
        t->shape = s;
        size_t dims[FC_NN_MAX_RANK];
        physical_dims(t, dims);
        if ((rc = new_value(c, s.rank, dims, NULL, &t->value)) < 0) return rc;
        m->values[t->value].flags = FC_NN_VALUE_INPUT;
        if ((rc = add_io(c, &m->inputs[m->ninputs], vi->name, &s, t->value, false)) < 0) return rc;
        m->ninputs++;
    }
    if (m->ninputs == 0) return fail(c, -EINVAL, "the graph has no inputs");

    for (size_t i = 0; i < g->n_node; i++) {
        c->node = g->node[i];
        if (!c->node) return fail(c, -EINVAL, "node %zu is empty", i);
        const char *dom = c->node->domain;
        bool standard = !dom || !dom[0] || strcmp(dom, "ai.onnx") == 0;
        const char *type = str_or_empty(c->node->op_type);
        const op_entry *e = NULL;
        for (size_t k = 0; k < sizeof ops / sizeof *ops && standard; k++)
            if (strcmp(ops[k].name, type) == 0) e = &ops[k];
        if (!e)
            return fail(c, -ENOTSUP, "operator %s%s%s is not supported", standard ? "" : dom,
                        standard ? "" : ".", type);
        if ((rc = e->translate(c)) < 0) return rc;
    }
    c->node = NULL;

    if (g->n_output == 0) return fail(c, -EINVAL, "the graph has no outputs");
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        if (!vi || !vi->name) return fail(c, -EINVAL, "graph output %zu has no name", i);
        tensor *t = find(c, vi->name);
        if (!t || t->kind != T_ACT)
            return fail(c, -EINVAL, "graph output '%s' is not computed by the graph", vi->name);
        fc_nn_shape s = {0};
        if (vi->type && (rc = dims_of(c, "output", vi, &s)) < 0) return rc;
        char s1[96], s2[96];
        /* Declared shapes are for the declared input size. */
        if (vi->type && !c->resize &&
            (s.rank != t->shape.rank ||
             memcmp(s.dims, t->shape.dims, (size_t)s.rank * sizeof *s.dims)))
            return fail(c, -EINVAL, "graph output '%s' is declared %s but computes to %s", vi->name,
                        fc_nn_shape_str(&s, s1, sizeof s1),
                        fc_nn_shape_str(&t->shape, s2, sizeof s2));
        fc_nn_value *v = &m->values[t->value];
        if (v->flags & FC_NN_VALUE_INPUT)
            return fail(c, -ENOTSUP, "graph output '%s' is a graph input", vi->name);
        v->flags |= FC_NN_VALUE_OUTPUT;
        if ((rc = add_io(c, &m->outputs[m->noutputs], vi->name, &t->shape, t->value,
                         t->layout == L_NCHW_AS_NHWC)) < 0)
            return rc;
        m->noutputs++;
    }
    return fc_nn_fuse(m, c->err, c->errlen);
}

void fc_nn_model_free(fc_nn_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->nops; i++)
        free(m->ops[i].node);
    for (size_t i = 0; i < m->nblobs; i++)
        free(m->blobs[i]);
    for (int i = 0; i < m->ninputs; i++)
        free(m->inputs[i].name);
    for (int i = 0; i < m->noutputs; i++)
        free(m->outputs[i].name);
    free(m->inputs);
    free(m->outputs);
    free(m->blobs);
    free(m->ops);
    free(m->values);
    free(m);
}

int fc_nn_model_load_buffer(const void *data, size_t len, const char *label, fc_nn_model **out,
                            char *err, size_t errlen)
{
    return fc_nn_model_load_resized(data, len, label, NULL, out, err, errlen);
}

int fc_nn_model_load_resized(const void *data, size_t len, const char *label,
                             const fc_nn_shape *input, fc_nn_model **out, char *err, size_t errlen)
{
    *out = NULL;
    ctx c = {.label = label ? label : "model", .err = err, .errlen = errlen, .resize = input};
    int rc;
    if (len == 0) return fail(&c, -EINVAL, "empty file");
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    if (!mp)
        return fail(&c, -EINVAL,
                    "not an ONNX model (protobuf parse failed: truncated or not "
                    "a model file)");
    c.m = calloc(1, sizeof *c.m);
    rc = c.m ? translate(&c, mp) : fail(&c, -ENOMEM, "out of memory");
    onnx__model_proto__free_unpacked(mp, NULL);
    for (size_t i = 0; i < c.ntmp; i++)
        free(c.tmp[i]);
    free(c.tmp);
    free(c.t);
    if (rc < 0) {
        fc_nn_model_free(c.m);
        return rc;
    }
    *out = c.m;
    return 0;
}

int fc_nn_model_read(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    int rc = 0;
    uint8_t *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot determine the file size", path);
        rc = -EIO;
    } else if ((unsigned long)size > MAX_MODEL_BYTES) {
        snprintf(err, errlen, "%s: %ld bytes is larger than the %u allowed", path, size,
                 MAX_MODEL_BYTES);
        rc = -EFBIG;
    } else if (!(buf = malloc(size ? (size_t)size : 1))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -ENOMEM;
    } else if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -EIO;
    }
    fclose(f);
    if (rc < 0) {
        free(buf);
        return rc;
    }
    *data = buf;
    *len = (size_t)size;
    return 0;
}

int fc_nn_model_load(const char *path, fc_nn_model **out, char *err, size_t errlen)
{
    *out = NULL;
    uint8_t *buf;
    size_t len;
    int rc = fc_nn_model_read(path, &buf, &len, err, errlen);
    if (rc == 0) rc = fc_nn_model_load_buffer(buf, len, path, out, err, errlen);
    free(buf);
    return rc;
}

int fc_nn_model_input_count(const fc_nn_model *m)
{
    return m->ninputs;
}

int fc_nn_model_output_count(const fc_nn_model *m)
{
    return m->noutputs;
}

static int find_io(const fc_nn_io *io, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(io[i].name, name) == 0) return i;
    return -ENOENT;
}

int fc_nn_model_find_input(const fc_nn_model *m, const char *name)
{
    return find_io(m->inputs, m->ninputs, name);
}

int fc_nn_model_find_output(const fc_nn_model *m, const char *name)
{
    return find_io(m->outputs, m->noutputs, name);
}

void fc_nn_model_input_shape(const fc_nn_model *m, int index, fc_nn_shape *shape)
{
    *shape = m->inputs[index].shape;
}

void fc_nn_model_output_shape(const fc_nn_model *m, int index, fc_nn_shape *shape)
{
    *shape = m->outputs[index].shape;
}
