/* ONNX -> translated graph (nn_ir.h).
 *
 * Layouts: ONNX image tensors are NCHW, XNNPACK's are NHWC. Every activation
 * tensor is tracked with its logical (ONNX) shape plus how its bytes are laid
 * out: PLAIN (row-major in logical order) or NCHW_AS_NHWC (a logical NCHW
 * tensor stored as NHWC). A Transpose that only converts between the two, and
 * a Reshape of a PLAIN tensor, then change bookkeeping, not bytes: the result
 * names the same XNNPACK value. A real XNNPACK reshape is emitted only when a
 * later op needs the value with other dimensions (fc_nnt_materialize()).
 *
 * Weights are converted once here (OIHW -> OHWI, or -> 1HWO for depthwise)
 * into arrays the model owns. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/translate.h"

/* Bigger files are not BlazeFace-sized models; refuse rather than read them. */
#define MAX_MODEL_BYTES (256u << 20)

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

int fc_nnt_fail(ctx *c, int code, const char *fmt, ...)
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

float *fc_nnt_new_blob(ctx *c, size_t n)
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
int fc_nnt_check_shape(ctx *c, const char *what, const fc_nn_shape *s)
{
    size_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->dims[i] < 1 || (uint64_t)s->dims[i] > FC_NNT_MAX_ELEMENTS ||
            n * (size_t)s->dims[i] > FC_NNT_MAX_ELEMENTS)
            return fc_nnt_fail(c, -EINVAL, "%s has an invalid or too large shape", what);
        n *= (size_t)s->dims[i];
    }
    return 0;
}

/* Linear search: BlazeFace-sized graphs have a few hundred names and this runs
 * once per load. */
tensor *fc_nnt_find(ctx *c, const char *name)
{
    for (size_t i = c->nt; i-- > 0;)
        if (strcmp(c->t[i].name, name) == 0) return &c->t[i];
    return NULL;
}

tensor *fc_nnt_add_tensor(ctx *c, const char *name)
{
    if (grow((void **)&c->t, &c->capt, c->nt + 1, sizeof *c->t) < 0) return NULL;
    tensor *t = &c->t[c->nt++];
    memset(t, 0, sizeof *t);
    t->name = name;
    return t;
}

int fc_nnt_new_value(ctx *c, int rank, const size_t *dims, const float *data, uint32_t *id)
{
    fc_nn_model *m = c->m;
    if (grow((void **)&m->values, &c->capv, m->nvalues + 1, sizeof *m->values) < 0)
        return fc_nnt_fail(c, -ENOMEM, "out of memory");
    fc_nn_value *v = &m->values[m->nvalues];
    memset(v, 0, sizeof *v);
    v->rank = rank;
    memcpy(v->dims, dims, (size_t)rank * sizeof *dims);
    v->data = data;
    *id = m->nvalues++;
    return 0;
}

fc_nn_op *fc_nnt_new_op(ctx *c, fc_nn_op_kind kind)
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
int fc_nnt_materialize(ctx *c, tensor *t)
{
    size_t dims[FC_NN_MAX_RANK];
    physical_dims(t, dims);
    const fc_nn_value *v = &c->m->values[t->value];
    if (v->rank == t->shape.rank && memcmp(v->dims, dims, (size_t)v->rank * sizeof *dims) == 0)
        return 0;
    uint32_t id;
    int rc = fc_nnt_new_value(c, t->shape.rank, dims, NULL, &id);
    if (rc < 0) return rc;
    fc_nn_op *op = fc_nnt_new_op(c, FC_NN_OP_RESHAPE);
    if (!op) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    op->in[0] = t->value;
    op->out = id;
    op->new_rank = t->shape.rank;
    memcpy(op->new_shape, dims, sizeof dims);
    t->value = id;
    return 0;
}

/* ---- attributes ---- */

const Onnx__AttributeProto *fc_nnt_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i] && strcmp(str_or_empty(n->attribute[i]->name), name) == 0)
            return n->attribute[i];
    return NULL;
}

int fc_nnt_attr_int(ctx *c, const char *name, int64_t def, int64_t *out)
{
    const Onnx__AttributeProto *a = fc_nnt_attr(c->node, name);
    if (!a) {
        *out = def;
        return 0;
    }
    if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return fc_nnt_fail(c, -EINVAL, "attribute %s is not an int", name);
    *out = a->i;
    return 0;
}

