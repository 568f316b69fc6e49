/* BlazeFace output decoding, separate from the detector so it can be tested
 * on its own: SSD anchors, boxes and keypoints relative to anchors, sigmoid
 * scores, MediaPipe's weighted non-maximum suppression. Pure functions on
 * caller-owned memory; callable from any thread. Coordinates are normalised
 * to the model input (0..1). Private to src/analysis/face. */
#ifndef FC_ANALYSIS_FACE_DECODE_H
#define FC_ANALYSIS_FACE_DECODE_H

#include "analysis/face/face.h"

typedef struct fc_anchor {
    float x, y; /* centre; BlazeFace anchors have a fixed size of 1x1 */
} fc_anchor;

typedef struct fc_face_candidate {
    float xmin, ymin, xmax, ymax;
    float score;
    float kp[2 * FC_FACE_KEYPOINTS];
} fc_face_candidate;

/* Number of anchors for a square input of `size` pixels (896 for 128 and 256). */
int fc_blazeface_anchor_count(int size);
/* Writes the anchors in the order the model's outputs list them. Returns the
 * count, or -1 if cap is too small. */
int fc_blazeface_anchors(int size, fc_anchor *out, int cap);

/* The same for a w x h input (multiples of size / 8, the coarsest stride)
 * that covers the part of the size x size square starting at (ox, oy): the
 * fully convolutional model run on a band of the letterbox. Centres stay in
 * the square's coordinates, so decoding and the letterbox mapping do not
 * change. */
int fc_blazeface_band_anchor_count(int size, int w, int h);
int fc_blazeface_band_anchors(int size, int w, int h, int ox, int oy, fc_anchor *out, int cap);

/* Decodes `n` anchors' raw scores (n) and regressors (n x 16) into candidates
 * scoring at least min_score. Returns the candidate count. */
int fc_face_decode(const float *scores, const float *boxes, const fc_anchor *anchors, int n,
                   float size, float min_score, fc_face_candidate *out);

/* Weighted NMS in place: sorts c[0..n) by score, merges each best box with all
 * boxes overlapping it by more than iou (score-weighted average of
 * coordinates, keeping the best score) and writes at most max results to out.
 * Returns the result count. */
int fc_face_weighted_nms(fc_face_candidate *c, int n, float iou, fc_face_candidate *out, int max);

float fc_face_iou(float ax0, float ay0, float ax1, float ay1, float bx0, float by0, float bx1,
                  float by1);

#endif
