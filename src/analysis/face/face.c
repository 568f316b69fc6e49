/* BlazeFace detector: letterbox -> model -> decode -> weighted NMS.
 *
 * The model sees the picture letterboxed into its size x size square. A
 * picture that is not square leaves bars the network would spend most of its
 * work on (56 of 128 rows for 16:9), so by default the model runs on a band:
 * the picture area rounded up to the coarsest stride (128x80 for 16:9), the
 * fully convolutional graph translated again for that input size, and
 * anchors placed where the band sits in the square. Boxes decode to the same
 * square coordinates either way; opts.square_input runs the whole square.
 *
 * One variant (model + anchors + pooled workspaces) exists per input size in
 * use, built on first use outside the lock. Workspaces (an nn session plus
 * scratch pictures) are pooled on each variant's free list under a mutex held
 * only to pop or push one; a caller that finds the list empty builds a new
 * workspace outside the lock. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libyuv.h>
#include <libyuv/scale_rgb.h>

#include "analysis/face/decode.h"
#include "analysis/face/face.h"
#include "analysis/nn/nn.h"
#include "core/clock.h"
#include "core/log.h"

/* Output names of the BlazeFace ONNX conversion: scores (classificators) and
 * regressors of the fine grid, then of the coarse grid, in anchor order. */
static const char *const score_names[2] = {"Identity:0", "Identity_1:0"};
static const char *const box_names[2] = {"Identity_2:0", "Identity_3:0"};

typedef struct variant variant;

typedef struct workspace {
    struct workspace *next;
    fc_nn_session *session;
    float *input;  /* in_w x in_h x 3 */
    uint8_t *rgb;  /* in_w x in_h x 3, the letterboxed picture area */
    uint8_t *i420; /* scaled I420 before conversion to RGB */
    fc_face_candidate *cand;
    fc_face_candidate *kept;
    /* Geometry whose black bars `input` holds (w == 0: none yet). Only the
     * picture area is rewritten while it stays the same. */
    int bars_w, bars_h;
    pthread_t user; /* the thread that used it last */
} workspace;

/* The model at one input size. */
struct variant {
    variant *next;
    int in_w, in_h; /* model input */
    int ox, oy;     /* where it sits in the size x size square */
    fc_nn_model *model;
    int input;
    int scores[2], boxes[2], counts[2];
    fc_anchor *anchors;
    int nanchors;
    workspace *free;
};

struct fc_face_detector {
    char *path;
    uint8_t *onnx; /* the file, to translate again for other input sizes */
    size_t onnx_len;
    int size;
    bool square_input;
    bool band_failed; /* the model did not translate for a band: square only */
    float min_score, nms_iou;
    int max_faces;
    float norm[256]; /* byte -> model input value */
    pthread_mutex_t lock;
    variant *variants; /* the first is the square */
};

/* Where the source picture lands inside the model's square. */
typedef struct letterbox {
    int w, h;   /* scaled size */
    int x0, y0; /* offset */
    float scale;
} letterbox;

static void workspace_free(workspace *ws)
{
    if (!ws) return;
    fc_nn_session_free(ws->session);
    free(ws->rgb);
    free(ws->i420);
    free(ws->cand);
    free(ws->kept);
    free(ws);
}

static int workspace_new(const variant *v, workspace **out, char *err, size_t errlen)
{
    workspace *ws = calloc(1, sizeof *ws);
    size_t px = (size_t)v->in_w * (size_t)v->in_h;
    int rc = -ENOMEM;
    if (!ws || !(ws->rgb = malloc(px * 3)) || !(ws->i420 = malloc(px * 2)) ||
        !(ws->cand = malloc((size_t)v->nanchors * sizeof *ws->cand)) ||
        !(ws->kept = malloc(FC_FACES_MAX * sizeof *ws->kept))) {
        snprintf(err, errlen, "out of memory for a detector workspace");
        goto fail;
    }
    if ((rc = fc_nn_session_new(v->model, &ws->session, err, errlen)) < 0) goto fail;
    ws->input = fc_nn_session_input(ws->session, v->input);
    *out = ws;
    return 0;
fail:
    workspace_free(ws);
    return rc;
}

