/* The ONNX loader and its kernels: BlazeFace outputs against onnxruntime's
 * (fixtures from scripts/gen-reference) and every supported op against a
 * naive NCHW implementation on a small generated model, on every ISA this
 * CPU runs (and XNNPACK for the ops our kernels leave to it); rejection of
 * broken or unsupported models. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "analysis/nn/nn.h"
#include "common.h"
#include "onnx.pb-c.h"

static char *front_path, *back_path;

/* Tolerances against onnxruntime. The 128 model's raw outputs agree within
 * 1e-4 absolute, except that logits far from zero (|x| > 25, where the sigmoid
 * is 0 or 1 anyway) may differ by 4e-6 relative, about 32 float ulps. The 256
 * model is twice as deep and needs 2e-4 / 2e-5. Both engines sum in float32 in
 * different orders; that is all that separates them (docs/detection.md). */
typedef struct tolerance {
    double abs, rel;
} tolerance;
static const tolerance front_tol = {1e-4, 4e-6}, back_tol = {2e-4, 2e-5};

/* Every instruction set our kernels run on this machine; each must meet the
 * same tolerances. */
static const fc_nn_isa all_isas[] = {FC_NN_ISA_AVX512, FC_NN_ISA_AVX2, FC_NN_ISA_SCALAR};

/* ---- reference comparison ---- */

static void compare_with_reference(const char *model_path, const char *name, tolerance tol,
                                   fc_nn_isa isa)
{
    char err[512], file[128];
    fc_nn_model *m;
    fc_nn_session *s;
    int rc = fc_nn_model_load(model_path, &m, err, sizeof err);
    if (rc) fail_msg("%s", err);
    if (fc_nn_session_new_isa(m, isa, &s, err, sizeof err)) fail_msg("%s", err);

    snprintf(file, sizeof file, "nn/face-%s.ppm", name);
    char *ppm_path = test_path("FC_FIXTURES", file);
    int w, h;
    uint8_t *rgb = read_ppm(ppm_path, &w, &h);
    assert_non_null(rgb);
    fc_nn_shape in;
    fc_nn_model_input_shape(m, 0, &in);
    assert_int_equal(in.rank, 4);
    assert_int_equal(in.dims[1], h);
    assert_int_equal(in.dims[2], w);
    float *x = fc_nn_session_input(s, 0);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        x[i] = (float)rgb[i] / 127.5f - 1.0f;
    assert_int_equal(fc_nn_session_run(s, err, sizeof err), 0);

    snprintf(file, sizeof file, "nn/face-%s.json", name);
    char *json_path = test_path("FC_FIXTURES", file);
    snprintf(file, sizeof file, "nn/face-%s.f32", name);
    char *f32_path = test_path("FC_FIXTURES", file);
    json_error_t jerr;
    json_t *manifest = json_load_file(json_path, 0, &jerr);
    assert_non_null(manifest);
    size_t len;
    float *ref = (float *)read_file(f32_path, &len);
    assert_non_null(ref);

    json_t *outputs = json_object_get(manifest, "outputs");
    size_t i, off = 0;
    json_t *o;
    assert_int_equal(json_array_size(outputs), (size_t)fc_nn_model_output_count(m));
    json_array_foreach(outputs, i, o)
    {
        const char *oname = json_string_value(json_object_get(o, "name"));
        int idx = fc_nn_model_find_output(m, oname);
        assert_true(idx >= 0);
        fc_nn_shape shape;
        fc_nn_model_output_shape(m, idx, &shape);
        json_t *dims = json_object_get(o, "shape");
        assert_int_equal(json_array_size(dims), (size_t)shape.rank);
        for (int d = 0; d < shape.rank; d++)
            assert_int_equal(json_integer_value(json_array_get(dims, (size_t)d)), shape.dims[d]);
        size_t n = fc_nn_shape_elements(&shape);
        assert_true((off + n) * sizeof(float) <= len);
        const float *got = fc_nn_session_output(s, idx);
        double worst = 0;
        size_t over_abs = 0, bad = 0;
        for (size_t k = 0; k < n; k++) {
            double r = ref[off + k], diff = fabs((double)got[k] - r);
            worst = fmax(worst, diff);
            over_abs += diff > tol.abs;
            bad += diff > fmax(tol.abs, tol.rel * fabs(r));
        }
        printf("%s %s %s: max |framecast - onnxruntime| = %.3g over %zu values, %zu above %g\n",
               name, fc_nn_isa_name(isa), oname, worst, n, over_abs, tol.abs);
        assert_int_equal(bad, 0);
        off += n;
    }
    assert_int_equal(off * sizeof(float), len);

    json_decref(manifest);
    free(ref);
    free(rgb);
    free(ppm_path);
    free(json_path);
    free(f32_path);
    fc_nn_session_free(s);
    fc_nn_model_free(m);
}

