/* BlazeFace detector: letterbox -> model -> decode -> weighted NMS.
 *
 * Workspaces (an nn session plus scratch pictures) are pooled on a free list
 * under a mutex held only to pop or push one; a caller that finds the list
 * empty builds a new workspace outside the lock. */
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

/* Output names of the BlazeFace ONNX conversion: scores (classificators) and
 * regressors of the 16x16 grid, then of the 8x8 grid, in anchor order. */
static const char *const score_names[2] = {"Identity:0", "Identity_1:0"};
static const char *const box_names[2] = {"Identity_2:0", "Identity_3:0"};

typedef struct workspace {
    struct workspace *next;
    fc_nn_session *session;
    float *input;
    uint8_t *rgb;  /* size x size x 3, the letterboxed picture */
    uint8_t *i420; /* scaled I420 before conversion to RGB */
    fc_face_candidate *cand;
    fc_face_candidate *kept;
    /* Geometry whose black bars `input` holds (w == 0: none yet). Only the
     * picture area is rewritten while it stays the same. */
    int bars_w, bars_h;
} workspace;

struct fc_face_detector {
    fc_nn_model *model;
    int size;
    int input;
    int scores[2], boxes[2], counts[2];
    fc_anchor *anchors;
    int nanchors;
    float min_score, nms_iou;
    int max_faces;
    float norm[256]; /* byte -> model input value */
    pthread_mutex_t lock;
    workspace *free;
};

/* Where the source picture lands inside the model input. */
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

static int workspace_new(const fc_face_detector *d, workspace **out, char *err, size_t errlen)
{
    workspace *ws = calloc(1, sizeof *ws);
    size_t px = (size_t)d->size * (size_t)d->size;
    int rc = -ENOMEM;
    if (!ws || !(ws->rgb = malloc(px * 3)) || !(ws->i420 = malloc(px * 2)) ||
        !(ws->cand = malloc((size_t)d->nanchors * sizeof *ws->cand)) ||
        !(ws->kept = malloc(FC_FACES_MAX * sizeof *ws->kept))) {
        snprintf(err, errlen, "out of memory for a detector workspace");
        goto fail;
    }
    if ((rc = fc_nn_session_new(d->model, &ws->session, err, errlen)) < 0) goto fail;
    ws->input = fc_nn_session_input(ws->session, d->input);
    *out = ws;
    return 0;
fail:
    workspace_free(ws);
    return rc;
}

static workspace *acquire(fc_face_detector *d)
{
    pthread_mutex_lock(&d->lock);
    workspace *ws = d->free;
    if (ws) d->free = ws->next;
    pthread_mutex_unlock(&d->lock);
    if (!ws) {
        char err[256];
        if (workspace_new(d, &ws, err, sizeof err) < 0) return NULL;
    }
    return ws;
}

static void release(fc_face_detector *d, workspace *ws)
{
    pthread_mutex_lock(&d->lock);
    ws->next = d->free;
    d->free = ws;
    pthread_mutex_unlock(&d->lock);
}

static int check_outputs(fc_face_detector *d, char *err, size_t errlen, const char *path)
{
    const fc_nn_model *m = d->model;
    int total = 0;
    for (int g = 0; g < 2; g++) {
        d->scores[g] = fc_nn_model_find_output(m, score_names[g]);
        d->boxes[g] = fc_nn_model_find_output(m, box_names[g]);
        if (d->scores[g] < 0 || d->boxes[g] < 0) {
            snprintf(err, errlen, "%s: not a BlazeFace model: no output named %s", path,
                     d->scores[g] < 0 ? score_names[g] : box_names[g]);
            return -EINVAL;
        }
        fc_nn_shape s, b;
        fc_nn_model_output_shape(m, d->scores[g], &s);
        fc_nn_model_output_shape(m, d->boxes[g], &b);
        if (s.rank != 3 || s.dims[0] != 1 || s.dims[2] != 1 || b.rank != 3 || b.dims[0] != 1 ||
            b.dims[1] != s.dims[1] || b.dims[2] != 16) {
            char s1[64], s2[64];
            snprintf(err, errlen, "%s: outputs %s %s and %s %s are not [1,N,1] and [1,N,16]", path,
                     score_names[g], fc_nn_shape_str(&s, s1, sizeof s1), box_names[g],
                     fc_nn_shape_str(&b, s2, sizeof s2));
            return -EINVAL;
        }
        d->counts[g] = (int)s.dims[1];
        total += d->counts[g];
    }
    if (total != d->nanchors) {
        snprintf(err, errlen, "%s: the outputs cover %d anchors, a %dx%d BlazeFace has %d", path,
                 total, d->size, d->size, d->nanchors);
        return -EINVAL;
    }
    return 0;
}