static void variant_free(variant *v)
{
    if (!v) return;
    while (v->free) {
        workspace *next = v->free->next;
        workspace_free(v->free);
        v->free = next;
    }
    fc_nn_model_free(v->model);
    free(v->anchors);
    free(v);
}

static int check_outputs(const fc_face_detector *d, variant *v, char *err, size_t errlen)
{
    const fc_nn_model *m = v->model;
    int total = 0;
    for (int g = 0; g < 2; g++) {
        v->scores[g] = fc_nn_model_find_output(m, score_names[g]);
        v->boxes[g] = fc_nn_model_find_output(m, box_names[g]);
        if (v->scores[g] < 0 || v->boxes[g] < 0) {
            snprintf(err, errlen, "%s: not a BlazeFace model: no output named %s", d->path,
                     v->scores[g] < 0 ? score_names[g] : box_names[g]);
            return -EINVAL;
        }
        fc_nn_shape s, b;
        fc_nn_model_output_shape(m, v->scores[g], &s);
        fc_nn_model_output_shape(m, v->boxes[g], &b);
        if (s.rank != 3 || s.dims[0] != 1 || s.dims[2] != 1 || b.rank != 3 || b.dims[0] != 1 ||
            b.dims[1] != s.dims[1] || b.dims[2] != 16) {
            char s1[64], s2[64];
            snprintf(err, errlen, "%s: outputs %s %s and %s %s are not [1,N,1] and [1,N,16]",
                     d->path, score_names[g], fc_nn_shape_str(&s, s1, sizeof s1), box_names[g],
                     fc_nn_shape_str(&b, s2, sizeof s2));
            return -EINVAL;
        }
        v->counts[g] = (int)s.dims[1];
        total += v->counts[g];
    }
    if (total != v->nanchors) {
        snprintf(err, errlen, "%s: the outputs cover %d anchors, a %dx%d BlazeFace input has %d",
                 d->path, total, v->in_w, v->in_h, v->nanchors);
        return -EINVAL;
    }
    return 0;
}

/* The model translated for a w x h input at (ox, oy) in the square, with one
 * workspace, which proves XNNPACK accepts the graph. */
static int variant_new(const fc_face_detector *d, int w, int h, int ox, int oy, variant **out,
                       char *err, size_t errlen)
{
    variant *v = calloc(1, sizeof *v);
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    v->in_w = w, v->in_h = h, v->ox = ox, v->oy = oy;
    bool square = w == d->size && h == d->size;
    fc_nn_shape in = {4, {1, h, w, 3}};
    int rc = fc_nn_model_load_resized(d->onnx, d->onnx_len, d->path, square ? NULL : &in, &v->model,
                                      err, errlen);
    if (rc < 0) goto fail;
    v->input = 0;
    v->nanchors = fc_blazeface_band_anchor_count(d->size, w, h);
    rc = -ENOMEM;
    if (v->nanchors < 1 || !(v->anchors = malloc((size_t)v->nanchors * sizeof *v->anchors))) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    fc_blazeface_band_anchors(d->size, w, h, ox, oy, v->anchors, v->nanchors);
    if ((rc = check_outputs(d, v, err, errlen)) < 0) goto fail;
    if ((rc = workspace_new(v, &v->free, err, errlen)) < 0) goto fail;
    *out = v;
    return 0;
fail:
    variant_free(v);
    return rc;
}

/* The model input for a scaled picture of lb_w x lb_h: the square, or the
 * band of it the picture needs, rounded up to the coarsest stride. */
static void input_geometry(const fc_face_detector *d, int lb_w, int lb_h, int *w, int *h)
{
    int q = d->size / 8;
    bool square = d->square_input || __atomic_load_n(&d->band_failed, __ATOMIC_RELAXED);
    *w = square ? d->size : (lb_w + q - 1) / q * q;
    *h = square ? d->size : (lb_h + q - 1) / q * q;
}

