/* The ONNX operators BlazeFace needs, one translation rule each
 * (translate.h): attributes checked, XNNPACK ops emitted, layouts tracked so
 * that NCHW<->NHWC transposes and plain reshapes cost nothing. model.c
 * walks the graph and calls the rule of each node's operator. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/translate.h"

/* ---- spatial attributes shared by Conv and MaxPool ---- */

typedef struct window {
    int64_t k[2], s[2], d[2], pads[4]; /* pads: ONNX order top, left, bottom, right */
    int64_t out[2];
} window;

static int window_attrs(ctx *c, const tensor *x, window *w)
{
    int rc;
    if ((rc = fc_nnt_attr_ints(c, "strides", 2, 1, w->s)) < 0 ||
        (rc = fc_nnt_attr_ints(c, "dilations", 2, 1, w->d)) < 0 ||
        (rc = fc_nnt_attr_ints(c, "pads", 4, 0, w->pads)) < 0)
        return rc;
    for (int i = 0; i < 2; i++)
        if (w->s[i] < 1 || w->s[i] > 64 || w->d[i] < 1 || w->d[i] > 64 || w->k[i] < 1 ||
            w->k[i] > 64)
            return fc_nnt_fail(c, -EINVAL, "kernel, stride or dilation out of range");
    for (int i = 0; i < 4; i++)
        if (w->pads[i] < 0 || w->pads[i] > 64) return fc_nnt_fail(c, -EINVAL, "pads out of range");
    char ap[32];
    const char *autopad = fc_nnt_attr_str(c->node, "auto_pad", ap, sizeof ap);
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
            return fc_nnt_fail(c, -ENOTSUP, "auto_pad %s is not supported", autopad);
        }
        int64_t span = in + w->pads[i] + w->pads[i + 2] - eff;
        if (span < 0) return fc_nnt_fail(c, -EINVAL, "kernel larger than the padded input");
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
    int rc = fc_nnt_act_input(c, 0, x);
    if (rc < 0) return rc;
    if ((*x)->shape.rank != 4) return fc_nnt_fail(c, -ENOTSUP, "input '%s' is not 4-D", (*x)->name);
    if ((*x)->layout != L_NCHW_AS_NHWC)
        return fc_nnt_fail(
            c, -ENOTSUP,
            "input '%s' is NCHW in memory; only NCHW tensors made by transposing an NHWC "
            "tensor are supported (this XNNPACK has no transpose)",
            (*x)->name);
    return fc_nnt_materialize(c, *x);
}

/* ---- ops ---- */