int fc_face_detector_open(const char *model_path, const fc_face_detector_opts *opts,
                          fc_face_detector **out, char *err, size_t errlen)
{
    *out = NULL;
    fc_face_detector *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&d->lock, NULL);
    fc_face_detector_opts o = opts ? *opts : (fc_face_detector_opts){0};
    d->min_score = o.min_score > 0 ? o.min_score : 0.5f;
    d->nms_iou = o.nms_iou > 0 ? o.nms_iou : 0.3f;
    d->max_faces = o.max_faces > 0 && o.max_faces < FC_FACES_MAX ? o.max_faces : FC_FACES_MAX;
    /* The model was trained on RGB scaled to [-1, 1]. */
    for (int i = 0; i < 256; i++)
        d->norm[i] = (float)i / 127.5f - 1.0f;

    int rc = fc_nn_model_load(model_path, &d->model, err, errlen);
    if (rc < 0) goto fail;
    fc_nn_shape in;
    rc = -EINVAL;
    if (fc_nn_model_input_count(d->model) != 1) {
        snprintf(err, errlen, "%s: not a BlazeFace model: %d inputs", model_path,
                 fc_nn_model_input_count(d->model));
        goto fail;
    }
    d->input = 0;
    fc_nn_model_input_shape(d->model, 0, &in);
    if (in.rank != 4 || in.dims[0] != 1 || in.dims[1] != in.dims[2] || in.dims[3] != 3 ||
        in.dims[1] < 16 || in.dims[1] % 16 || in.dims[1] > 1024) {
        char s[64];
        snprintf(err, errlen, "%s: input %s is not a square NHWC RGB picture ([1,S,S,3])",
                 model_path, fc_nn_shape_str(&in, s, sizeof s));
        goto fail;
    }
    d->size = (int)in.dims[1];
    d->nanchors = fc_blazeface_anchor_count(d->size);
    if (!(d->anchors = malloc((size_t)d->nanchors * sizeof *d->anchors))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    fc_blazeface_anchors(d->size, d->anchors, d->nanchors);
    if ((rc = check_outputs(d, err, errlen, model_path)) < 0) goto fail;
    /* One workspace now proves XNNPACK accepts the graph before anyone
     * relies on the detector. */
    if ((rc = workspace_new(d, &d->free, err, errlen)) < 0) goto fail;
    *out = d;
    return 0;
fail:
    fc_face_detector_close(d);
    return rc;
}

