/* Translated graph -> XNNPACK subgraph -> runtime, one per session.
 *
 * Every value keeps its index as its XNNPACK id (the subgraph reserves all of
 * them as external ids), so ops can be emitted without a mapping table. The
 * subgraph is deleted as soon as the runtime exists; the runtime packs its own
 * copy of the weights. No thread pool is passed: inference runs on the caller's
 * thread and nothing waits or spins between runs. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xnnpack.h>

#include "analysis/nn/nn_ir.h"

struct fc_nn_session {
    const fc_nn_model *m;
    xnn_runtime_t rt;
    float **vbuf;     /* per value: buffer of external values, else NULL */
    float **nchw_out; /* per output: NCHW copy when the value is NHWC, else NULL */
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum xnn_status init_status;

static void init_xnnpack(void)
{
    init_status = xnn_initialize(NULL);
}

int fc_nn_xnn_init(char *err, size_t errlen)
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
    }
    return xnn_status_invalid_parameter;
}

static int build_runtime(fc_nn_session *s, char *err, size_t errlen)
{
    const fc_nn_model *m = s->m;
    xnn_subgraph_t sg = NULL;
    enum xnn_status st = xnn_create_subgraph(m->nvalues, 0, &sg);
    if (st != xnn_status_success) {
        snprintf(err, errlen, "XNNPACK: cannot create a subgraph (status %d)", (int)st);
        return -ENOMEM;
    }
    int rc = 0;
    for (uint32_t i = 0; i < m->nvalues && rc == 0; i++) {
        const fc_nn_value *v = &m->values[i];
        uint32_t id;
        st = xnn_define_tensor_value(sg, xnn_datatype_fp32, (size_t)v->rank, v->dims, v->data, i,
                                     v->flags, &id);
        if (st != xnn_status_success) {
            snprintf(err, errlen, "XNNPACK rejected tensor %u (status %d)", i, (int)st);
            rc = -EINVAL;
        }
    }
    for (size_t i = 0; i < m->nops && rc == 0; i++) {
        st = define_op(sg, &m->ops[i]);
        if (st != xnn_status_success) {
            snprintf(err, errlen, "XNNPACK rejected node '%s' (status %d)", m->ops[i].node,
                     (int)st);
            rc = -EINVAL;
        }
    }
    if (rc == 0) {
        st = xnn_create_runtime_v2(sg, NULL, 0, &s->rt);
        if (st != xnn_status_success) {
            snprintf(err, errlen, "XNNPACK: cannot create a runtime (status %d)", (int)st);
            rc = st == xnn_status_out_of_memory ? -ENOMEM : -EINVAL;
        }
    }
    xnn_delete_subgraph(sg);
    return rc;
}

static int bind_buffers(fc_nn_session *s, char *err, size_t errlen)
{
    const fc_nn_model *m = s->m;
    s->vbuf = calloc(m->nvalues, sizeof *s->vbuf);
    s->nchw_out = calloc((size_t)m->noutputs, sizeof *s->nchw_out);
    struct xnn_external_value *ext = calloc(m->nvalues, sizeof *ext);
    if (!s->vbuf || !s->nchw_out || !ext) goto oom;
    size_t n = 0;
    for (uint32_t i = 0; i < m->nvalues; i++) {
        if (!m->values[i].flags) continue;
        /* XNNPACK kernels may read up to XNN_EXTRA_BYTES past a tensor. */
        size_t bytes = value_elements(&m->values[i]) * sizeof(float) + XNN_EXTRA_BYTES;
        s->vbuf[i] = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        if (!s->vbuf[i]) goto oom;
        memset(s->vbuf[i], 0, bytes);
        ext[n++] = (struct xnn_external_value){.id = i, .data = s->vbuf[i]};
    }
    for (int i = 0; i < m->noutputs; i++)
        if (m->outputs[i].nchw &&
            !(s->nchw_out[i] = malloc(fc_nn_shape_elements(&m->outputs[i].shape) * sizeof(float))))
            goto oom;
    enum xnn_status st = xnn_setup_runtime(s->rt, n, ext);
    free(ext);
    if (st != xnn_status_success) {
        snprintf(err, errlen, "XNNPACK: runtime setup failed (status %d)", (int)st);
        return -EINVAL;
    }
    return 0;
oom:
    free(ext);
    snprintf(err, errlen, "out of memory for the session's tensors");
    return -ENOMEM;
}

int fc_nn_session_new(const fc_nn_model *m, fc_nn_session **out, char *err, size_t errlen)
{
    *out = NULL;
    fc_nn_session *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->m = m;
    int rc = build_runtime(s, err, errlen);
    if (rc == 0) rc = bind_buffers(s, err, errlen);
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
    if (s->rt) xnn_delete_runtime(s->rt);
    if (s->vbuf)
        for (uint32_t i = 0; i < s->m->nvalues; i++)
            free(s->vbuf[i]);
    if (s->nchw_out)
        for (int i = 0; i < s->m->noutputs; i++)
            free(s->nchw_out[i]);
    free(s->vbuf);
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

int fc_nn_session_run(fc_nn_session *s, char *err, size_t errlen)
{
    enum xnn_status st = xnn_invoke_runtime(s->rt);
    if (st != xnn_status_success) {
        snprintf(err, errlen, "XNNPACK: inference failed (status %d)", (int)st);
        return -EIO;
    }
    for (int i = 0; i < s->m->noutputs; i++)
        if (s->nchw_out[i])
            to_nchw(s->vbuf[s->m->outputs[i].value], s->nchw_out[i], s->m->outputs[i].shape.dims);
    return 0;
}

const float *fc_nn_session_output(fc_nn_session *s, int index)
{
    return s->nchw_out[index] ? s->nchw_out[index] : s->vbuf[s->m->outputs[index].value];
}