static int tr_conv(ctx *c)
{
    tensor *x, *w, *b = NULL;
    int rc;
    if ((rc = image_input(c, &x)) < 0 || (rc = fc_nnt_const_input(c, 1, true, &w)) < 0) return rc;
    if (c->node->n_input > 2 && c->node->input[2] && c->node->input[2][0] &&
        (rc = fc_nnt_const_input(c, 2, true, &b)) < 0)
        return rc;
    if (w->shape.rank != 4) return fc_nnt_fail(c, -ENOTSUP, "weight '%s' is not 4-D", w->name);
    int64_t group, ks[2];
    if ((rc = fc_nnt_attr_int(c, "group", 1, &group)) < 0) return rc;
    int64_t C = x->shape.dims[1], M = w->shape.dims[0], cpg = w->shape.dims[1];
    int64_t kh = w->shape.dims[2], kw = w->shape.dims[3];
    if (group < 1 || C % group != 0 || C / group != cpg || M % group != 0)
        return fc_nnt_fail(c, -EINVAL,
                           "group %lld does not fit %lld input and %lld output channels",
                           (long long)group, (long long)C, (long long)M);
    if ((rc = fc_nnt_attr_ints(c, "kernel_shape", 2, 0, ks)) < 0) return rc;
    if ((ks[0] || ks[1]) && (ks[0] != kh || ks[1] != kw))
        return fc_nnt_fail(c, -EINVAL, "kernel_shape does not match the weights");
    if (b && (b->shape.rank != 1 || b->shape.dims[0] != M))
        return fc_nnt_fail(c, -EINVAL, "bias '%s' does not have %lld elements", b->name,
                           (long long)M);
    window win = {.k = {kh, kw}};
    if ((rc = window_attrs(c, x, &win)) < 0) return rc;

    /* Depthwise when every group is one input channel; XNNPACK has a faster
     * kernel for that and wants the filter as [1, kh, kw, M]. */
    bool dw = group > 1 && cpg == 1;
    size_t n = (size_t)(M * cpg * kh * kw);
    float *f = fc_nnt_new_blob(c, n), *bias = fc_nnt_new_blob(c, (size_t)M);
    if (!f || !bias) return fc_nnt_fail(c, -ENOMEM, "out of memory");
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
    if ((rc = fc_nnt_new_value(c, 4, fdims, f, &fid)) < 0 ||
        (rc = fc_nnt_new_value(c, 1, bdims, bias, &bid)) < 0)
        return rc;
    fc_nn_shape os = {4, {x->shape.dims[0], M, win.out[0], win.out[1]}};
    uint32_t xin = x->value;
    tensor *y;
    if ((rc = fc_nnt_act_output(c, &os, L_NCHW_AS_NHWC, &y)) < 0) return rc;
    fc_nn_op *op = fc_nnt_new_op(c, dw ? FC_NN_OP_DWCONV : FC_NN_OP_CONV);
    if (!op) return fc_nnt_fail(c, -ENOMEM, "out of memory");
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
    if ((rc = fc_nnt_attr_int(c, "ceil_mode", 0, &ceil_mode)) < 0 ||
        (rc = fc_nnt_attr_int(c, "storage_order", 0, &order)) < 0 ||
        (rc = fc_nnt_attr_ints(c, "kernel_shape", 2, 0, win.k)) < 0)
        return rc;
    if (ceil_mode || order)
        return fc_nnt_fail(c, -ENOTSUP, "ceil_mode and storage_order must be 0");
    if (c->node->n_output > 1)
        return fc_nnt_fail(c, -ENOTSUP, "the Indices output is not supported");
    if ((rc = window_attrs(c, x, &win)) < 0) return rc;
    if (win.k[0] * win.k[1] < 2) return fc_nnt_fail(c, -ENOTSUP, "a 1x1 pool is not supported");
    fc_nn_shape os = {4, {x->shape.dims[0], x->shape.dims[1], win.out[0], win.out[1]}};
    uint32_t xin = x->value;
    tensor *y;
    if ((rc = fc_nnt_act_output(c, &os, L_NCHW_AS_NHWC, &y)) < 0) return rc;
    fc_nn_op *op = fc_nnt_new_op(c, FC_NN_OP_MAXPOOL);
    if (!op) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    window_to_op(&win, op);
    op->in[0] = xin, op->out = y->value;
    return 0;
}

static int tr_relu(ctx *c)
{
    tensor *x, *y;
    int rc;
    if ((rc = fc_nnt_act_input(c, 0, &x)) < 0 || (rc = fc_nnt_materialize(c, x)) < 0) return rc;
    uint32_t xin = x->value;
    fc_nn_shape s = x->shape;
    if ((rc = fc_nnt_act_output(c, &s, x->layout, &y)) < 0) return rc;
    fc_nn_op *op = fc_nnt_new_op(c, FC_NN_OP_CLAMP);
    if (!op) return fc_nnt_fail(c, -ENOMEM, "out of memory");
    op->in[0] = xin, op->out = y->value;
    op->out_min = 0.0f;
    return 0;
}

