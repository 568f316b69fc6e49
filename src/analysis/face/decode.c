/* Follows MediaPipe's SsdAnchorsCalculator, TensorsToDetectionsCalculator and
 * NonMaxSuppressionCalculator (WEIGHTED) as configured for BlazeFace. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/face/decode.h"

/* BlazeFace's SSD layout: four layers, the first at stride size/16 and three
 * at size/8 that share one grid; each layer adds two anchors per cell (aspect
 * ratio 1 and its interpolated scale). For 128 that is strides 8,16,16,16. */
#define LAYERS 4
#define ANCHORS_PER_LAYER 2

static int layer_stride(int size, int layer)
{
    return layer == 0 ? size / 16 : size / 8;
}

/* Anchors of a w x h input placed at (ox, oy) inside the model's size x size
 * square; each grid cell's centre in the square's 0..1 coordinates. */
static int for_each_anchor(int size, int w, int h, int ox, int oy, fc_anchor *out, int cap)
{
    if (size < 16 || size % 16 || w < 1 || h < 1 || w % (size / 8) || h % (size / 8)) return -1;
    int n = 0;
    for (int layer = 0; layer < LAYERS;) {
        int stride = layer_stride(size, layer), per_cell = 0;
        int last = layer;
        while (last < LAYERS && layer_stride(size, last) == stride) {
            per_cell += ANCHORS_PER_LAYER;
            last++;
        }
        for (int y = 0; y < h / stride; y++)
            for (int x = 0; x < w / stride; x++)
                for (int k = 0; k < per_cell; k++) {
                    if (out) {
                        if (n >= cap) return -1;
                        out[n] = (fc_anchor){
                            ((float)(x * stride + ox) + 0.5f * (float)stride) / (float)size,
                            ((float)(y * stride + oy) + 0.5f * (float)stride) / (float)size};
                    }
                    n++;
                }
        layer = last;
    }
    return n;
}

int fc_blazeface_anchor_count(int size)
{
    return for_each_anchor(size, size, size, 0, 0, NULL, 0);
}

int fc_blazeface_anchors(int size, fc_anchor *out, int cap)
{
    return for_each_anchor(size, size, size, 0, 0, out, cap);
}

int fc_blazeface_band_anchor_count(int size, int w, int h)
{
    return for_each_anchor(size, w, h, 0, 0, NULL, 0);
}

int fc_blazeface_band_anchors(int size, int w, int h, int ox, int oy, fc_anchor *out, int cap)
{
    return for_each_anchor(size, w, h, ox, oy, out, cap);
}

int fc_face_decode(const float *scores, const float *boxes, const fc_anchor *anchors, int n,
                   float size, float min_score, fc_face_candidate *out)
{
    int count = 0;
    for (int i = 0; i < n; i++) {
        /* MediaPipe clips raw scores to +-100 before the sigmoid. */
        float raw = fminf(fmaxf(scores[i], -100.0f), 100.0f);
        float score = 1.0f / (1.0f + expf(-raw));
        if (!(score >= min_score)) continue;
        const float *r = boxes + (size_t)i * 16;
        float xc = r[0] / size + anchors[i].x, yc = r[1] / size + anchors[i].y;
        float w = r[2] / size, h = r[3] / size;
        fc_face_candidate *c = &out[count++];
        c->xmin = xc - w / 2, c->ymin = yc - h / 2;
        c->xmax = xc + w / 2, c->ymax = yc + h / 2;
        c->score = score;
        for (int k = 0; k < FC_FACE_KEYPOINTS; k++) {
            c->kp[2 * k] = r[4 + 2 * k] / size + anchors[i].x;
            c->kp[2 * k + 1] = r[5 + 2 * k] / size + anchors[i].y;
        }
    }
    return count;
}

float fc_face_iou(float ax0, float ay0, float ax1, float ay1, float bx0, float by0, float bx1,
                  float by1)
{
    float iw = fminf(ax1, bx1) - fmaxf(ax0, bx0), ih = fminf(ay1, by1) - fmaxf(ay0, by0);
    if (iw <= 0 || ih <= 0) return 0.0f;
    float inter = iw * ih;
    float uni = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter;
    return uni > 0 ? inter / uni : 0.0f;
}

static int by_score_desc(const void *a, const void *b)
{
    float sa = ((const fc_face_candidate *)a)->score, sb = ((const fc_face_candidate *)b)->score;
    return (sa < sb) - (sa > sb);
}

int fc_face_weighted_nms(fc_face_candidate *c, int n, float iou, fc_face_candidate *out, int max)
{
    qsort(c, (size_t)n, sizeof *c, by_score_desc);
    int count = 0;
    /* c[0..n) holds the boxes not yet merged, best first; each round merges
     * the best one with its overlaps and keeps the rest in order. */
    while (n > 0 && count < max) {
        const fc_face_candidate best = c[0];
        fc_face_candidate sum = {0};
        float total = 0.0f;
        int rest = 0;
        for (int i = 0; i < n; i++) {
            const fc_face_candidate *o = &c[i];
            bool merge = i == 0 || fc_face_iou(best.xmin, best.ymin, best.xmax, best.ymax, o->xmin,
                                               o->ymin, o->xmax, o->ymax) > iou;
            if (!merge) {
                c[rest++] = *o;
                continue;
            }
            total += o->score;
            sum.xmin += o->score * o->xmin, sum.ymin += o->score * o->ymin;
            sum.xmax += o->score * o->xmax, sum.ymax += o->score * o->ymax;
            for (int k = 0; k < 2 * FC_FACE_KEYPOINTS; k++)
                sum.kp[k] += o->score * o->kp[k];
        }
        fc_face_candidate *r = &out[count++];
        r->xmin = sum.xmin / total, r->ymin = sum.ymin / total;
        r->xmax = sum.xmax / total, r->ymax = sum.ymax / total;
        for (int k = 0; k < 2 * FC_FACE_KEYPOINTS; k++)
            r->kp[k] = sum.kp[k] / total;
        r->score = best.score;
        n = rest;
    }
    return count;
}