static void front128_matches_onnxruntime(void **state)
{
    (void)state;
    int ran = 0;
    for (size_t i = 0; i < sizeof all_isas / sizeof *all_isas; i++)
        if (fc_nn_isa_supported(all_isas[i]))
            compare_with_reference(front_path, "blazeface-front-128", front_tol, all_isas[i]),
                ran++;
    assert_true(ran >= 1);
}

static void back256_matches_onnxruntime(void **state)
{
    (void)state;
    int ran = 0;
    for (size_t i = 0; i < sizeof all_isas / sizeof *all_isas; i++)
        if (fc_nn_isa_supported(all_isas[i]))
            compare_with_reference(back_path, "blazeface-back-256", back_tol, all_isas[i]), ran++;
    assert_true(ran >= 1);
}

/* FC_NN_ISA picks the kernels of every session made without an explicit
 * ISA; a value naming none, or one this CPU lacks, is refused by name. */
static void isa_override_is_checked(void **state)
{
    (void)state;
    char err[512];
    fc_nn_model *m;
    fc_nn_session *s;
    if (fc_nn_model_load(front_path, &m, err, sizeof err)) fail_msg("%s", err);
    setenv("FC_NN_ISA", "sse9", 1);
    assert_int_equal(fc_nn_session_new(m, &s, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "FC_NN_ISA=sse9"));
    for (size_t i = 0; i < sizeof all_isas / sizeof *all_isas; i++) {
        setenv("FC_NN_ISA", fc_nn_isa_name(all_isas[i]), 1);
        fc_nn_isa got;
        int rc = fc_nn_isa_resolve(FC_NN_ISA_DEFAULT, &got, err, sizeof err);
        if (fc_nn_isa_supported(all_isas[i])) {
            assert_int_equal(rc, 0);
            assert_int_equal(got, all_isas[i]);
        } else {
            assert_int_equal(rc, -ENOTSUP);
            assert_non_null(strstr(err, fc_nn_isa_name(all_isas[i])));
        }
    }
    unsetenv("FC_NN_ISA");
    fc_nn_isa best;
    assert_int_equal(fc_nn_isa_resolve(FC_NN_ISA_DEFAULT, &best, err, sizeof err), 0);
    assert_true(best != FC_NN_ISA_DEFAULT && fc_nn_isa_supported(best));
    fc_nn_model_free(m);
}

/* ---- a small generated model exercising every op ---- */

/* Everything the builder allocates, freed at once. */
static void *owned[512];
static size_t nowned;

static void *own(size_t bytes)
{
    void *p = calloc(1, bytes);
    assert_non_null(p);
    assert_true(nowned < sizeof owned / sizeof *owned);
    owned[nowned++] = p;
    return p;
}

static void free_owned(void)
{
    while (nowned)
        free(owned[--nowned]);
}

typedef struct graph_builder {
    Onnx__NodeProto *nodes[32];
    size_t nnodes;
    Onnx__TensorProto *inits[32];
    size_t ninits;
    Onnx__ValueInfoProto *inputs[4], *outputs[12];
    size_t ninputs, noutputs;
} graph_builder;