void fc_face_detector_close(fc_face_detector *d)
{
    if (!d) return;
    while (d->free) {
        workspace *next = d->free->next;
        workspace_free(d->free);
        d->free = next;
    }
    fc_nn_model_free(d->model);
    free(d->anchors);
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

/* Where the picture starts in a size x size x 3 letterbox. The detector
 * writes only that area of its scratch picture; normalize() supplies the bars. */
static uint8_t *letterbox_origin(const fc_face_detector *d, uint8_t *rgb, const letterbox *lb)
{
    return rgb + ((size_t)lb->y0 * (size_t)d->size + (size_t)lb->x0) * 3;
}

static int letterbox_rgb(const fc_face_detector *d, const uint8_t *src, int stride, int w, int h,
                         uint8_t *dst, letterbox *lb)
{
    if (!src || stride < 3 * w || fit(d, w, h, lb) < 0) return -EINVAL;
    if (RGBScale(src, stride, w, h, letterbox_origin(d, dst, lb), d->size * 3, lb->w, lb->h,
                 kFilterBox) != 0)
        return -EINVAL;
    return 0;
}

static int letterbox_i420(const fc_face_detector *d, workspace *ws, const uint8_t *y, int ystride,
                          const uint8_t *u, int ustride, const uint8_t *v, int vstride, int w,
                          int h, letterbox *lb)
{
    if (!y || !u || !v || ystride < w || ustride < (w + 1) / 2 || vstride < (w + 1) / 2 ||
        fit(d, w, h, lb) < 0)
        return -EINVAL;
    /* Scale in I420 first: fewer bytes than RGB, then convert only the
     * model-sized picture. */
    int cw = (lb->w + 1) / 2, ch = (lb->h + 1) / 2;
    uint8_t *sy = ws->i420, *su = sy + (size_t)lb->w * (size_t)lb->h, *sv = su + (size_t)cw * ch;
    if (I420Scale(y, ystride, u, ustride, v, vstride, w, h, sy, lb->w, su, cw, sv, cw, lb->w, lb->h,
                  kFilterBox) != 0)
        return -EINVAL;
    if (I420ToRAW(sy, lb->w, su, cw, sv, cw, letterbox_origin(d, ws->rgb, lb), d->size * 3, lb->w,
                  lb->h) != 0)
        return -EINVAL;
    return 0;
}

/* Model input from the letterboxed picture area; the black bars (-1 after
 * normalising) are written only when the geometry changes, which for a stream
 * is once. */
static void normalize(const fc_face_detector *d, workspace *ws, const letterbox *lb)
{
    size_t S = (size_t)d->size;
    if (ws->bars_w != lb->w || ws->bars_h != lb->h) {
        for (size_t i = 0; i < S * S * 3; i++)
            ws->input[i] = d->norm[0];
        ws->bars_w = lb->w, ws->bars_h = lb->h;
    }
    size_t row = (size_t)lb->w * 3;
    for (size_t y = (size_t)lb->y0; y < (size_t)(lb->y0 + lb->h); y++) {
        size_t at = (y * S + (size_t)lb->x0) * 3;
        const uint8_t *src = ws->rgb + at;
        float *dst = ws->input + at;
        for (size_t i = 0; i < row; i++)
            dst[i] = d->norm[src[i]];
    }
}

static int infer_and_decode(fc_face_detector *d, workspace *ws, const letterbox *lb, fc_faces *out,
                            fc_face_timing *t)
{
    uint64_t t0 = fc_now_ns();
    normalize(d, ws, lb);
    uint64_t t1 = fc_now_ns();
    char err[256];
    if (fc_nn_session_run(ws->session, err, sizeof err) < 0) return -EIO;
    uint64_t t2 = fc_now_ns();
    int n = 0, base = 0;
    for (int g = 0; g < 2; g++) {
        n += fc_face_decode(fc_nn_session_output(ws->session, d->scores[g]),
                            fc_nn_session_output(ws->session, d->boxes[g]), d->anchors + base,
                            d->counts[g], (float)d->size, d->min_score, ws->cand + n);
        base += d->counts[g];
    }
    int kept = fc_face_weighted_nms(ws->cand, n, d->nms_iou, ws->kept, d->max_faces);
    /* Normalised letterbox coordinates -> source pixels. */
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

int fc_face_detect_i420(fc_face_detector *d, const uint8_t *y, int ystride, const uint8_t *u,
                        int ustride, const uint8_t *v, int vstride, int w, int h, fc_faces *out)
{
    out->count = 0;
    workspace *ws = acquire(d);
    if (!ws) return -ENOMEM;
    letterbox lb;
    int rc = letterbox_i420(d, ws, y, ystride, u, ustride, v, vstride, w, h, &lb);
    if (rc == 0) rc = infer_and_decode(d, ws, &lb, out, NULL);
    release(d, ws);
    return rc;
}

int fc_face_detect_rgb_timed(fc_face_detector *d, const uint8_t *rgb, int stride, int w, int h,
                             fc_faces *out, fc_face_timing *timing)
{
    out->count = 0;
    workspace *ws = acquire(d);
    if (!ws) return -ENOMEM;
    letterbox lb;
    uint64_t t0 = fc_now_ns();
    int rc = letterbox_rgb(d, rgb, stride, w, h, ws->rgb, &lb);
    if (timing) timing->preprocess_s = (double)(fc_now_ns() - t0) / 1e9;
    if (rc == 0) rc = infer_and_decode(d, ws, &lb, out, timing);
    release(d, ws);
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
    /* Black bars, as MediaPipe's letterbox leaves them. */
    memset(dst, 0, (size_t)d->size * (size_t)d->size * 3);
    return letterbox_rgb(d, rgb, stride, w, h, dst, &lb);
}