/* Fills `n` ints from attribute `name`, or `def` when absent. */
int fc_nnt_attr_ints(ctx *c, const char *name, size_t n, int64_t def, int64_t *out)
{
    const Onnx__AttributeProto *a = fc_nnt_attr(c->node, name);
    if (!a) {
        for (size_t i = 0; i < n; i++)
            out[i] = def;
        return 0;
    }
    if (a->n_ints != n)
        return fc_nnt_fail(c, -EINVAL, "attribute %s has %zu values, expected %zu", name, a->n_ints,
                           n);
    memcpy(out, a->ints, n * sizeof *out);
    return 0;
}

const char *fc_nnt_attr_str(const Onnx__NodeProto *n, const char *name, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = fc_nnt_attr(n, name);
    if (!a || a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING) return NULL;
    snprintf(buf, len, "%.*s", (int)a->s.len, a->s.data ? (const char *)a->s.data : "");
    return buf;
}

/* ---- inputs of a node ---- */

int fc_nnt_input(ctx *c, size_t i, tensor **out)
{
    const Onnx__NodeProto *n = c->node;
    if (i >= n->n_input || !n->input[i] || !n->input[i][0])
        return fc_nnt_fail(c, -EINVAL, "missing input %zu", i);
    tensor *t = fc_nnt_find(c, n->input[i]);
    if (!t)
        return fc_nnt_fail(c, -EINVAL, "input '%s' is not produced by any earlier node",
                           n->input[i]);
    *out = t;
    return 0;
}

int fc_nnt_act_input(ctx *c, size_t i, tensor **out)
{
    int rc = fc_nnt_input(c, i, out);
    if (rc < 0) return rc;
    if ((*out)->kind == T_FILL)
        return fc_nnt_fail(c, -ENOTSUP,
                           "input '%s' comes from ConstantOfShape, which only Concat may use",
                           (*out)->name);
    if ((*out)->kind != T_ACT)
        return fc_nnt_fail(c, -ENOTSUP, "constant input '%s' is not supported here", (*out)->name);
    return 0;
}

int fc_nnt_const_input(ctx *c, size_t i, bool want_float, tensor **out)
{
    int rc = fc_nnt_input(c, i, out);
    if (rc < 0) return rc;
    if ((*out)->kind != T_CONST || (want_float ? !(*out)->f : !(*out)->i64))
        return fc_nnt_fail(c, -ENOTSUP, "input '%s' must be a constant %s tensor", (*out)->name,
                           want_float ? "float" : "int64");
    return 0;
}

/* Registers node output 0 as a new activation with the given logical shape
 * and layout, backed by a new XNNPACK value. */
int fc_nnt_act_output(ctx *c, const fc_nn_shape *shape, tensor_layout layout, tensor **out)
{
    const Onnx__NodeProto *n = c->node;
    if (n->n_output < 1 || !n->output[0] || !n->output[0][0])
        return fc_nnt_fail(c, -EINVAL, "node has no output");
    if (fc_nnt_find(c, n->output[0]))
        return fc_nnt_fail(c, -EINVAL, "output '%s' is produced twice", n->output[0]);
    int rc = fc_nnt_check_shape(c, "output", shape);
    if (rc < 0) return rc;
    tensor *t = fc_nnt_add_tensor(c, n->output[0]);
    if (!t) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    t->kind = T_ACT;
    t->layout = layout;
    t->shape = *shape;
    size_t dims[FC_NN_MAX_RANK];
    physical_dims(t, dims);
    rc = fc_nnt_new_value(c, shape->rank, dims, NULL, &t->value);
    if (rc < 0) return rc;
    *out = t;
    return 0;
}

/* Registers node output 0 as another view of `src` (same value). */
int fc_nnt_alias_output(ctx *c, const tensor *src, const fc_nn_shape *shape, tensor_layout layout)
{
    const Onnx__NodeProto *n = c->node;
    if (n->n_output < 1 || !n->output[0] || !n->output[0][0])
        return fc_nnt_fail(c, -EINVAL, "node has no output");
    if (fc_nnt_find(c, n->output[0]))
        return fc_nnt_fail(c, -EINVAL, "output '%s' is produced twice", n->output[0]);
    tensor copy = *src;
    tensor *t = fc_nnt_add_tensor(c, n->output[0]);
    if (!t) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    *t = copy;
    t->name = n->output[0];
    t->shape = *shape;
    t->layout = layout;
    return 0;
}