static Onnx__NodeProto *add_node(graph_builder *g, const char *op, const char *name,
                                 const char *out, int nin, ...)
{
    Onnx__NodeProto *n = own(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = (char *)op;
    n->name = (char *)name;
    n->n_input = (size_t)nin;
    n->input = own((size_t)nin * sizeof(char *));
    va_list ap;
    va_start(ap, nin);
    for (int i = 0; i < nin; i++)
        n->input[i] = va_arg(ap, char *);
    va_end(ap);
    n->n_output = 1;
    n->output = own(sizeof(char *));
    n->output[0] = (char *)out;
    g->nodes[g->nnodes++] = n;
    return n;
}

static void add_ints(Onnx__NodeProto *n, const char *name, size_t count, const int64_t *v)
{
    Onnx__AttributeProto *a = own(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = (char *)name;
    a->has_type = 1;
    a->type = count == 1 ? ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT
                         : ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (count == 1) {
        a->has_i = 1;
        a->i = v[0];
    } else {
        a->n_ints = count;
        a->ints = (int64_t *)v;
    }
    Onnx__AttributeProto **list = own((n->n_attribute + 1) * sizeof *list);
    if (n->n_attribute) memcpy(list, n->attribute, n->n_attribute * sizeof *list);
    list[n->n_attribute++] = a;
    n->attribute = list;
}

static void add_init(graph_builder *g, const char *name, bool is_float, size_t rank,
                     const int64_t *dims, const void *data)
{
    Onnx__TensorProto *t = own(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = (char *)name;
    t->has_data_type = 1;
    t->data_type =
        is_float ? ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT : ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_dims = rank;
    t->dims = (int64_t *)dims;
    size_t n = 1;
    for (size_t i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    t->has_raw_data = 1;
    t->raw_data.len = n * (is_float ? 4 : 8);
    t->raw_data.data = (uint8_t *)data;
    g->inits[g->ninits++] = t;
}

static Onnx__ValueInfoProto *value_info(const char *name, size_t rank, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = own(sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = (char *)name;
    Onnx__TypeProto *tp = own(sizeof *tp);
    onnx__type_proto__init(tp);
    Onnx__TypeProto__Tensor *tt = own(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    Onnx__TensorShapeProto *sp = own(sizeof *sp);
    onnx__tensor_shape_proto__init(sp);
    sp->n_dim = rank;
    sp->dim = own(rank * sizeof *sp->dim);
    for (size_t i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *d = own(sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = dims[i];
        sp->dim[i] = d;
    }
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->type = tp;
    return v;
}

/* Packs the graph as an opset-13 model and loads it. */
static int load_graph(graph_builder *g, fc_nn_model **m, char *err, size_t errlen)
{
    Onnx__GraphProto graph = ONNX__GRAPH_PROTO__INIT;
    graph.name = "test";
    graph.n_node = g->nnodes, graph.node = g->nodes;
    graph.n_initializer = g->ninits, graph.initializer = g->inits;
    graph.n_input = g->ninputs, graph.input = g->inputs;
    graph.n_output = g->noutputs, graph.output = g->outputs;
    Onnx__OperatorSetIdProto opset = ONNX__OPERATOR_SET_ID_PROTO__INIT;
    opset.domain = "";
    opset.has_version = 1;
    opset.version = 13;
    Onnx__OperatorSetIdProto *opsets[1] = {&opset};
    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = 7;
    model.graph = &graph;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    size_t len = onnx__model_proto__get_packed_size(&model);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    onnx__model_proto__pack(&model, buf);
    int rc = fc_nn_model_load_buffer(buf, len, "generated", m, err, errlen);
    free(buf);
    return rc;
}

/* Naive NCHW references, batch 1. */
static float at(const float *t, int C, int H, int W, int c, int y, int x)
{
    (void)C;
    return t[((size_t)c * H + y) * W + x];
}

static void ref_conv(const float *in, int C, int H, int W, const float *w, const float *b, int M,
                     int group, int kh, int kw, int sh, int sw, int dh, int dw, int pt, int pl,
                     int OH, int OW, float *out)
{
    int cpg = C / group, mpg = M / group;
    for (int m = 0; m < M; m++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                double acc = b ? b[m] : 0.0;
                int g = m / mpg;
                for (int ci = 0; ci < cpg; ci++)
                    for (int ky = 0; ky < kh; ky++)
                        for (int kx = 0; kx < kw; kx++) {
                            int y = oy * sh - pt + ky * dh, x = ox * sw - pl + kx * dw;
                            if (y < 0 || y >= H || x < 0 || x >= W) continue;
                            acc += (double)at(in, C, H, W, g * cpg + ci, y, x) *
                                   w[(((size_t)m * cpg + ci) * kh + ky) * kw + kx];
                        }
                out[((size_t)m * OH + oy) * OW + ox] = (float)acc;
            }
}

static void generated_model_matches_naive_reference(void **state)
{
    (void)state;
    enum { H = 5, W = 6, C = 4 };
    static const int64_t in_dims[4] = {1, H, W, C};
    static const int64_t to_nchw[4] = {0, 3, 1, 2}, to_nhwc[4] = {0, 2, 3, 1};
    /* Pad: begin N,C,H,W then end N,C,H,W. */
    static const int64_t pads[8] = {0, 0, 1, 2, 0, 0, 2, 1}, pads_dims[1] = {8};
    static const float pad_value = 0.25f;
    static const int64_t scalar_dims[1] = {1};
    enum { PH = H + 3, PW = W + 3, M = 6, OH = 4, OW = 6 };
    static const int64_t wdims[4] = {M, 2, 3, 3}, bdims[1] = {M};
    static const int64_t strides[2] = {2, 1}, dil[2] = {1, 2}, cpads[4] = {1, 0, 0, 1};
    static const int64_t group2[1] = {2}, k3[2] = {3, 3};
    static const int64_t zshape[4] = {1, 2, OH, OW}, zshape_dims[1] = {4}, axis1[1] = {1};
    static const int64_t pk[2] = {2, 2}, ps[2] = {1, 1}, ppads[4] = {0, 1, 1, 0};
    static const int64_t flat[2] = {1, -1}, flat_dims[1] = {2};
    static const int64_t dwdims[4] = {8, 1, 3, 3}, group4[1] = {4}, dwpads[4] = {1, 1, 1, 1};
    static const int64_t bdims8[1] = {8};
    float cw[M * 2 * 9], cb[M], dww[8 * 9];
    for (int i = 0; i < M * 2 * 9; i++)
        cw[i] = sinf((float)i * 0.7f) * 0.5f;
    for (int i = 0; i < M; i++)
        cb[i] = 0.1f * (float)(i - 2);
    for (int i = 0; i < 8 * 9; i++)
        dww[i] = cosf((float)i * 0.3f);

    graph_builder g = {0};
    g.inputs[g.ninputs++] = value_info("x", 4, in_dims);
    add_init(&g, "pads", false, 1, pads_dims, pads);
    add_init(&g, "pad_value", true, 1, scalar_dims, &pad_value);
    add_init(&g, "w", true, 4, wdims, cw);
    add_init(&g, "b", true, 1, bdims, cb);
    add_init(&g, "zshape", false, 1, zshape_dims, zshape);
    add_init(&g, "flat", false, 1, flat_dims, flat);
    add_init(&g, "dw", true, 4, dwdims, dww);
    add_ints(add_node(&g, "Transpose", "to_nchw", "xc", 1, "x"), "perm", 4, to_nchw);
    add_node(&g, "Pad", "pad", "p", 3, "xc", "pads", "pad_value");
    Onnx__NodeProto *conv = add_node(&g, "Conv", "conv", "c", 3, "p", "w", "b");
    add_ints(conv, "group", 1, group2);
    add_ints(conv, "kernel_shape", 2, k3);
    add_ints(conv, "strides", 2, strides);
    add_ints(conv, "dilations", 2, dil);
    add_ints(conv, "pads", 4, cpads);
    add_node(&g, "Relu", "relu", "r", 1, "c");
    add_node(&g, "ConstantOfShape", "zeros", "z", 1, "zshape");
    add_ints(add_node(&g, "Concat", "concat", "cc", 2, "z", "r"), "axis", 1, axis1);
    Onnx__NodeProto *pool = add_node(&g, "MaxPool", "pool", "m", 1, "cc");
    add_ints(pool, "kernel_shape", 2, pk);
    add_ints(pool, "strides", 2, ps);
    add_ints(pool, "pads", 4, ppads);
    add_node(&g, "Add", "add", "a", 2, "m", "m");
    add_ints(add_node(&g, "Transpose", "to_nhwc", "t", 1, "a"), "perm", 4, to_nhwc);
    add_node(&g, "Reshape", "flatten", "f", 2, "t", "flat");
    Onnx__NodeProto *dw = add_node(&g, "Conv", "dwconv", "d", 2, "xc", "dw");
    add_ints(dw, "group", 1, group4);
    add_ints(dw, "pads", 4, dwpads);
    /* Two chained 8-channel depthwise convolutions (stride 1 with Relu, then
     * stride 2 with uneven pads) on "a": our depthwise kernel alone (nothing
     * fuses them), including a hand-over between two of its segments. */
    static const int64_t dw8dims[4] = {8, 1, 3, 3}, group8[1] = {8}, s2[2] = {2, 2};
    static const int64_t e2pads[4] = {1, 0, 0, 1};
    enum { EH = (OH + 1 - 3) / 2 + 1, EW = (OW + 1 - 3) / 2 + 1 };
    float ew[8 * 9], eb[8], e2w[8 * 9];
    for (int i = 0; i < 8 * 9; i++)
        ew[i] = sinf((float)i * 0.45f), e2w[i] = cosf((float)i * 0.8f) * 0.7f;
    for (int i = 0; i < 8; i++)
        eb[i] = 0.3f * (float)(i - 4);
    add_init(&g, "ew", true, 4, dw8dims, ew);
    add_init(&g, "eb", true, 1, bdims8, eb);
    add_init(&g, "e2w", true, 4, dw8dims, e2w);
    Onnx__NodeProto *e1 = add_node(&g, "Conv", "dw8", "e1", 3, "a", "ew", "eb");
    add_ints(e1, "group", 1, group8);
    add_ints(e1, "pads", 4, dwpads);
    add_node(&g, "Relu", "dw8_relu", "er", 1, "e1");
    Onnx__NodeProto *e2 = add_node(&g, "Conv", "dw8s2", "e", 2, "er", "e2w");
    add_ints(e2, "group", 1, group8);
    add_ints(e2, "strides", 2, s2);
    add_ints(e2, "pads", 4, e2pads);
    /* A residual connection widened by zero channels, as BlazeFace's are:
     * Relu(d + Concat(x, zeros)), run without the padded copy. */
    static const int64_t z4shape[4] = {1, 8 - C, H, W};
    add_init(&g, "z4shape", false, 1, zshape_dims, z4shape);
    add_node(&g, "ConstantOfShape", "zeros4", "z4", 1, "z4shape");
    add_ints(add_node(&g, "Concat", "widen", "xw", 2, "xc", "z4"), "axis", 1, axis1);
    add_node(&g, "Add", "residual", "ra", 2, "d", "xw");
    add_node(&g, "Relu", "residual_relu", "res", 1, "ra");
    static const int64_t a_dims[4] = {1, 8, OH, OW}, f_dims[2] = {1, 8 * OH * OW};
    static const int64_t d_dims[4] = {1, 8, H, W}, e_dims[4] = {1, 8, EH, EW};
    g.outputs[g.noutputs++] = value_info("a", 4, a_dims);
    g.outputs[g.noutputs++] = value_info("f", 2, f_dims);
    g.outputs[g.noutputs++] = value_info("d", 4, d_dims);
    g.outputs[g.noutputs++] = value_info("e", 4, e_dims);
    g.outputs[g.noutputs++] = value_info("res", 4, d_dims);
    /* Convolutions our kernels run outside BlazeFace's shapes: a strided
     * window with edges all round (read in place inside, im2col at the
     * edges), a dilated one (im2col), a 1x1 with fewer output channels than
     * a vector holds; and a max pool nothing fuses (it is an output). */
    enum { G1H = 3, G1W = 3, G3M = 3, PH2 = H / 2, PW2 = W / 2 };
    static const int64_t w1dims[4] = {M, C, 3, 3}, w3dims[4] = {G3M, C, 1, 1}, b3dims[1] = {G3M};
    static const int64_t pads1[4] = {1, 1, 1, 1}, pads2[4] = {2, 2, 2, 2}, dil2[2] = {2, 2};
    static const int64_t s22[2] = {2, 2};
    float w1[M * C * 9], w2[M * C * 9], w3[G3M * C], b3[G3M];
    for (int i = 0; i < M * C * 9; i++)
        w1[i] = sinf((float)i * 0.37f), w2[i] = cosf((float)i * 0.21f) * 0.6f;
    for (int i = 0; i < G3M * C; i++)
        w3[i] = 0.25f * (float)(i % 5) - 0.5f;
    for (int i = 0; i < G3M; i++)
        b3[i] = 0.2f * (float)i - 0.1f;
    add_init(&g, "w1", true, 4, w1dims, w1);
    add_init(&g, "w2", true, 4, w1dims, w2);
    add_init(&g, "w3", true, 4, w3dims, w3);
    add_init(&g, "b3", true, 1, b3dims, b3);
    Onnx__NodeProto *g1 = add_node(&g, "Conv", "strided", "g1", 3, "xc", "w1", "b");
    add_ints(g1, "strides", 2, s22);
    add_ints(g1, "pads", 4, pads1);
    Onnx__NodeProto *g2 = add_node(&g, "Conv", "dilated", "g2", 2, "xc", "w2");
    add_ints(g2, "dilations", 2, dil2);
    add_ints(g2, "pads", 4, pads2);
    add_node(&g, "Conv", "narrow1x1", "g3", 3, "xc", "w3", "b3");
    Onnx__NodeProto *mp = add_node(&g, "MaxPool", "pool2", "mp", 1, "xc");
    add_ints(mp, "kernel_shape", 2, pk);
    add_ints(mp, "strides", 2, s22);
    static const int64_t g1_dims[4] = {1, M, G1H, G1W}, g2_dims[4] = {1, M, H, W};
    static const int64_t g3_dims[4] = {1, G3M, H, W}, mp_dims[4] = {1, C, PH2, PW2};
    g.outputs[g.noutputs++] = value_info("g1", 4, g1_dims);
    g.outputs[g.noutputs++] = value_info("g2", 4, g2_dims);
    g.outputs[g.noutputs++] = value_info("g3", 4, g3_dims);
    g.outputs[g.noutputs++] = value_info("mp", 4, mp_dims);

    char err[512];
    fc_nn_model *m;
    int rc = load_graph(&g, &m, err, sizeof err);
    if (rc) fail_msg("%s", err);
    for (size_t isa = 0; isa < sizeof all_isas / sizeof *all_isas; isa++) {
        if (!fc_nn_isa_supported(all_isas[isa])) continue;
        fc_nn_session *s;
        if (fc_nn_session_new_isa(m, all_isas[isa], &s, err, sizeof err)) fail_msg("%s", err);
        float *x = fc_nn_session_input(s, fc_nn_model_find_input(m, "x"));
        float xnhwc[H * W * C], xc[C * H * W];
        for (int i = 0; i < H * W * C; i++)
            x[i] = xnhwc[i] = sinf((float)i * 1.3f) * 2.0f;
        assert_int_equal(fc_nn_session_run(s, err, sizeof err), 0);

        /* The same graph, computed naively in NCHW. */
        for (int c = 0; c < C; c++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++)
                    xc[(c * H + y) * W + xx] = xnhwc[(y * W + xx) * C + c];
        float p[C * PH * PW];
        for (int c = 0; c < C; c++)
            for (int y = 0; y < PH; y++)
                for (int xx = 0; xx < PW; xx++) {
                    int sy = y - 1, sx = xx - 2;
                    p[(c * PH + y) * PW + xx] = sy >= 0 && sy < H && sx >= 0 && sx < W
                                                    ? xc[(c * H + sy) * W + sx]
                                                    : pad_value;
                }
        float cv[M * OH * OW], cc[8 * OH * OW] = {0}, a[8 * OH * OW];
        ref_conv(p, C, PH, PW, cw, cb, M, 2, 3, 3, 2, 1, 1, 2, 1, 0, OH, OW, cv);
        for (int i = 0; i < M * OH * OW; i++)
            cc[2 * OH * OW + i] = fmaxf(cv[i], 0.0f); /* Relu, after two zero channels */
        for (int c = 0; c < 8; c++)
            for (int y = 0; y < OH; y++)
                for (int xx = 0; xx < OW; xx++) {
                    float best = -INFINITY;
                    for (int ky = 0; ky < 2; ky++)
                        for (int kx = 0; kx < 2; kx++) {
                            int sy = y + ky, sx = xx - 1 + kx;
                            if (sy < OH && sx >= 0 && sx < OW)
                                best = fmaxf(best, cc[(c * OH + sy) * OW + sx]);
                        }
                    a[(c * OH + y) * OW + xx] = 2.0f * best;
                }
        float d[8 * H * W];
        ref_conv(xc, C, H, W, dww, NULL, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, H, W, d);

        const float *ga = fc_nn_session_output(s, fc_nn_model_find_output(m, "a"));
        const float *gf = fc_nn_session_output(s, fc_nn_model_find_output(m, "f"));
        const float *gd = fc_nn_session_output(s, fc_nn_model_find_output(m, "d"));
        for (int c = 0; c < 8; c++)
            for (int i = 0; i < OH * OW; i++) {
                assert_float_equal(ga[c * OH * OW + i], a[c * OH * OW + i], 1e-4);
                assert_float_equal(gf[i * 8 + c], a[c * OH * OW + i], 1e-4); /* NHWC, flattened */
            }
        for (int i = 0; i < 8 * H * W; i++)
            assert_float_equal(gd[i], d[i], 1e-4);
        float e1v[8 * OH * OW], ev[8 * EH * EW];
        ref_conv(a, 8, OH, OW, ew, eb, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, OH, OW, e1v);
        for (int i = 0; i < 8 * OH * OW; i++)
            e1v[i] = fmaxf(e1v[i], 0.0f);
        ref_conv(e1v, 8, OH, OW, e2w, NULL, 8, 8, 3, 3, 2, 2, 1, 1, 1, 0, EH, EW, ev);
        const float *ge = fc_nn_session_output(s, fc_nn_model_find_output(m, "e"));
        for (int i = 0; i < 8 * EH * EW; i++)
            assert_float_equal(ge[i], ev[i], 1e-4);
        const float *gres = fc_nn_session_output(s, fc_nn_model_find_output(m, "res"));
        for (int c = 0; c < 8; c++)
            for (int i = 0; i < H * W; i++)
                assert_float_equal(
                    gres[c * H * W + i],
                    fmaxf(d[c * H * W + i] + (c < C ? xc[c * H * W + i] : 0.0f), 0.0f), 1e-4);
        float r1[M * G1H * G1W], r2[M * H * W], r3[G3M * H * W];
        ref_conv(xc, C, H, W, w1, cb, M, 1, 3, 3, 2, 2, 1, 1, 1, 1, G1H, G1W, r1);
        ref_conv(xc, C, H, W, w2, NULL, M, 1, 3, 3, 1, 1, 2, 2, 2, 2, H, W, r2);
        ref_conv(xc, C, H, W, w3, b3, G3M, 1, 1, 1, 1, 1, 1, 1, 0, 0, H, W, r3);
        const float *o1 = fc_nn_session_output(s, fc_nn_model_find_output(m, "g1"));
        const float *o2 = fc_nn_session_output(s, fc_nn_model_find_output(m, "g2"));
        const float *o3 = fc_nn_session_output(s, fc_nn_model_find_output(m, "g3"));
        const float *om = fc_nn_session_output(s, fc_nn_model_find_output(m, "mp"));
        for (int i = 0; i < M * G1H * G1W; i++)
            assert_float_equal(o1[i], r1[i], 1e-4);
        for (int i = 0; i < M * H * W; i++)
            assert_float_equal(o2[i], r2[i], 1e-4);
        for (int i = 0; i < G3M * H * W; i++)
            assert_float_equal(o3[i], r3[i], 1e-4);
        for (int c = 0; c < C; c++)
            for (int y = 0; y < PH2; y++)
                for (int xx = 0; xx < PW2; xx++) {
                    const float *q = xc + (c * H + 2 * y) * W + 2 * xx;
                    assert_float_equal(om[(c * PH2 + y) * PW2 + xx],
                                       fmaxf(fmaxf(q[0], q[1]), fmaxf(q[W], q[W + 1])), 0);
                }
        fc_nn_session_free(s);
    }
    fc_nn_model_free(m);
    free_owned();
}

/* ---- rejection ---- */

static void expect_rejected(const void *data, size_t len, const char *want1, const char *want2)
{
    char err[512] = "";
    fc_nn_model *m = (fc_nn_model *)1;
    int rc = fc_nn_model_load_buffer(data, len, "broken.onnx", &m, err, sizeof err);
    assert_true(rc < 0);
    assert_null(m);
    assert_non_null(strstr(err, "broken.onnx"));
    if (want1 && !strstr(err, want1)) fail_msg("error '%s' does not mention '%s'", err, want1);
    if (want2 && !strstr(err, want2)) fail_msg("error '%s' does not mention '%s'", err, want2);
}

static void rejects_truncated_models(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = read_file(front_path, &len);
    assert_non_null(buf);
    const size_t cuts[] = {0, 1, 16, 100, len / 10, len / 2, len - 200, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++)
        expect_rejected(buf, cuts[i], NULL, NULL);
    free(buf);
}

static void rejects_random_bytes(void **state)
{
    (void)state;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t *buf = malloc(1 << 16);
    assert_non_null(buf);
    const size_t sizes[] = {7, 1000, 1 << 16};
    for (int round = 0; round < 20; round++) {
        size_t n = sizes[round % 3];
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        expect_rejected(buf, n, NULL, NULL);
    }
    free(buf);
}

/* Flipped bytes in a real model may still parse; whatever loads must then
 * also build and run without touching memory it should not. */
static void survives_corrupted_models(void **state)
{
    (void)state;
    size_t len;
    uint8_t *orig = read_file(front_path, &len);
    uint8_t *buf = malloc(len);
    assert_true(orig && buf);
    uint64_t x = 0x2545f4914f6cdd1dull;
    int loaded = 0;
    for (int round = 0; round < 60; round++) {
        memcpy(buf, orig, len);
        for (int k = 0; k < 1 + round % 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            /* Odd rounds aim at the node list at the front of the file. */
            size_t span = round % 2 ? (len < 30000 ? len : 30000) : len;
            buf[(x >> 8) % span] ^= (uint8_t)(1u << (x % 8));
        }
        char err[512];
        fc_nn_model *m;
        if (fc_nn_model_load_buffer(buf, len, "corrupt.onnx", &m, err, sizeof err) < 0) {
            assert_true(err[0] != '\0');
            continue;
        }
        loaded++;
        fc_nn_session *s;
        if (fc_nn_session_new(m, &s, err, sizeof err) == 0) {
            fc_nn_shape in;
            fc_nn_model_input_shape(m, 0, &in);
            memset(fc_nn_session_input(s, 0), 0, fc_nn_shape_elements(&in) * sizeof(float));
            assert_int_equal(fc_nn_session_run(s, err, sizeof err), 0);
            fc_nn_session_free(s);
        }
        fc_nn_model_free(m);
    }
    printf("%d of 60 corrupted models still loaded\n", loaded);
    free(buf);
    free(orig);
}

static void rejects_unsupported_op(void **state)
{
    (void)state;
    size_t len;
    uint8_t *buf = read_file(front_path, &len);
    assert_non_null(buf);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    assert_non_null(mp);
    const char *victim = NULL;
    char *saved = NULL;
    for (size_t i = 0; i < mp->graph->n_node && !victim; i++)
        if (strcmp(mp->graph->node[i]->op_type, "Relu") == 0) {
            victim = mp->graph->node[i]->name;
            saved = mp->graph->node[i]->op_type;
            mp->graph->node[i]->op_type = "Sigmoid";
        }
    assert_non_null(victim);
    size_t n = onnx__model_proto__get_packed_size(mp);
    uint8_t *out = malloc(n);
    assert_non_null(out);
    onnx__model_proto__pack(mp, out);
    expect_rejected(out, n, "Sigmoid", victim);
    for (size_t i = 0; i < mp->graph->n_node; i++)
        if (mp->graph->node[i]->name == victim)
            mp->graph->node[i]->op_type = saved; /* free_unpacked frees the original */
    onnx__model_proto__free_unpacked(mp, NULL);
    free(out);
    free(buf);
}

static void rejects_what_xnnpack_cannot_express(void **state)
{
    (void)state;
    static const int64_t in_dims[4] = {1, 4, 4, 2}, to_nchw[4] = {0, 3, 1, 2};
    static const int64_t odd_perm[4] = {0, 2, 1, 3}, axis1[1] = {1};
    graph_builder g = {0};
    g.inputs[g.ninputs++] = value_info("x", 4, in_dims);
    add_ints(add_node(&g, "Transpose", "t", "xc", 1, "x"), "perm", 4, to_nchw);
    add_ints(add_node(&g, "Concat", "join", "j", 2, "xc", "xc"), "axis", 1, axis1);
    g.outputs[g.noutputs++] = value_info("j", 0, NULL);
    char err[512];
    fc_nn_model *m;
    assert_int_equal(load_graph(&g, &m, err, sizeof err), -ENOTSUP);
    assert_non_null(strstr(err, "'join' (Concat)"));
    free_owned();

    graph_builder g2 = {0};
    g2.inputs[g2.ninputs++] = value_info("x", 4, in_dims);
    add_ints(add_node(&g2, "Transpose", "swap", "s", 1, "x"), "perm", 4, odd_perm);
    g2.outputs[g2.noutputs++] = value_info("s", 0, NULL);
    assert_int_equal(load_graph(&g2, &m, err, sizeof err), -ENOTSUP);
    assert_non_null(strstr(err, "'swap' (Transpose)"));
    free_owned();
}

/* The fully convolutional BlazeFace translated for a 128x80 band: sizes follow
 * through the graph, the anchor-flattening reshapes shrink with the grids, and
 * it runs. A shape the input cannot take is refused, naming the input. */
static void resized_model_follows_the_input(void **state)
{
    (void)state;
    char err[512];
    size_t len;
    uint8_t *onnx = read_file(front_path, &len);
    assert_non_null(onnx);
    fc_nn_model *m;
    fc_nn_session *s;
    fc_nn_shape band = {4, {1, 80, 128, 3}};
    if (fc_nn_model_load_resized(onnx, len, "front", &band, &m, err, sizeof err))
        fail_msg("%s", err);
    static const struct {
        const char *name;
        int64_t anchors, values;
    } want[] = {{"Identity:0", 320, 1},
                {"Identity_1:0", 240, 1},
                {"Identity_2:0", 320, 16},
                {"Identity_3:0", 240, 16}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        int idx = fc_nn_model_find_output(m, want[i].name);
        assert_true(idx >= 0);
        fc_nn_shape o;
        fc_nn_model_output_shape(m, idx, &o);
        assert_int_equal(o.rank, 3);
        assert_int_equal(o.dims[1], want[i].anchors);
        assert_int_equal(o.dims[2], want[i].values);
    }
    fc_nn_shape in;
    fc_nn_model_input_shape(m, 0, &in);
    assert_int_equal(in.dims[1], 80);
    assert_int_equal(fc_nn_session_new(m, &s, err, sizeof err), 0);
    float *x = fc_nn_session_input(s, 0);
    for (size_t i = 0; i < 80 * 128 * 3; i++)
        x[i] = (float)(i % 251) / 125.0f - 1.0f;
    assert_int_equal(fc_nn_session_run(s, err, sizeof err), 0);
    const float *boxes = fc_nn_session_output(s, fc_nn_model_find_output(m, "Identity_3:0"));
    for (size_t i = 0; i < 240 * 16; i++)
        assert_true(isfinite(boxes[i]));
    fc_nn_session_free(s);
    fc_nn_model_free(m);

    fc_nn_shape flat = {3, {1, 80, 128}};
    assert_int_equal(fc_nn_model_load_resized(onnx, len, "front", &flat, &m, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "is [1,128,128,3]: it cannot run as [1,80,128]"));
    free(onnx);
}

static void missing_file_is_named(void **state)
{
    (void)state;
    char err[512];
    fc_nn_model *m;
    assert_true(fc_nn_model_load("/nonexistent/model.onnx", &m, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent/model.onnx"));
}

int main(void)
{
    front_path = require_model("blazeface-front-128.onnx");
    back_path = require_model("blazeface-back-256.onnx");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(front128_matches_onnxruntime),
        cmocka_unit_test(back256_matches_onnxruntime),
        cmocka_unit_test(isa_override_is_checked),
        cmocka_unit_test(generated_model_matches_naive_reference),
        cmocka_unit_test(rejects_truncated_models),
        cmocka_unit_test(rejects_random_bytes),
        cmocka_unit_test(survives_corrupted_models),
        cmocka_unit_test(rejects_unsupported_op),
        cmocka_unit_test(rejects_what_xnnpack_cannot_express),
        cmocka_unit_test(resized_model_follows_the_input),
        cmocka_unit_test(missing_file_is_named),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(front_path);
    free(back_path);
    return rc;
}
