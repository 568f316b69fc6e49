/* See kernels.h: which operators our kernels take, and preparing them for
 * one ISA (geometry, packed weights). The arithmetic is in kernels_impl.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/nn/kernels.h"
#include "analysis/nn/kernels_isa.h"

/* Bounds a convolution's patch (kernel height x width x input channels), so
 * a chunk's im2col scratch stays small. BlazeFace's largest is 5x5x3. */
#define MAX_PATCH 4096
/* Floats of A a chunk of output pixels aims at: the chunk's depthwise output
 * or patches stay in L1 while every group of output channels reads them. */
#define CHUNK_FLOATS 4096

struct fc_nn_kernel {
    const fc_nn_isa_kernels *isa;
    fc_nn_op_kind kind;
    uint32_t in0, in1, res, out;
    fc_nn_conv conv;
    fc_nn_dw dw;
    fc_nn_pool pool;
    size_t pixels, C, CB; /* FC_NN_OP_ADD_NARROW */
    float lo, hi;
    float *panels;
};

static bool image(const fc_nn_value *v)
{
    return v->rank == 4 && v->dims[0] == 1;
}

static bool dw_supported(const fc_nn_model *m, const fc_nn_op *op)
{
    const fc_nn_value *x = &m->values[op->in[0]];
    if (op->group_out != 1 || !image(x) || !m->values[op->in[1]].data || !m->values[op->in[2]].data)
        return false;
    if (op->kernel[0] != 3 || op->kernel[1] != 3 || op->dilation[0] != 1 || op->dilation[1] != 1)
        return false;
    if (op->stride[0] != op->stride[1] || op->stride[0] < 1 || op->stride[0] > 2) return false;
    for (int i = 0; i < 4; i++)
        if (op->pad[i] > 1) return false;
    return true;
}

static bool pool_supported(const fc_nn_model *m, const fc_nn_op *op)
{
    if (!image(&m->values[op->in[0]])) return false;
    for (int i = 0; i < 2; i++)
        if (op->kernel[i] != 2 || op->stride[i] != 2 || op->dilation[i] != 1) return false;
    return !op->pad[0] && !op->pad[1] && !op->pad[2] && !op->pad[3];
}

bool fc_nn_kernel_conv_supported(const fc_nn_model *m, const fc_nn_op *op)
{
    const fc_nn_value *x = &m->values[op->in[0]];
    return op->kind == FC_NN_OP_CONV && op->groups == 1 && image(x) && m->values[op->in[1]].data &&
           m->values[op->in[2]].data &&
           (size_t)op->kernel[0] * op->kernel[1] * x->dims[3] <= MAX_PATCH;
}

bool fc_nn_kernel_supported(const fc_nn_model *m, const fc_nn_op *op)
{
    switch (op->kind) {
    case FC_NN_OP_ADD_NARROW:
    case FC_NN_OP_FUSED:
        return true;
    case FC_NN_OP_DWCONV:
        return dw_supported(m, op);
    case FC_NN_OP_MAXPOOL:
        return pool_supported(m, op);
    default:
        return false;
    }
}

static const fc_nn_isa_kernels *table(fc_nn_isa isa)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == FC_NN_ISA_AVX512) return &fc_nn_kernels_avx512;
    if (isa == FC_NN_ISA_AVX2) return &fc_nn_kernels_avx2;
#else
    (void)isa;
#endif
    return &fc_nn_kernels_scalar;
}

static void dw_geometry(const fc_nn_value *x, const fc_nn_value *y, uint32_t stride,
                        const uint32_t *pad, const float *filter, const float *bias, float lo,
                        float hi, fc_nn_dw *d)
{
    *d = (fc_nn_dw){.H = (long)x->dims[1],
                    .W = (long)x->dims[2],
                    .C = (long)x->dims[3],
                    .OH = (long)y->dims[1],
                    .OW = (long)y->dims[2],
                    .stride = stride,
                    .pt = pad[0],
                    .pl = pad[3],
                    .filter = filter,
                    .bias = bias,
                    .lo = lo,
                    .hi = hi};
}

/* Output channel vectors, split into groups of at most FC_NN_GROUP_MAX as
 * evenly as possible, and each group's panel. */
