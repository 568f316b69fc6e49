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
    void *data = fc_nnt_keep_tmp(c, n * esize);
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

/* The graph's inputs (not the initializers older exporters list there too),
 * resized to the caller's shape if it asked. */
static int add_inputs(ctx *c, const Onnx__GraphProto *g)
{
    int rc;
    fc_nn_model *m = c->m;
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
        fc_nnt_physical_dims(t, dims);
        if ((rc = fc_nnt_new_value(c, s.rank, dims, NULL, &t->value)) < 0) return rc;
        m->values[t->value].flags = FC_NN_VALUE_INPUT;
        if ((rc = add_io(c, &m->inputs[m->ninputs], vi->name, &s, t->value, false)) < 0) return rc;
        m->ninputs++;
    }
    if (m->ninputs == 0) return fc_nnt_fail(c, -EINVAL, "the graph has no inputs");
    return 0;
}

/* Every node, in order, by its operator's rule (model_ops.c). */
static int add_nodes(ctx *c, const Onnx__GraphProto *g)
{
    int rc;
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
    return 0;
}

/* The graph's outputs: computed by the graph, of the shape they declare. */
static int add_outputs(ctx *c, const Onnx__GraphProto *g)
{
    int rc;
    fc_nn_model *m = c->m;
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
    if ((rc = add_inputs(c, g)) < 0 || (rc = add_nodes(c, g)) < 0 || (rc = add_outputs(c, g)) < 0)
        return rc;
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
