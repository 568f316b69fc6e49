/* Graph rewrites after translation (nn_ir.h: fc_nn_fuse). Each one removes a
 * pass over memory: an op folded into another reads and writes nothing of
 * its own. They only fold a value that nothing else reads and that is not a
 * graph output, so every other op sees the same values as before. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/kernels.h"
#include "analysis/nn/nn_ir.h"

/* Who produces and how many ops read each value, for the current op list. */
typedef struct graph {
    uint32_t *readers;
    int *producer;
    bool *dropped; /* per op */
} graph;

static int graph_new(const fc_nn_model *m, graph *g, char *err, size_t errlen)
{
    g->readers = calloc(m->nvalues ? m->nvalues : 1, sizeof *g->readers);
    g->producer = malloc((m->nvalues ? m->nvalues : 1) * sizeof *g->producer);
    g->dropped = calloc(m->nops ? m->nops : 1, sizeof *g->dropped);
    if (!g->readers || !g->producer || !g->dropped) {
        free(g->readers), free(g->producer), free(g->dropped);
        snprintf(err, errlen, "out of memory rewriting the graph");
        return -ENOMEM;
    }
    for (uint32_t v = 0; v < m->nvalues; v++)
        g->producer[v] = -1;
    for (size_t i = 0; i < m->nops; i++) {
        uint32_t ids[6];
        int n = fc_nn_op_reads(&m->ops[i], ids);
        for (int k = 0; k < n; k++)
            g->readers[ids[k]]++;
        g->producer[m->ops[i].out] = (int)i;
    }
    return 0;
}

/* Drops the ops marked dropped, keeping the order of the rest. */
static void graph_compact(fc_nn_model *m, graph *g)
{
    size_t w = 0;
    for (size_t i = 0; i < m->nops; i++) {
        if (g->dropped[i]) {
            free(m->ops[i].node);
            continue;
        }
        m->ops[w++] = m->ops[i];
    }
    m->nops = w;
    free(g->readers), free(g->producer), free(g->dropped);
}

/* A value only `op`'s consumer reads: it may disappear into it. */
static bool private_value(const fc_nn_model *m, const graph *g, uint32_t v)
{
    return g->readers[v] == 1 && m->values[v].flags == 0;
}

/* The op producing `v`, if it is of `kind` and not folded away yet. */
static fc_nn_op *producer_of(fc_nn_model *m, const graph *g, uint32_t v, fc_nn_op_kind kind)
{
    int p = g->producer[v];
    return p >= 0 && !g->dropped[p] && m->ops[p].kind == kind ? &m->ops[p] : NULL;
}

/* Relu (CLAMP) into the op producing its input: one op instead of two. */
static int fuse_clamps(fc_nn_model *m, char *err, size_t errlen)
{
    graph g;
    int rc = graph_new(m, &g, err, errlen);
    if (rc < 0) return rc;
    for (size_t i = 0; i < m->nops; i++) {
        fc_nn_op *op = &m->ops[i];
        if (op->kind != FC_NN_OP_CLAMP || !private_value(m, &g, op->in[0])) continue;
        int p = g.producer[op->in[0]];
        if (p < 0 || g.dropped[p]) continue;
        fc_nn_op *prod = &m->ops[p];
        if (prod->kind != FC_NN_OP_CONV && prod->kind != FC_NN_OP_DWCONV &&
            prod->kind != FC_NN_OP_ADD && prod->kind != FC_NN_OP_MAXPOOL)
            continue;
        prod->out_min = fmaxf(prod->out_min, op->out_min);
        prod->out_max = fminf(prod->out_max, op->out_max);
        prod->out = op->out;
        g.producer[op->out] = p;
        g.dropped[i] = true;
    }
    graph_compact(m, &g);
    return 0;
}

/* "Pad channels with zeros, then Add" into one ADD_NARROW reading the
 * unpadded tensor: BlazeFace's residual connections widen this way, and
 * XNNPACK's pad cost more than the Add. */
static int fuse_channel_pads(fc_nn_model *m, char *err, size_t errlen)
{
    graph g;
    int rc = graph_new(m, &g, err, errlen);
    if (rc < 0) return rc;
    for (size_t i = 0; i < m->nops; i++) {
        fc_nn_op *op = &m->ops[i];
        if (op->kind != FC_NN_OP_ADD) continue;
        const fc_nn_value *y = &m->values[op->out];
        for (int k = 0; k < 2; k++) {
            const fc_nn_op *pad = producer_of(m, &g, op->in[k], FC_NN_OP_PAD);
            const fc_nn_value *full = &m->values[op->in[1 - k]];
            const fc_nn_value *padded = &m->values[op->in[k]];
            if (!pad || y->rank != 4 || full->rank != 4 || !private_value(m, &g, op->in[k]) ||
                memcmp(full->dims, y->dims, sizeof y->dims) != 0 ||
                memcmp(padded->dims, y->dims, sizeof y->dims) != 0)
                continue;
            bool channels_only = pad->pad_value == 0.0f && pad->pre[3] == 0;
            for (int d = 0; d < 3 && channels_only; d++)
                channels_only = pad->pre[d] == 0 && pad->post[d] == 0;
            if (!channels_only) continue;
            g.dropped[pad - m->ops] = true;
            op->kind = FC_NN_OP_ADD_NARROW;
            uint32_t full_id = op->in[1 - k];
            op->in[1] = pad->in[0];
            op->in[0] = full_id;
            break;
        }
    }
    graph_compact(m, &g);
    return 0;
}