/* A free workspace off v's list, the one this thread used last if it is
 * there: its packed weights and buffers are likely still in this core's
 * cache, where another thread's are in another core's. Called locked. */
static workspace *take(variant *v)
{
    pthread_t self = pthread_self();
    workspace **p = &v->free;
    while (*p && !pthread_equal((*p)->user, self))
        p = &(*p)->next;
    if (!*p) p = &v->free;
    workspace *ws = *p;
    if (ws) {
        *p = ws->next;
        ws->user = self;
    }
    return ws;
}

/* A workspace of the variant for a w x h input; *vout says which. */
static workspace *acquire(fc_face_detector *d, int w, int h, variant **vout)
{
    pthread_mutex_lock(&d->lock);
    variant *v = d->variants;
    while (v && (v->in_w != w || v->in_h != h))
        v = v->next;
    workspace *ws = v ? take(v) : NULL;
    pthread_mutex_unlock(&d->lock);
    char err[256];
    if (!v) {
        variant *nv = NULL;
        if (variant_new(d, w, h, (d->size - w) / 2, (d->size - h) / 2, &nv, err, sizeof err) < 0) {
            /* A model that only runs at its declared size: run the square. */
            if (!__atomic_exchange_n(&d->band_failed, true, __ATOMIC_RELAXED))
                fc_warn("face detector: %dx%d input unavailable, running the whole %dx%d "
                        "square from now on: %s",
                        w, h, d->size, d->size, err);
            w = h = d->size;
        }
        pthread_mutex_lock(&d->lock);
        v = d->variants;
        while (v && (v->in_w != w || v->in_h != h))
            v = v->next;
        if (!v) { /* keep ours; else another thread's won (or it is the square) */
            nv->next = d->variants->next;
            d->variants->next = nv;
            v = nv;
            nv = NULL;
        }
        ws = take(v);
        pthread_mutex_unlock(&d->lock);
        variant_free(nv);
    }
    if (!ws) {
        if (workspace_new(v, &ws, err, sizeof err) < 0) return NULL;
        ws->user = pthread_self();
    }
    *vout = v;
    return ws;
}

static void release(fc_face_detector *d, variant *v, workspace *ws)
{
    pthread_mutex_lock(&d->lock);
    ws->next = v->free;
    v->free = ws;
    pthread_mutex_unlock(&d->lock);
}

int fc_face_detector_open(const char *model_path, const fc_face_detector_opts *opts,
                          fc_face_detector **out, char *err, size_t errlen)
{
    *out = NULL;
    fc_face_detector *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(model_path))) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    fc_face_detector_opts o = opts ? *opts : (fc_face_detector_opts){0};
    d->min_score = o.min_score > 0 ? o.min_score : 0.5f;
    d->nms_iou = o.nms_iou > 0 ? o.nms_iou : 0.3f;
    d->max_faces = o.max_faces > 0 && o.max_faces < FC_FACES_MAX ? o.max_faces : FC_FACES_MAX;
    d->square_input = o.square_input;
    /* The model was trained on RGB scaled to [-1, 1]. */
    for (int i = 0; i < 256; i++)
        d->norm[i] = (float)i / 127.5f - 1.0f;

    fc_nn_model *m = NULL;
    int rc = fc_nn_model_read(model_path, &d->onnx, &d->onnx_len, err, errlen);
    if (rc == 0) rc = fc_nn_model_load_buffer(d->onnx, d->onnx_len, model_path, &m, err, errlen);
    if (rc < 0) goto fail;
    fc_nn_shape in;
    rc = -EINVAL;
    if (fc_nn_model_input_count(m) != 1) {
        snprintf(err, errlen, "%s: not a BlazeFace model: %d inputs", model_path,
                 fc_nn_model_input_count(m));
        goto fail;
    }
    fc_nn_model_input_shape(m, 0, &in);
    if (in.rank != 4 || in.dims[0] != 1 || in.dims[1] != in.dims[2] || in.dims[3] != 3 ||
        in.dims[1] < 16 || in.dims[1] % 16 || in.dims[1] > 1024) {
        char s[64];
        snprintf(err, errlen, "%s: input %s is not a square NHWC RGB picture ([1,S,S,3])",
                 model_path, fc_nn_shape_str(&in, s, sizeof s));
        goto fail;
    }
    d->size = (int)in.dims[1];
    fc_nn_model_free(m);
    m = NULL;
    if ((rc = variant_new(d, d->size, d->size, 0, 0, &d->variants, err, errlen)) < 0) goto fail;
    *out = d;
    return 0;