static int pack(fc_nn_kernel *k, const float *filter, const float *bias, int V)
{
    fc_nn_conv *c = &k->conv;
    const long N = c->N, K = c->K;
    const int nv = N >= V ? (int)((N + V - 1) / V) : 1;
    c->ngroups = (nv + FC_NN_GROUP_MAX - 1) / FC_NN_GROUP_MAX;
    c->group = calloc((size_t)c->ngroups, sizeof *c->group);
    size_t panel = (size_t)(1 + K) * V, total = 0;
    if (!c->group) return -ENOMEM;
    for (int gi = 0, j = 0; gi < c->ngroups; gi++) {
        fc_nn_group *g = &c->group[gi];
        g->nv = nv / c->ngroups + (gi < nv % c->ngroups);
        g->nstore = N >= V ? V : (int)N;
        g->whole = g->nstore == V;
        for (int i = 0; i < g->nv; i++, j++) {
            g->col[i] = N >= V && (long)(j + 1) * V > N ? N - V : (long)j * V;
            long nres = c->has_res ? c->CR - g->col[i] : 0;
            g->nres[i] = nres < 0 ? 0 : nres > V ? V : (int)nres;
            if (c->has_res && g->nres[i] != V) g->whole = false;
        }
        total += panel * (size_t)g->nv;
    }
    k->panels = aligned_alloc(64, (total * sizeof(float) + 63) & ~(size_t)63);
    if (!k->panels) return -ENOMEM;
    float *p = k->panels;
    for (int gi = 0; gi < c->ngroups; gi++) {
        fc_nn_group *g = &c->group[gi];
        g->panel = p;
        for (long r = -1; r < K; r++)
            for (int i = 0; i < g->nv; i++)
                for (int l = 0; l < V; l++, p++) {
                    const long o = g->col[i] + l;
                    *p = o >= N ? 0.0f : r < 0 ? bias[o] : filter[o * K + r];
                }
    }
    return 0;
}

static int conv_new(const fc_nn_model *m, const fc_nn_op *op, fc_nn_kernel *k, size_t *scratch)
{
    fc_nn_conv *c = &k->conv;
    const fc_nn_value *x = &m->values[op->in[0]], *y = &m->values[op->out];
    const int V = k->isa->vec;
    c->OH = (long)y->dims[1], c->OW = (long)y->dims[2], c->N = (long)y->dims[3];
    if (op->has_dw) {
        c->src = FC_NN_A_DW;
        fc_nn_value mid = *y;
        mid.dims[3] = x->dims[3];
        dw_geometry(x, &mid, op->dw_stride, op->dw_pad, m->values[op->dw_filter].data,
                    m->values[op->dw_bias].data, op->dw_min, op->dw_max, &c->dw);
        c->H = c->OH, c->W = c->OW, c->C = (long)x->dims[3];
    } else {
        c->H = (long)x->dims[1], c->W = (long)x->dims[2], c->C = (long)x->dims[3];
        bool one = op->kernel[0] == 1 && op->kernel[1] == 1 && op->stride[0] == 1 &&
                   op->stride[1] == 1 && !op->pad[0] && !op->pad[1] && !op->pad[2] && !op->pad[3];
        c->src = one                                            ? FC_NN_A_DIRECT
                 : op->dilation[0] == 1 && op->dilation[1] == 1 ? FC_NN_A_WINDOW
                                                                : FC_NN_A_IM2COL;
    }
    c->kh = op->kernel[0], c->kw = op->kernel[1], c->sh = op->stride[0], c->sw = op->stride[1];
    c->dy = op->dilation[0], c->dx = op->dilation[1], c->pt = op->pad[0], c->pl = op->pad[3];
    c->K = c->kh * c->kw * c->C;
    c->lo = op->out_min, c->hi = op->out_max;
    if (op->res != FC_NN_NO_VALUE) {
        const fc_nn_value *r = &m->values[op->res];
        c->has_res = true, c->res_pool = op->res_pool;
        c->CR = (long)r->dims[3], c->RW = (long)r->dims[2];
    }
    size_t need = 0;
    if (c->src == FC_NN_A_DW) {
        long rows = CHUNK_FLOATS / (c->OW * c->C);
        rows = rows < 1 ? 1 : rows > c->OH ? c->OH : rows;
        c->chunk = rows * c->OW;
        need = (size_t)(c->chunk * c->C);
    } else {
        c->chunk = CHUNK_FLOATS / c->K;
        if (c->chunk < 64) c->chunk = 64;
        if (c->src != FC_NN_A_DIRECT) need = (size_t)(c->chunk * c->K);
    }
    if (need > *scratch) *scratch = need;
    return pack(k, m->values[op->in[1]].data, m->values[op->in[2]].data, V);
}