static bool same_dims(const fc_nn_value *a, const fc_nn_value *b)
{
    return a->rank == b->rank && !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof *a->dims);
}

/* The residual `r` added to conv output `y` in the fused op: a value of
 * y's height and width with at most its channels, or (folding the max pool
 * producing it) such a pool's input. */
static void fold_residual(fc_nn_model *m, graph *g, fc_nn_op *conv, uint32_t r)
{
    const fc_nn_value *y = &m->values[conv->out], *rv = &m->values[r];
    if (rv->rank != 4 || rv->dims[0] != 1 || rv->dims[1] != y->dims[1] ||
        rv->dims[2] != y->dims[2] || rv->dims[3] > y->dims[3])
        return;
    conv->res = r;
    fc_nn_op *pool = producer_of(m, g, r, FC_NN_OP_MAXPOOL);
    if (pool && private_value(m, g, r) && fc_nn_kernel_supported(m, pool) &&
        pool->out_min == -INFINITY && pool->out_max == INFINITY) {
        conv->res = pool->in[0];
        conv->res_pool = true;
        g->dropped[pool - m->ops] = true;
    }
}

/* Every convolution our kernels run becomes FC_NN_OP_FUSED, taking with it
 * the depthwise convolution that feeds it (BlazeFace's blocks are depthwise
 * 3x3 then pointwise 1x1) and the Add its output goes to, with that Add's
 * clamp. The fused op runs where the Add ran, which every input of the
 * group has been computed by. */
static int fuse_convs(fc_nn_model *m, char *err, size_t errlen)
{
    graph g;
    int rc = graph_new(m, &g, err, errlen);
    if (rc < 0) return rc;
    /* The one reader of each value read once. */
    int *reader = malloc((m->nvalues ? m->nvalues : 1) * sizeof *reader);
    if (!reader) {
        graph_compact(m, &g);
        snprintf(err, errlen, "out of memory rewriting the graph");
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->nops; i++) {
        uint32_t ids[6];
        int n = fc_nn_op_reads(&m->ops[i], ids);
        for (int k = 0; k < n; k++)
            reader[ids[k]] = (int)i;
    }
    for (size_t i = 0; i < m->nops; i++) {
        fc_nn_op *op = &m->ops[i];
        if (op->kind != FC_NN_OP_CONV || !fc_nn_kernel_conv_supported(m, op)) continue;
        op->kind = FC_NN_OP_FUSED;
        op->res = FC_NN_NO_VALUE;
        const bool pointwise = op->kernel[0] == 1 && op->kernel[1] == 1 && op->stride[0] == 1 &&
                               op->stride[1] == 1 && !op->pad[0] && !op->pad[1] && !op->pad[2] &&
                               !op->pad[3];
        fc_nn_op *dw = producer_of(m, &g, op->in[0], FC_NN_OP_DWCONV);
        if (pointwise && dw && private_value(m, &g, op->in[0]) && fc_nn_kernel_supported(m, dw)) {
            op->has_dw = true;
            op->dw_filter = dw->in[1], op->dw_bias = dw->in[2], op->dw_stride = dw->stride[0];
            memcpy(op->dw_pad, dw->pad, sizeof op->dw_pad);
            op->dw_min = dw->out_min, op->dw_max = dw->out_max;
            op->in[0] = dw->in[0];
            g.dropped[dw - m->ops] = true;
        }
        if (op->out_min != -INFINITY || op->out_max != INFINITY || !private_value(m, &g, op->out))
            continue;
        fc_nn_op *add = &m->ops[reader[op->out]];
        const fc_nn_value *y = &m->values[op->out];
        uint32_t other;
        if (add->kind == FC_NN_OP_ADD && add->in[0] != add->in[1] &&
            same_dims(&m->values[add->in[0]], y) && same_dims(&m->values[add->in[1]], y))
            other = add->in[0] == op->out ? add->in[1] : add->in[0];
        else if (add->kind == FC_NN_OP_ADD_NARROW && add->in[0] == op->out)
            other = add->in[1];
        else
            continue;
        fold_residual(m, &g, op, other);
        if (op->res == FC_NN_NO_VALUE) continue;
        op->out = add->out;
        op->out_min = add->out_min, op->out_max = add->out_max;
        g.producer[op->out] = (int)(add - m->ops);
        /* The group takes the Add's place, named after its convolution. */
        free(add->node);
        *add = *op;
        op->node = NULL;
        g.dropped[i] = true;
    }
    free(reader);
    graph_compact(m, &g);
    return 0;
}

int fc_nn_fuse(fc_nn_model *m, char *err, size_t errlen)
{
    int rc = fuse_clamps(m, err, errlen);
    if (rc == 0) rc = fuse_channel_pads(m, err, errlen);
    if (rc == 0) rc = fuse_convs(m, err, errlen);
    return rc;
}