static int tr_add(ctx *c)
{
    tensor *a, *b, *y;
    int rc;
    if ((rc = fc_nnt_act_input(c, 0, &a)) < 0 || (rc = fc_nnt_act_input(c, 1, &b)) < 0) return rc;
    char sa[96], sb[96];
    if (a->layout != b->layout || a->shape.rank != b->shape.rank)
        return fc_nnt_fail(c, -ENOTSUP, "inputs %s and %s differ in rank or memory layout",
                           fc_nn_shape_str(&a->shape, sa, sizeof sa),
                           fc_nn_shape_str(&b->shape, sb, sizeof sb));
    fc_nn_shape s = a->shape;
    for (int i = 0; i < s.rank; i++) {
        int64_t da = a->shape.dims[i], db = b->shape.dims[i];
        if (da != db && da != 1 && db != 1)
            return fc_nnt_fail(c, -EINVAL, "shapes %s and %s do not broadcast",
                               fc_nn_shape_str(&a->shape, sa, sizeof sa),
                               fc_nn_shape_str(&b->shape, sb, sizeof sb));
        s.dims[i] = da > db ? da : db;
    }
    if ((rc = fc_nnt_materialize(c, a)) < 0 || (rc = fc_nnt_materialize(c, b)) < 0) return rc;
    uint32_t ia = a->value, ib = b->value;
    tensor_layout layout = a->layout;
    if ((rc = fc_nnt_act_output(c, &s, layout, &y)) < 0) return rc;
    fc_nn_op *op = fc_nnt_new_op(c, FC_NN_OP_ADD);
    if (!op) return fc_nnt_fail(c, -ENOMEM, "out of memory");
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
    if ((rc = fc_nnt_materialize(c, x)) < 0) return rc;
    fc_nn_shape s = x->shape;
    for (int i = 0; i < s.rank; i++)
        s.dims[i] += pre[i] + post[i];
    uint32_t xin = x->value;
    tensor_layout layout = x->layout;
    int rank = x->shape.rank;
    tensor *y;
    if ((rc = fc_nnt_act_output(c, &s, layout, &y)) < 0) return rc;
    fc_nn_op *op = fc_nnt_new_op(c, FC_NN_OP_PAD);
    if (!op) return fc_nnt_fail(c, -ENOMEM, "out of memory");
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
    if ((rc = fc_nnt_const_input(c, 0, false, &s)) < 0) return rc;
    if (s->shape.rank != 1 || s->shape.dims[0] > FC_NN_MAX_RANK)
        return fc_nnt_fail(c, -ENOTSUP, "shape input '%s' must list at most %d dimensions", s->name,
                           FC_NN_MAX_RANK);
    fc_nn_shape shape = {(int)s->shape.dims[0], {0}};
    memcpy(shape.dims, s->i64, (size_t)shape.rank * sizeof *shape.dims);
    if ((rc = fc_nnt_check_shape(c, "output", &shape)) < 0) return rc;
    float fill = 0.0f;
    const Onnx__AttributeProto *a = fc_nnt_attr(c->node, "value");
    if (a) {
        const Onnx__TensorProto *t = a->t;
        if (!t || t->data_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            return fc_nnt_fail(c, -ENOTSUP, "value must be a float tensor");
        if (t->n_float_data == 1)
            fill = t->float_data[0];
        else if (t->raw_data.len == 4)
            memcpy(&fill, t->raw_data.data, 4);
        else
            return fc_nnt_fail(c, -EINVAL, "value must hold one float");
    }
    const Onnx__NodeProto *n = c->node;
    if (n->n_output < 1 || !n->output[0] || fc_nnt_find(c, n->output[0]))
        return fc_nnt_fail(c, -EINVAL, "missing or duplicate output");
    tensor *t = fc_nnt_add_tensor(c, n->output[0]);
    if (!t) return fc_nnt_fail(c, -ENOMEM, "out of memory");
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
    if ((rc = fc_nnt_attr_int(c, "axis", 0, &axis)) < 0) return rc;
    tensor *x = NULL;
    int64_t pre[FC_NN_MAX_RANK] = {0}, post[FC_NN_MAX_RANK] = {0};
    bool have_fill = false;
    float fill = 0.0f;
    for (size_t i = 0; i < c->node->n_input; i++) {
        tensor *t;
        if ((rc = fc_nnt_input(c, i, &t)) < 0) return rc;
        if (t->kind == T_CONST)
            return fc_nnt_fail(c, -ENOTSUP, "constant input '%s' is not supported", t->name);
        if (t->kind == T_ACT) {
            if (x)
                return fc_nnt_fail(c, -ENOTSUP,
                                   "joining two computed tensors ('%s', '%s') is not "
                                   "supported; only padding with ConstantOfShape",
                                   x->name, t->name);
            x = t;
            continue;
        }
        if (have_fill && t->fill != fill)
            return fc_nnt_fail(c, -ENOTSUP, "fills with different values");
        have_fill = true;
        fill = t->fill;
    }
    if (!x) return fc_nnt_fail(c, -ENOTSUP, "no computed input");
    int rank = x->shape.rank;
    if (axis < -rank || axis >= rank)
        return fc_nnt_fail(c, -EINVAL, "axis %lld out of range", (long long)axis);
    if (axis < 0) axis += rank;
    bool before = true;
    for (size_t i = 0; i < c->node->n_input; i++) {
        tensor *t = fc_nnt_find(c, c->node->input[i]);
        if (t == x) {
            before = false;
            continue;
        }
        if (t->shape.rank != rank)
            return fc_nnt_fail(c, -EINVAL, "input '%s' has another rank", t->name);
        /* In a resized model a fill's constant shape was written for the
         * declared size; it pads whatever the computed input now is. */
        for (int d = 0; d < rank; d++)
            if (d != axis && t->shape.dims[d] != x->shape.dims[d] && !c->resize)
                return fc_nnt_fail(c, -EINVAL, "input '%s' differs outside the concat axis",
                                   t->name);
        (before ? pre : post)[axis] += t->shape.dims[axis];
    }
    return emit_pad(c, x, pre, post, fill);
}

static int tr_pad(ctx *c)
{
    tensor *x;
    int rc;
    if ((rc = fc_nnt_act_input(c, 0, &x)) < 0) return rc;
    char mode[32];
    const char *md = fc_nnt_attr_str(c->node, "mode", mode, sizeof mode);
    if (md && strcmp(md, "constant") != 0)
        return fc_nnt_fail(c, -ENOTSUP, "mode %s is not supported (only constant)", md);
    int rank = x->shape.rank;
    int64_t pads[2 * FC_NN_MAX_RANK];
    float value = 0.0f;
    if (c->node->n_input > 1) { /* opset >= 11: pads and value are inputs */
        tensor *p, *v;
        if ((rc = fc_nnt_const_input(c, 1, false, &p)) < 0) return rc;
        if (p->shape.rank != 1 || p->shape.dims[0] != 2 * rank)
            return fc_nnt_fail(c, -EINVAL, "pads '%s' must hold %d values", p->name, 2 * rank);
        memcpy(pads, p->i64, (size_t)(2 * rank) * sizeof *pads);
        if (c->node->n_input > 2 && c->node->input[2] && c->node->input[2][0]) {
            if ((rc = fc_nnt_const_input(c, 2, true, &v)) < 0) return rc;
            if (fc_nn_shape_elements(&v->shape) != 1)
                return fc_nnt_fail(c, -EINVAL, "constant_value must be a scalar");
            value = v->f[0];
        }
        if (c->node->n_input > 3)
            return fc_nnt_fail(c, -ENOTSUP, "the axes input is not supported");
    } else {
        if ((rc = fc_nnt_attr_ints(c, "pads", (size_t)(2 * rank), 0, pads)) < 0) return rc;
        const Onnx__AttributeProto *a = fc_nnt_attr(c->node, "value");
        if (a) value = a->f;
    }
    for (int i = 0; i < 2 * rank; i++)
        if (pads[i] < 0 || pads[i] > 4096)
            return fc_nnt_fail(c, -ENOTSUP, "negative or huge pads are not supported");
    return emit_pad(c, x, pads, pads + rank, value);
}

static int tr_reshape(ctx *c)
{
    tensor *x, *s;
    int rc;
    if ((rc = fc_nnt_act_input(c, 0, &x)) < 0 || (rc = fc_nnt_const_input(c, 1, false, &s)) < 0)
        return rc;
    int64_t allowzero;
    if ((rc = fc_nnt_attr_int(c, "allowzero", 0, &allowzero)) < 0) return rc;
    if (s->shape.rank != 1 || s->shape.dims[0] > FC_NN_MAX_RANK)
        return fc_nnt_fail(c, -ENOTSUP, "shape '%s' must list at most %d dimensions", s->name,
                           FC_NN_MAX_RANK);
    fc_nn_shape ns = {(int)s->shape.dims[0], {0}};
    int infer = -1;
    size_t known = 1, total = fc_nn_shape_elements(&x->shape);
    for (int i = 0; i < ns.rank; i++) {
        int64_t d = s->i64[i];
        if (d == 0 && !allowzero) {
            if (i >= x->shape.rank)
                return fc_nnt_fail(c, -EINVAL, "dimension %d copies a dimension the input lacks",
                                   i);
            d = x->shape.dims[i];
        }
        if (d == -1) {
            if (infer >= 0) return fc_nnt_fail(c, -EINVAL, "more than one -1 in the shape");
            infer = i;
            continue;
        }
        if (d < 1 || (uint64_t)d > FC_NNT_MAX_ELEMENTS)
            return fc_nnt_fail(c, -EINVAL, "dimension %d is %lld", i, (long long)d);
        ns.dims[i] = d;
        known *= (size_t)d;
        if (known > FC_NNT_MAX_ELEMENTS) return fc_nnt_fail(c, -EINVAL, "shape too large");
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
        if (known == 0 || total % known)
            return fc_nnt_fail(c, -EINVAL, "cannot infer the -1 dimension");
        ns.dims[infer] = (int64_t)(total / known);
        known *= (size_t)ns.dims[infer];
    }
    if (known != total) return fc_nnt_fail(c, -EINVAL, "reshape changes the element count");
    /* An NCHW tensor with one channel or one pixel has the same bytes in NHWC. */
    bool plain =
        x->layout == L_PLAIN || x->shape.dims[1] == 1 || x->shape.dims[2] * x->shape.dims[3] == 1;
    if (!plain)
        return fc_nnt_fail(c, -ENOTSUP,
                           "reshaping NCHW tensor '%s' needs a transpose, which this "
                           "XNNPACK lacks",
                           x->name);
    return fc_nnt_alias_output(c, x, &ns, L_PLAIN);
}

static int tr_transpose(ctx *c)
{
    tensor *x;
    int rc;
    if ((rc = fc_nnt_act_input(c, 0, &x)) < 0) return rc;
    int rank = x->shape.rank;
    int64_t perm[FC_NN_MAX_RANK];
    if (fc_nnt_attr(c->node, "perm")) {
        if ((rc = fc_nnt_attr_ints(c, "perm", (size_t)rank, 0, perm)) < 0) return rc;
    } else {
        for (int i = 0; i < rank; i++)
            perm[i] = rank - 1 - i;
    }
    fc_nn_shape s = {rank, {0}};
    bool identity = true;
    for (int i = 0; i < rank; i++) {
        if (perm[i] < 0 || perm[i] >= rank) return fc_nnt_fail(c, -EINVAL, "perm out of range");
        s.dims[i] = x->shape.dims[perm[i]];
        identity = identity && perm[i] == i;
    }
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    if (identity) return fc_nnt_alias_output(c, x, &s, x->layout);
    if (rank == 4 && x->layout == L_PLAIN && !memcmp(perm, to_nchw, sizeof to_nchw))
        return fc_nnt_alias_output(c, x, &s, L_NCHW_AS_NHWC);
    if (rank == 4 && x->layout == L_NCHW_AS_NHWC && !memcmp(perm, to_nhwc, sizeof to_nhwc))
        return fc_nnt_alias_output(c, x, &s, L_PLAIN);
    return fc_nnt_fail(c, -ENOTSUP,
                       "this permutation moves bytes; only NHWC<->NCHW relabelling is "
                       "supported (this XNNPACK has no transpose)");
}

const fc_nnt_rule fc_nnt_rules[] = {
    {"Conv", tr_conv},       {"Relu", tr_relu},       {"Add", tr_add},
    {"MaxPool", tr_maxpool}, {"Concat", tr_concat},   {"ConstantOfShape", tr_constant_of_shape},
    {"Pad", tr_pad},         {"Reshape", tr_reshape}, {"Transpose", tr_transpose},
};

const size_t fc_nnt_rule_count = sizeof fc_nnt_rules / sizeof *fc_nnt_rules;