/* ---- graph ---- */

static int dims_of(ctx *c, const char *what, const Onnx__ValueInfoProto *vi, fc_nn_shape *s)
{
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return fc_nnt_fail(c, -ENOTSUP, "%s '%s' is not a tensor", what, str_or_empty(vi->name));
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return fc_nnt_fail(c, -ENOTSUP, "%s '%s' is not float32", what, vi->name);
    if (!tt->shape || tt->shape->n_dim < 1 || tt->shape->n_dim > FC_NN_MAX_RANK)
        return fc_nnt_fail(c, -ENOTSUP, "%s '%s' has no shape or more than %d dimensions", what,
                           vi->name, FC_NN_MAX_RANK);
    s->rank = (int)tt->shape->n_dim;
    for (int i = 0; i < s->rank; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            s->dims[i] = d->dim_value;
        else if (i == 0) /* a symbolic batch size: run one image at a time */
            s->dims[i] = 1;
        else
            return fc_nnt_fail(c, -ENOTSUP, "%s '%s' has a symbolic dimension %d", what, vi->name,
                               i);
    }
    return fc_nnt_check_shape(c, what, s);
}

static int add_initializer(ctx *c, const Onnx__TensorProto *tp)
{
    if (!tp || !tp->name || !tp->name[0])
        return fc_nnt_fail(c, -EINVAL, "initializer without a name");
    if (tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fc_nnt_fail(c, -ENOTSUP, "initializer '%s' keeps its data in an external file",
                           tp->name);
    if (tp->n_dims > FC_NN_MAX_RANK)
        return fc_nnt_fail(c, -ENOTSUP, "initializer '%s' has too many dimensions", tp->name);
    fc_nn_shape s = {(int)tp->n_dims, {0}};
    for (size_t i = 0; i < tp->n_dims; i++)
        s.dims[i] = tp->dims[i];
    int rc = fc_nnt_check_shape(c, tp->name, &s);
    if (rc < 0) return rc;
    size_t n = fc_nn_shape_elements(&s);
    bool is_float = tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    bool is_int64 = tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    tensor *t = fc_nnt_add_tensor(c, tp->name);
    if (!t) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    t->kind = T_CONST;
    t->shape = s;
    if (!is_float && !is_int64)
        return 0;                 /* without data: a node that needs it says which type it wanted */
    size_t esize = 8 >> is_float; /* float 4, int64 8 */
    void *data = keep_tmp(c, n * esize);
    if (!data) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    /* raw_data is little-endian, like every machine XNNPACK runs on. */
    if (tp->raw_data.len) {
        if (tp->raw_data.len != n * esize)
            return fc_nnt_fail(c, -EINVAL, "initializer '%s' holds %zu bytes, its shape needs %zu",
                               tp->name, tp->raw_data.len, n * esize);
        memcpy(data, tp->raw_data.data, n * esize);
    } else if (is_float && tp->n_float_data == n) {
        memcpy(data, tp->float_data, n * esize);
    } else if (is_int64 && tp->n_int64_data == n) {
        memcpy(data, tp->int64_data, n * esize);
    } else {
        return fc_nnt_fail(c, -EINVAL, "initializer '%s' holds fewer values than its shape",
                           tp->name);
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
    if (!io->name) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    io->shape = *s;
    io->value = value;
    io->nchw = nchw;
    return 0;
}

static int translate(ctx *c, const Onnx__ModelProto *mp)
{
    int rc;
    const Onnx__GraphProto *g = mp->graph;
    if (!g) return fc_nnt_fail(c, -EINVAL, "not an ONNX model (no graph)");
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = mp->opset_import[i];
        if (o && o->domain && o->domain[0] && strcmp(o->domain, "ai.onnx") != 0)
            return fc_nnt_fail(c, -ENOTSUP, "operator set '%s' is not supported", o->domain);
    }
    for (size_t i = 0; i < g->n_initializer; i++)
        if ((rc = add_initializer(c, g->initializer[i])) < 0) return rc;

    fc_nn_model *m = c->m;
    m->inputs = calloc(g->n_input ? g->n_input : 1, sizeof *m->inputs);
    m->outputs = calloc(g->n_output ? g->n_output : 1, sizeof *m->outputs);
    if (!m->inputs || !m->outputs) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi || !vi->name || !vi->name[0])
            return fc_nnt_fail(c, -EINVAL, "graph input %zu has no name", i);
        if (fc_nnt_find(c, vi->name)) /* older exporters list initializers as inputs too */
            continue;
        fc_nn_shape s;
        if ((rc = dims_of(c, "input", vi, &s)) < 0) return rc;
        if (c->resize && m->ninputs == 0) {
            char s1[96], s2[96];
            if (c->resize->rank != s.rank || c->resize->dims[0] != s.dims[0])
                return fc_nnt_fail(c, -EINVAL, "input '%s' is %s: it cannot run as %s", vi->name,
                                   fc_nn_shape_str(&s, s1, sizeof s1),
                                   fc_nn_shape_str(c->resize, s2, sizeof s2));
            s = *c->resize;
            if ((rc = fc_nnt_check_shape(c, "input", &s)) < 0) return rc;
        }
        tensor *t = fc_nnt_add_tensor(c, vi->name);
        if (!t) return fc_nnt_fail(c, -ENOMEM, "out of memory");
        t->kind = T_ACT;
        t->layout = L_PLAIN;
        t->shape = s;
        size_t dims[FC_NN_MAX_RANK];
        physical_dims(t, dims);
        if ((rc = fc_nnt_new_value(c, s.rank, dims, NULL, &t->value)) < 0) return rc;
        m->values[t->value].flags = FC_NN_VALUE_INPUT;
        if ((rc = add_io(c, &m->inputs[m->ninputs], vi->name, &s, t->value, false)) < 0) return rc;
        m->ninputs++;
    }
    if (m->ninputs == 0) return fc_nnt_fail(c, -EINVAL, "the graph has no inputs");

    for (size_t i = 0; i < g->n_node; i++) {
        c->node = g->node[i];
        if (!c->node) return fc_nnt_fail(c, -EINVAL, "node %zu is empty", i);
        const char *dom = c->node->domain;
        bool standard = !dom || !dom[0] || strcmp(dom, "ai.onnx") == 0;
        const char *type = str_or_empty(c->node->op_type);
        const fc_nnt_rule *e = NULL;
        for (size_t k = 0; k < fc_nnt_rule_count && standard; k++)
            if (strcmp(fc_nnt_rules[k].name, type) == 0) e = &fc_nnt_rules[k];
        if (!e)
            return fc_nnt_fail(c, -ENOTSUP, "operator %s%s%s is not supported", standard ? "" : dom,
                               standard ? "" : ".", type);
        if ((rc = e->translate(c)) < 0) return rc;
    }
    c->node = NULL;

    if (g->n_output == 0) return fc_nnt_fail(c, -EINVAL, "the graph has no outputs");
    for (size_t i = 0; i < g->n_output; i++) {
        const Onnx__ValueInfoProto *vi = g->output[i];
        if (!vi || !vi->name) return fc_nnt_fail(c, -EINVAL, "graph output %zu has no name", i);
        tensor *t = fc_nnt_find(c, vi->name);
        if (!t || t->kind != T_ACT)
            return fc_nnt_fail(c, -EINVAL, "graph output '%s' is not computed by the graph",
                               vi->name);
        fc_nn_shape s = {0};
        if (vi->type && (rc = dims_of(c, "output", vi, &s)) < 0) return rc;
        char s1[96], s2[96];
        /* Declared shapes are for the declared input size. */
        if (vi->type && !c->resize &&
            (s.rank != t->shape.rank ||
             memcmp(s.dims, t->shape.dims, (size_t)s.rank * sizeof *s.dims)))
            return fc_nnt_fail(c, -EINVAL, "graph output '%s' is declared %s but computes to %s",
                               vi->name, fc_nn_shape_str(&s, s1, sizeof s1),
                               fc_nn_shape_str(&t->shape, s2, sizeof s2));
        fc_nn_value *v = &m->values[t->value];
        if (v->flags & FC_NN_VALUE_INPUT)
            return fc_nnt_fail(c, -ENOTSUP, "graph output '%s' is a graph input", vi->name);
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
    if (len == 0) return fc_nnt_fail(&c, -EINVAL, "empty file");
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    if (!mp)
        return fc_nnt_fail(&c, -EINVAL,
                           "not an ONNX model (protobuf parse failed: truncated or not "
                           "a model file)");
    c.m = calloc(1, sizeof *c.m);
    rc = c.m ? translate(&c, mp) : fc_nnt_fail(&c, -ENOMEM, "out of memory");
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
