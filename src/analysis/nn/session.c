/* Translated graph -> our kernels and XNNPACK runtimes, one set per session.
 *
 * The ops run in model order as segments: each op kernels.c runs is a
 * segment of its own (prepared for the session's ISA, with its own packed
 * weights), and a maximal run of the other ops is one XNNPACK runtime.
 * Values crossing a segment boundary are external to the runtimes and live
 * in session buffers, reused once their last reader has run; everything else
 * stays in XNNPACK's own planned arena. XNNPACK is initialised only when a
 * model needs it.
 *
 * Every value keeps its index as its XNNPACK id (each subgraph reserves all of
 * them as external ids), so ops can be emitted without a mapping table. A
 * subgraph is deleted as soon as its runtime exists; the runtime packs its own
 * copy of the weights. No thread pool is passed: inference runs on the caller's
 * thread and nothing waits or spins between runs. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xnnpack.h>

#include "analysis/nn/kernels.h"
#include "analysis/nn/nn_ir.h"

typedef struct segment {
    size_t first, end;  /* ops [first, end) */
    xnn_runtime_t rt;   /* XNNPACK's, or */
    fc_nn_kernel *kern; /* the single op runs on kernels.c */
    char what[80];      /* for profiles */
    double macs;
} segment;

struct fc_nn_session {
    const fc_nn_model *m;
    segment *seg;
    size_t nseg;
    float **vbuf;  /* per value: its buffer when external to the runtimes, else NULL */
    float **owned; /* buffers to free: graph inputs and outputs, boundary slots */
    size_t nowned;
    float **nchw_out; /* per output: NCHW copy when the value is NHWC, else NULL */
    fc_nn_isa isa;
    float *scratch; /* kernels' scratch, shared: one op runs at a time */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum xnn_status init_status;

static void init_xnnpack(void)
{
    init_status = xnn_initialize(NULL);
}

static int xnn_init(char *err, size_t errlen)
{
    pthread_once(&init_once, init_xnnpack);
    if (init_status != xnn_status_success) {
        snprintf(err, errlen, "XNNPACK initialisation failed (status %d%s)", (int)init_status,
                 init_status == xnn_status_unsupported_hardware ? ": unsupported CPU" : "");
        return -ENOTSUP;
    }
    return 0;
}

static size_t value_elements(const fc_nn_value *v)
{
    size_t n = 1;
    for (int i = 0; i < v->rank; i++)
        n *= v->dims[i];
    return n;
}

static enum xnn_status define_op(xnn_subgraph_t sg, const fc_nn_op *op)
{
    switch (op->kind) {
    case FC_NN_OP_CONV:
        return xnn_define_convolution_2d(sg, op->pad[0], op->pad[1], op->pad[2], op->pad[3],
                                         op->kernel[0], op->kernel[1], op->stride[0], op->stride[1],
                                         op->dilation[0], op->dilation[1], op->groups, op->group_in,
                                         op->group_out, op->out_min, op->out_max, op->in[0],
                                         op->in[1], op->in[2], op->out, 0);
    case FC_NN_OP_DWCONV:
        return xnn_define_depthwise_convolution_2d(
            sg, op->pad[0], op->pad[1], op->pad[2], op->pad[3], op->kernel[0], op->kernel[1],
            op->stride[0], op->stride[1], op->dilation[0], op->dilation[1], (uint32_t)op->group_out,
            op->groups, op->out_min, op->out_max, op->in[0], op->in[1], op->in[2], op->out, 0);
    case FC_NN_OP_ADD:
        return xnn_define_add2(sg, op->out_min, op->out_max, op->in[0], op->in[1], op->out, 0);
    case FC_NN_OP_MAXPOOL:
        return xnn_define_max_pooling_2d(sg, op->pad[0], op->pad[1], op->pad[2], op->pad[3],
                                         op->kernel[0], op->kernel[1], op->stride[0], op->stride[1],
                                         op->dilation[0], op->dilation[1], op->out_min, op->out_max,
                                         op->in[0], op->out, 0);
    case FC_NN_OP_PAD:
        return xnn_define_static_constant_pad(sg, op->pre, op->post, op->pad_value, op->in[0],
                                              op->out, 0);
    case FC_NN_OP_RESHAPE:
        return xnn_define_static_reshape(sg, (size_t)op->new_rank, op->new_shape, op->in[0],
                                         op->out, 0);
    case FC_NN_OP_CLAMP:
        return xnn_define_clamp(sg, op->out_min, op->out_max, op->in[0], op->out, 0);
    case FC_NN_OP_ADD_NARROW: /* kernels.c's, never in a subgraph */
    case FC_NN_OP_FUSED:
        break;
    }
    return xnn_status_invalid_parameter;
}

/* Segments in op order; seg_of[i] is op i's segment. */
static int plan_segments(fc_nn_session *s, size_t *seg_of)
{
    const fc_nn_model *m = s->m;
    s->seg = calloc(m->nops ? m->nops : 1, sizeof *s->seg);
    if (!s->seg) return -ENOMEM;
    for (size_t i = 0; i < m->nops; i++) {
        bool own = fc_nn_kernel_supported(m, &m->ops[i]);
        segment *last = s->nseg ? &s->seg[s->nseg - 1] : NULL;
        bool own_last = last && fc_nn_kernel_supported(m, &m->ops[last->first]);
        if (!last || own || own_last) s->seg[s->nseg++] = (segment){.first = i, .end = i};
        s->seg[s->nseg - 1].end = i + 1;
        seg_of[i] = s->nseg - 1;
    }
    return 0;
}

/* ext_flags[v] is non-zero for values external to the runtimes; in a given
 * runtime such a value is an output when one of its ops produces it. */
static int build_runtime(fc_nn_session *s, segment *g, const uint32_t *ext_flags, char *err,
                         size_t errlen)
{
    const fc_nn_model *m = s->m;
    xnn_subgraph_t sg = NULL;
    enum xnn_status st = xnn_create_subgraph(m->nvalues, 0, &sg);
    if (st != xnn_status_success) {
        snprintf(err, errlen, "XNNPACK: cannot create a subgraph (status %d)", (int)st);
        return -ENOMEM;
    }
    int rc = 0;
    /* Only the values this segment's ops touch; ids stay model-wide. */
    bool *defined = calloc(m->nvalues, sizeof *defined);
    if (!defined) rc = -ENOMEM, snprintf(err, errlen, "out of memory");
    for (size_t i = g->first; i < g->end && rc == 0; i++) {
        const fc_nn_op *op = &m->ops[i];
        uint32_t ids[7];
        int n = fc_nn_op_reads(op, ids + 1) + 1;
        ids[0] = op->out;
        for (int k = 0; k < n && rc == 0; k++) {
            uint32_t v = ids[k];
            if (defined[v]) continue;
            defined[v] = true;
            const fc_nn_value *val = &m->values[v];
            uint32_t id, flags = 0;
            if (ext_flags[v]) {
                flags = XNN_VALUE_FLAG_EXTERNAL_INPUT;
                for (size_t j = g->first; j < g->end; j++)
                    if (m->ops[j].out == v) flags = XNN_VALUE_FLAG_EXTERNAL_OUTPUT;
            }
            st = xnn_define_tensor_value(sg, xnn_datatype_fp32, (size_t)val->rank, val->dims,
                                         val->data, v, flags, &id);
            if (st != xnn_status_success) {
                snprintf(err, errlen, "XNNPACK rejected tensor %u (status %d)", v, (int)st);
                rc = -EINVAL;
            }
        }
    }
    free(defined);
    for (size_t i = g->first; i < g->end && rc == 0; i++) {
        st = define_op(sg, &m->ops[i]);
        if (st != xnn_status_success) {
            snprintf(err, errlen, "XNNPACK rejected node '%s' (status %d)", m->ops[i].node,
                     (int)st);
            rc = -EINVAL;
        }
    }
    if (rc == 0) {
        st = xnn_create_runtime_v2(sg, NULL, 0, &g->rt);
        if (st != xnn_status_success) {
            snprintf(err, errlen, "XNNPACK: cannot create a runtime (status %d)", (int)st);
            rc = st == xnn_status_out_of_memory ? -ENOMEM : -EINVAL;
        }
    }
    xnn_delete_subgraph(sg);
    return rc;
}

static float *own_buffer(fc_nn_session *s, size_t elements)
{
    /* XNNPACK kernels may read up to XNN_EXTRA_BYTES past a tensor. */
    size_t bytes = (elements * sizeof(float) + XNN_EXTRA_BYTES + 63) & ~(size_t)63;
    float *b = aligned_alloc(64, bytes);
    if (!b) return NULL;
    memset(b, 0, bytes);
    s->owned[s->nowned++] = b;
    return b;
}

/* Buffers for every value external to the runtimes. Graph inputs and outputs
 * get their own; values passed between segments share slots, a slot being
 * free again once the last op reading its value has run. */
static int bind_values(fc_nn_session *s, const size_t *seg_of, uint32_t *ext_flags)
{
    const fc_nn_model *m = s->m;
    size_t n = m->nvalues;
    size_t *producer = malloc(n * sizeof *producer), *last_use = calloc(n, sizeof *last_use);
    bool *boundary = calloc(n, sizeof *boundary);
    size_t *slot_of = malloc(n * sizeof *slot_of);
    size_t *slot_size = calloc(n, sizeof *slot_size), *slot_busy = calloc(n, sizeof *slot_busy);
    s->vbuf = calloc(n, sizeof *s->vbuf);
    s->owned = calloc(n, sizeof *s->owned);
    int rc = -ENOMEM;
    if (!producer || !last_use || !boundary || !slot_of || !slot_size || !slot_busy || !s->vbuf ||
        !s->owned)
        goto done;
    for (size_t v = 0; v < n; v++)
        producer[v] = SIZE_MAX;
    for (size_t i = 0; i < m->nops; i++)
        producer[m->ops[i].out] = i;
    for (size_t i = 0; i < m->nops; i++) {
        uint32_t ids[6];
        int nr = fc_nn_op_reads(&m->ops[i], ids);
        for (int k = 0; k < nr; k++) {
            uint32_t v = ids[k];
            last_use[v] = i;
            if (producer[v] != SIZE_MAX && seg_of[producer[v]] != seg_of[i]) boundary[v] = true;
        }
    }
    for (size_t v = 0; v < n; v++) {
        ext_flags[v] = m->values[v].flags;
        if (m->values[v].flags) {
            if (!(s->vbuf[v] = own_buffer(s, value_elements(&m->values[v])))) goto done;
        } else if (boundary[v]) {
            ext_flags[v] = 1;
        }
    }
    /* Values in the order they are produced, each into the first free slot. */
    size_t nslots = 0;
    for (size_t i = 0; i < m->nops; i++) {
        uint32_t v = m->ops[i].out;
        if (!boundary[v] || m->values[v].flags) continue;
        size_t k = 0;
        while (k < nslots && slot_busy[k] >= i)
            k++;
        if (k == nslots) nslots++;
        slot_of[v] = k;
        slot_busy[k] = last_use[v];
        size_t e = value_elements(&m->values[v]);
        if (e > slot_size[k]) slot_size[k] = e;
    }
    float **slot = calloc(nslots ? nslots : 1, sizeof *slot);
    if (!slot) goto done;
    rc = 0;
    for (size_t k = 0; k < nslots && rc == 0; k++)
        if (!(slot[k] = own_buffer(s, slot_size[k]))) rc = -ENOMEM;
    for (size_t v = 0; v < n && rc == 0; v++)
        if (boundary[v] && !m->values[v].flags) s->vbuf[v] = slot[slot_of[v]];
    free(slot);
done:
    free(producer);
    free(last_use);
    free(boundary);
    free(slot_of);
    free(slot_size);
    free(slot_busy);
    return rc;
}

static int setup_runtime(fc_nn_session *s, segment *g, const uint32_t *ext_flags, char *err,
                         size_t errlen)
{
    const fc_nn_model *m = s->m;
    struct xnn_external_value *ext = calloc(m->nvalues, sizeof *ext);
    bool *seen = calloc(m->nvalues, sizeof *seen);
    if (!ext || !seen) {
        free(ext);
        free(seen);
        snprintf(err, errlen, "out of memory for the session's tensors");
        return -ENOMEM;
    }
    size_t n = 0;
    for (size_t i = g->first; i < g->end; i++) {
        const fc_nn_op *op = &m->ops[i];
        uint32_t ids[7];
        int nr = fc_nn_op_reads(op, ids + 1) + 1;
        ids[0] = op->out;
        for (int k = 0; k < nr; k++)
            if (ext_flags[ids[k]] && !seen[ids[k]]) {
                seen[ids[k]] = true;
                ext[n++] = (struct xnn_external_value){.id = ids[k], .data = s->vbuf[ids[k]]};
            }
    }
    enum xnn_status st = xnn_setup_runtime(g->rt, n, ext);
    free(ext);
    free(seen);
    if (st != xnn_status_success) {
        snprintf(err, errlen, "XNNPACK: runtime setup failed (status %d)", (int)st);
        return -EINVAL;
    }
    return 0;
}

static int build(fc_nn_session *s, char *err, size_t errlen)
{
    const fc_nn_model *m = s->m;
    size_t *seg_of = malloc((m->nops ? m->nops : 1) * sizeof *seg_of);
    uint32_t *ext_flags = calloc(m->nvalues, sizeof *ext_flags);
    s->nchw_out = calloc((size_t)m->noutputs, sizeof *s->nchw_out);
    int rc = -ENOMEM;
    if (!seg_of || !ext_flags || !s->nchw_out || plan_segments(s, seg_of) < 0 ||
        bind_values(s, seg_of, ext_flags) < 0) {
        snprintf(err, errlen, "out of memory for the session's tensors");
        goto done;
    }
    for (int i = 0; i < m->noutputs; i++)
        if (m->outputs[i].nchw &&
            !(s->nchw_out[i] =
                  malloc(fc_nn_shape_elements(&m->outputs[i].shape) * sizeof(float)))) {
            snprintf(err, errlen, "out of memory for the session's tensors");
            goto done;
        }
    rc = 0;
    size_t scratch = 0;
    for (size_t k = 0; k < s->nseg && rc == 0; k++) {
        segment *g = &s->seg[k];
        if (fc_nn_kernel_supported(m, &m->ops[g->first])) {
            rc = fc_nn_kernel_new(m, &m->ops[g->first], s->isa, &g->kern, &scratch, err, errlen);
            if (rc == 0) fc_nn_kernel_describe(g->kern, g->what, sizeof g->what, &g->macs);
            continue;
        }
        snprintf(g->what, sizeof g->what, "XNNPACK, %zu op%s", g->end - g->first,
                 g->end - g->first == 1 ? "" : "s");
        rc = xnn_init(err, errlen);
        if (rc == 0) rc = build_runtime(s, g, ext_flags, err, errlen);
        if (rc == 0) rc = setup_runtime(s, g, ext_flags, err, errlen);
    }
    /* aligned_alloc wants a multiple of the alignment. */
    size_t scratch_bytes = (scratch * sizeof(float) + 63) & ~(size_t)63;
    if (rc == 0 && scratch && !(s->scratch = aligned_alloc(64, scratch_bytes))) {
        snprintf(err, errlen, "out of memory for the session's scratch");
        rc = -ENOMEM;
    }
done:
    free(seg_of);
    free(ext_flags);
    return rc;
}

int fc_nn_session_new(const fc_nn_model *m, fc_nn_session **out, char *err, size_t errlen)
{
    return fc_nn_session_new_isa(m, FC_NN_ISA_DEFAULT, out, err, errlen);
}

int fc_nn_session_new_isa(const fc_nn_model *m, fc_nn_isa isa, fc_nn_session **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    fc_nn_isa resolved;
    int rc = fc_nn_isa_resolve(isa, &resolved, err, errlen);
    if (rc < 0) return rc;
    fc_nn_session *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->m = m;
    s->isa = resolved;
    rc = build(s, err, errlen);
    if (rc < 0) {
        fc_nn_session_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void fc_nn_session_free(fc_nn_session *s)
{
    if (!s) return;
    for (size_t k = 0; s->seg && k < s->nseg; k++) {
        if (s->seg[k].rt) xnn_delete_runtime(s->seg[k].rt);
        fc_nn_kernel_free(s->seg[k].kern);
    }
    free(s->scratch);
    for (size_t k = 0; k < s->nowned; k++)
        free(s->owned[k]);
    if (s->nchw_out)
        for (int i = 0; i < s->m->noutputs; i++)
            free(s->nchw_out[i]);
    free(s->seg);
    free(s->vbuf);
    free(s->owned);
    free(s->nchw_out);
    free(s);
}

float *fc_nn_session_input(fc_nn_session *s, int index)
{
    return s->vbuf[s->m->inputs[index].value];
}

/* NHWC bytes of a logical NCHW output -> NCHW. */
static void to_nchw(const float *src, float *dst, const int64_t *d)
{
    size_t N = (size_t)d[0], C = (size_t)d[1], H = (size_t)d[2], W = (size_t)d[3];
    for (size_t n = 0; n < N; n++)
        for (size_t c = 0; c < C; c++)
            for (size_t p = 0; p < H * W; p++)
                dst[(n * C + c) * H * W + p] = src[(n * H * W + p) * C + c];
}

static int run_segment(fc_nn_session *s, const segment *g, char *err, size_t errlen)
{
    if (g->kern) {
        fc_nn_kernel_run(g->kern, s->vbuf, s->scratch);
        return 0;
    }
    enum xnn_status st = xnn_invoke_runtime(g->rt);
    if (st != xnn_status_success) {
        snprintf(err, errlen, "XNNPACK: inference failed (status %d)", (int)st);
        return -EIO;
    }
    return 0;
}

static void outputs_to_nchw(fc_nn_session *s)
{
    for (int i = 0; i < s->m->noutputs; i++)
        if (s->nchw_out[i])
            to_nchw(s->vbuf[s->m->outputs[i].value], s->nchw_out[i], s->m->outputs[i].shape.dims);
}

int fc_nn_session_run(fc_nn_session *s, char *err, size_t errlen)
{
    for (size_t k = 0; k < s->nseg; k++) {
        int rc = run_segment(s, &s->seg[k], err, errlen);
        if (rc < 0) return rc;
    }
    outputs_to_nchw(s);
    return 0;
}

static double thread_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int fc_nn_session_profile(fc_nn_session *s, fc_nn_op_cost *costs, int cap, char *err, size_t errlen)
{
    for (size_t k = 0; k < s->nseg; k++) {
        const segment *g = &s->seg[k];
        double t0 = thread_seconds();
        int rc = run_segment(s, g, err, errlen);
        if (rc < 0) return rc;
        if ((int)k < cap)
            costs[k] = (fc_nn_op_cost){.node = s->m->ops[g->first].node,
                                       .what = g->what,
                                       .macs = g->macs,
                                       .seconds = thread_seconds() - t0};
    }
    outputs_to_nchw(s);
    return (int)s->nseg;
}

const float *fc_nn_session_output(fc_nn_session *s, int index)
{
    return s->nchw_out[index] ? s->nchw_out[index] : s->vbuf[s->m->outputs[index].value];
}