fail:
    fc_nn_model_free(m);
    fc_face_detector_close(d);
    return rc;
}

void fc_face_detector_close(fc_face_detector *d)
{
    if (!d) return;
    while (d->variants) {
        variant *next = d->variants->next;
        variant_free(d->variants);
        d->variants = next;
    }
    free(d->onnx);
    free(d->path);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

int fc_face_detector_input_size(const fc_face_detector *d)
{
    return d->size;
}

static int fit(const fc_face_detector *d, int w, int h, letterbox *lb)
{
    if (w < 1 || h < 1 || w > 1 << 15 || h > 1 << 15) return -EINVAL;
    float s = fminf((float)d->size / (float)w, (float)d->size / (float)h);
    lb->scale = s;
    lb->w = (int)lroundf((float)w * s), lb->h = (int)lroundf((float)h * s);
    lb->w = lb->w < 1 ? 1 : lb->w > d->size ? d->size : lb->w;
    lb->h = lb->h < 1 ? 1 : lb->h > d->size ? d->size : lb->h;
    lb->x0 = (d->size - lb->w) / 2, lb->y0 = (d->size - lb->h) / 2;
    return 0;
}

int fc_face_detector_scaled_size(const fc_face_detector *d, int w, int h, int *sw, int *sh)
{
    letterbox lb;
    if (fit(d, w, h, &lb) < 0) return -EINVAL;
    *sw = lb.w, *sh = lb.h;
    return 0;
}

int fc_face_detector_input_for(const fc_face_detector *d, int w, int h, int *iw, int *ih)
{
    letterbox lb;
    if (fit(d, w, h, &lb) < 0) return -EINVAL;
    input_geometry(d, lb.w, lb.h, iw, ih);
    return 0;
}

bool fc_face_near_band_edge(const fc_face_detector *d, int w, int h, float x, float y, float bw,
                            float bh)
{
    int iw, ih;
    if (fc_face_detector_input_for(d, w, h, &iw, &ih) < 0) return false;
    if (ih < d->size) /* top and bottom cut */
        return y < FC_FACE_BAND_EDGE * (float)h || y + bh > (1 - FC_FACE_BAND_EDGE) * (float)h;
    if (iw < d->size) /* sides cut */
        return x < FC_FACE_BAND_EDGE * (float)w || x + bw > (1 - FC_FACE_BAND_EDGE) * (float)w;
    return false;
}

/* Where the picture starts in a variant's input-sized scratch picture. */
static size_t origin(const variant *v, const letterbox *lb)
{
    return ((size_t)(lb->y0 - v->oy) * (size_t)v->in_w + (size_t)(lb->x0 - v->ox)) * 3;
}

/* Model input from the letterboxed picture area; the black bars (-1 after
 * normalising) are written only when the geometry changes, which for a stream
 * is once. */
static void normalize(const fc_face_detector *d, const variant *v, workspace *ws,
                      const letterbox *lb)
{
    size_t W = (size_t)v->in_w;
    if (ws->bars_w != lb->w || ws->bars_h != lb->h) {
        for (size_t i = 0; i < W * (size_t)v->in_h * 3; i++)
            ws->input[i] = d->norm[0];
        ws->bars_w = lb->w, ws->bars_h = lb->h;
    }
    size_t row = (size_t)lb->w * 3, at = origin(v, lb);
    for (int y = 0; y < lb->h; y++, at += W * 3) {
        const uint8_t *src = ws->rgb + at;
        float *dst = ws->input + at;
        for (size_t i = 0; i < row; i++)
            dst[i] = d->norm[src[i]];
    }
}

static int infer_and_decode(fc_face_detector *d, const variant *v, workspace *ws,
                            const letterbox *lb, fc_faces *out, fc_face_timing *t)
{
    uint64_t t0 = fc_now_ns();
    normalize(d, v, ws, lb);
    uint64_t t1 = fc_now_ns();
    char err[256];
    if (fc_nn_session_run(ws->session, err, sizeof err) < 0) return -EIO;
    uint64_t t2 = fc_now_ns();
    int n = 0, base = 0;
    for (int g = 0; g < 2; g++) {
        n += fc_face_decode(fc_nn_session_output(ws->session, v->scores[g]),
                            fc_nn_session_output(ws->session, v->boxes[g]), v->anchors + base,
                            v->counts[g], (float)d->size, d->min_score, ws->cand + n);
        base += v->counts[g];
    }
    int kept = fc_face_weighted_nms(ws->cand, n, d->nms_iou, ws->kept, d->max_faces);
    /* Normalised square coordinates -> source pixels. */
    float S = (float)d->size, inv = 1.0f / lb->scale;
    for (int i = 0; i < kept; i++) {
        const fc_face_candidate *c = &ws->kept[i];
        fc_face *f = &out->face[i];
        f->x = (c->xmin * S - (float)lb->x0) * inv;
        f->y = (c->ymin * S - (float)lb->y0) * inv;
        f->w = (c->xmax - c->xmin) * S * inv;
        f->h = (c->ymax - c->ymin) * S * inv;
        f->score = c->score;
        for (int k = 0; k < FC_FACE_KEYPOINTS; k++) {
            f->keypoints[k].x = (c->kp[2 * k] * S - (float)lb->x0) * inv;
            f->keypoints[k].y = (c->kp[2 * k + 1] * S - (float)lb->y0) * inv;
        }
    }
    out->count = kept;
    uint64_t t3 = fc_now_ns();
    if (t) {
        t->preprocess_s += (double)(t1 - t0) / 1e9;
        t->inference_s = (double)(t2 - t1) / 1e9;
        t->decode_s = (double)(t3 - t2) / 1e9;
    }
    return 0;
}

struct fc_face_input {
    fc_face_detector *d;
    variant *v;
    workspace *ws;
    letterbox lb;
    const uint8_t *u, *v_plane; /* chroma, scaled only when the model runs */
    int ustride, vstride, w, h;
};

static fc_face_input *input_new(fc_face_detector *d, const letterbox *lb, bool square)
{
    fc_face_input *in = malloc(sizeof *in);
    if (!in) return NULL;
    int w = d->size, h = d->size;
    if (!square) input_geometry(d, lb->w, lb->h, &w, &h);
    in->d = d;
    in->lb = *lb;
    if (!(in->ws = acquire(d, w, h, &in->v))) {
        free(in);
        return NULL;
    }
    return in;
}

void fc_face_input_drop(fc_face_input *in)
{
    if (!in) return;
    release(in->d, in->v, in->ws);
    free(in);
}

int fc_face_prepare_i420(fc_face_detector *d, const uint8_t *y, int ystride, const uint8_t *u,
                         int ustride, const uint8_t *v, int vstride, int w, int h, unsigned flags,
                         fc_face_input **out)
{
    *out = NULL;
    letterbox lb;
    if (!y || !u || !v || ystride < w || ustride < (w + 1) / 2 || vstride < (w + 1) / 2 ||
        fit(d, w, h, &lb) < 0)
        return -EINVAL;
    fc_face_input *in = input_new(d, &lb, flags & FC_FACE_SQUARE);
    if (!in) return -ENOMEM;
    /* Scale in I420 first: fewer bytes than RGB, then convert only the
     * model-sized picture. Luma now (2/3 of the bytes, and all a motion check
     * needs), chroma once the model is going to run. */
    ScalePlane(y, ystride, w, h, in->ws->i420, lb.w, lb.w, lb.h, kFilterBox);
    in->u = u, in->v_plane = v, in->ustride = ustride, in->vstride = vstride;
    in->w = w, in->h = h;
    *out = in;
    return 0;
}

const uint8_t *fc_face_input_luma(const fc_face_input *in, int *w, int *h)
{
    *w = in->lb.w, *h = in->lb.h;
    return in->ws->i420;
}

int fc_face_input_detect(fc_face_input *in, fc_faces *out)
{
    out->count = 0;
    workspace *ws = in->ws;
    const letterbox *lb = &in->lb;
    int cw = (lb->w + 1) / 2, ch = (lb->h + 1) / 2;
    int scw = (in->w + 1) / 2, sch = (in->h + 1) / 2;
    uint8_t *sy = ws->i420, *su = sy + (size_t)lb->w * (size_t)lb->h, *sv = su + (size_t)cw * ch;
    ScalePlane(in->u, in->ustride, scw, sch, su, cw, cw, ch, kFilterBox);
    ScalePlane(in->v_plane, in->vstride, scw, sch, sv, cw, cw, ch, kFilterBox);
    int rc = I420ToRAW(sy, lb->w, su, cw, sv, cw, ws->rgb + origin(in->v, lb), in->v->in_w * 3,
                       lb->w, lb->h) != 0
                 ? -EINVAL
                 : infer_and_decode(in->d, in->v, ws, lb, out, NULL);
    fc_face_input_drop(in);
    return rc;
}

int fc_face_detect_i420(fc_face_detector *d, const uint8_t *y, int ystride, const uint8_t *u,
                        int ustride, const uint8_t *v, int vstride, int w, int h, fc_faces *out)
{
    out->count = 0;
    fc_face_input *in;
    int rc = fc_face_prepare_i420(d, y, ystride, u, ustride, v, vstride, w, h, 0, &in);
    return rc < 0 ? rc : fc_face_input_detect(in, out);
}

int fc_face_detect_rgb_timed(fc_face_detector *d, const uint8_t *rgb, int stride, int w, int h,
                             fc_faces *out, fc_face_timing *timing)
{
    out->count = 0;
    letterbox lb;
    if (!rgb || stride < 3 * w || fit(d, w, h, &lb) < 0) return -EINVAL;
    fc_face_input *in = input_new(d, &lb, false);
    if (!in) return -ENOMEM;
    uint64_t t0 = fc_now_ns();
    int rc = RGBScale(rgb, stride, w, h, in->ws->rgb + origin(in->v, &lb), in->v->in_w * 3, lb.w,
                      lb.h, kFilterBox) != 0
                 ? -EINVAL
                 : 0;
    if (timing) timing->preprocess_s = (double)(fc_now_ns() - t0) / 1e9;
    if (rc == 0) rc = infer_and_decode(d, in->v, in->ws, &lb, out, timing);
    fc_face_input_drop(in);
    return rc;
}

int fc_face_detect_rgb(fc_face_detector *d, const uint8_t *rgb, int stride, int w, int h,
                       fc_faces *out)
{
    return fc_face_detect_rgb_timed(d, rgb, stride, w, h, out, NULL);
}

int fc_face_letterbox_rgb(fc_face_detector *d, const uint8_t *rgb, int stride, int w, int h,
                          uint8_t *dst)
{
    letterbox lb;
    if (!rgb || stride < 3 * w || fit(d, w, h, &lb) < 0) return -EINVAL;
    /* Black bars, as MediaPipe's letterbox leaves them. */
    memset(dst, 0, (size_t)d->size * (size_t)d->size * 3);
    return RGBScale(rgb, stride, w, h, dst + ((size_t)lb.y0 * (size_t)d->size + (size_t)lb.x0) * 3,
                    d->size * 3, lb.w, lb.h, kFilterBox) != 0
               ? -EINVAL
               : 0;
}
