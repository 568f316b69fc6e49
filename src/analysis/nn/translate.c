/* The ONNX translation's bookkeeping (translate.h): its error message, the
 * tensors it tracks and their layouts, new XNNPACK values, ops and weight
 * blobs, reshapes that make an alias real, and the reading of a node's
 * attributes and inputs. model.c walks a model with these; model_ops.c's
 * operator rules build the graph with them. Translation thread only. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/translate.h"

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

void *fc_nnt_keep_tmp(ctx *c, size_t bytes)
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
void fc_nnt_physical_dims(const tensor *t, size_t *dims)
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
    fc_nnt_physical_dims(t, dims);
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
    fc_nnt_physical_dims(t, dims);
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