int fc_nn_kernel_new(const fc_nn_model *m, const fc_nn_op *op, fc_nn_isa isa, fc_nn_kernel **out,
                     size_t *scratch, char *err, size_t errlen)
{
    *out = NULL;
    fc_nn_kernel *k = calloc(1, sizeof *k);
    if (!k) {
        snprintf(err, errlen, "out of memory for node '%s'", op->node);
        return -ENOMEM;
    }
    k->isa = table(isa);
    k->kind = op->kind;
    k->in0 = op->in[0], k->in1 = op->in[1], k->res = op->res, k->out = op->out;
    k->lo = op->out_min, k->hi = op->out_max;
    const fc_nn_value *x = &m->values[op->in[0]], *y = &m->values[op->out];
    int rc = 0;
    switch (op->kind) {
    case FC_NN_OP_FUSED:
        rc = conv_new(m, op, k, scratch);
        break;
    case FC_NN_OP_DWCONV:
        dw_geometry(x, y, op->stride[0], op->pad, m->values[op->in[1]].data,
                    m->values[op->in[2]].data, op->out_min, op->out_max, &k->dw);
        break;
    case FC_NN_OP_MAXPOOL:
        k->pool = (fc_nn_pool){.H = (long)x->dims[1],
                               .W = (long)x->dims[2],
                               .C = (long)x->dims[3],
                               .OH = (long)y->dims[1],
                               .OW = (long)y->dims[2],
                               .lo = op->out_min,
                               .hi = op->out_max};
        break;
    case FC_NN_OP_ADD_NARROW:
        k->C = y->dims[y->rank - 1];
        k->CB = m->values[op->in[1]].dims[y->rank - 1];
        k->pixels = 1;
        for (int i = 0; i < y->rank - 1; i++)
            k->pixels *= y->dims[i];
        break;
    default:
        rc = -EINVAL;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s for node '%s'",
                 rc == -ENOMEM ? "out of memory" : "no kernel of ours", op->node);
        fc_nn_kernel_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void fc_nn_kernel_run(const fc_nn_kernel *k, float *const *vbuf, float *scratch)
{
    switch (k->kind) {
    case FC_NN_OP_FUSED:
        k->isa->conv(&k->conv, vbuf[k->in0], k->conv.has_res ? vbuf[k->res] : NULL, vbuf[k->out],
                     scratch);
        break;
    case FC_NN_OP_DWCONV:
        k->isa->dwconv(&k->dw, vbuf[k->in0], vbuf[k->out], 0, k->dw.OH);
        break;
    case FC_NN_OP_MAXPOOL:
        k->isa->maxpool(&k->pool, vbuf[k->in0], vbuf[k->out]);
        break;
    case FC_NN_OP_ADD_NARROW:
        k->isa->add_narrow(k->pixels, k->C, k->CB, k->lo, k->hi, vbuf[k->in0], vbuf[k->in1],
                           vbuf[k->out]);
        break;
    default:
        break;
    }
}

void fc_nn_kernel_describe(const fc_nn_kernel *k, char *buf, size_t len, double *macs)
{
    const fc_nn_conv *c = &k->conv;
    switch (k->kind) {
    case FC_NN_OP_FUSED:
        *macs = (double)(c->OH * c->OW) * (double)(c->N * c->K);
        if (c->src == FC_NN_A_DW) *macs += (double)(c->OH * c->OW * c->C * 9);
        snprintf(buf, len, "%s%s%ldx%ld/%ld conv%s  %ldx%ldx%ld -> %ldx%ldx%ld",
                 c->src == FC_NN_A_DW ? "dw3x3/" : "",
                 c->src == FC_NN_A_DW ? (c->dw.stride == 2 ? "2 + " : "1 + ") : "", c->kh, c->kw,
                 c->sh, c->has_res ? (c->res_pool ? " + pool + add" : " + add") : "",
                 c->src == FC_NN_A_DW ? c->dw.H : c->H, c->src == FC_NN_A_DW ? c->dw.W : c->W, c->C,
                 c->OH, c->OW, c->N);
        break;
    case FC_NN_OP_DWCONV:
        *macs = (double)(k->dw.OH * k->dw.OW * k->dw.C * 9);
        snprintf(buf, len, "dw3x3/%ld  %ldx%ldx%ld -> %ldx%ldx%ld", k->dw.stride, k->dw.H, k->dw.W,
                 k->dw.C, k->dw.OH, k->dw.OW, k->dw.C);
        break;
    case FC_NN_OP_MAXPOOL:
        *macs = 0;
        snprintf(buf, len, "maxpool2x2  %ldx%ldx%ld", k->pool.H, k->pool.W, k->pool.C);
        break;
    default:
        *macs = 0;
        snprintf(buf, len, "add (narrow)  %zu px x %zu + %zu", k->pixels, k->C, k->CB);
        break;
    }
}

void fc_nn_kernel_free(fc_nn_kernel *k)
{
    if (!k) return;
    free(k->conv.group);
    free(k->panels);
    free(k);
}
