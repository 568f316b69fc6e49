/* fc_tracker: turns each inference's detections into tracks with stable ids.
 *
 * A detection continues the track it overlaps best (IoU), or failing any
 * overlap the track whose centre is nearest within a fraction of the track's
 * size, greedily, best pair first. Unmatched detections start new tracks (ids
 * count up from 1 per tracker and are never reused). A track's box is an
 * exponential moving average of its detections, so the box does not jitter
 * with the detector's frame-to-frame noise. A track that has matched nothing
 * for `expiry_s` is dropped.
 *
 * Plain data owned by one stream; loop thread (or any one thread). */
#ifndef FC_ANALYSIS_TRACKER_H
#define FC_ANALYSIS_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "analysis/face/face.h"

typedef struct fc_tracker_config {
    double expiry_s;  /* drop a track unmatched for this long (default 1.5) */
    double smoothing; /* weight of a new detection in the box average, (0, 1] (0.5) */
    double min_iou;   /* overlap that matches outright (0.3) */
    double max_dist;  /* else centres closer than this x track size match (0.5) */
} fc_tracker_config;

#define FC_TRACKER_CONFIG_DEFAULT                                                                  \
    {                                                                                              \
        1.5, 0.5, 0.3, 0.5                                                                         \
    }

typedef struct fc_track {
    uint32_t id;
    float x, y, w, h; /* smoothed box */
    fc_face last;     /* the latest detection: score, raw box, keypoints */
    double last_seen; /* seconds, the caller's clock */
    uint32_t hits;
    bool matched; /* matched by the latest inference */
} fc_track;

typedef struct fc_tracker {
    fc_tracker_config cfg;
    int count;
    fc_track track[FC_FACES_MAX]; /* oldest first */
    uint32_t next_id;
} fc_tracker;

void fc_tracker_init(fc_tracker *t, const fc_tracker_config *cfg);
/* Feeds one inference's faces, seen at time `now` (seconds). */
void fc_tracker_update(fc_tracker *t, const fc_faces *faces, double now);
/* The scene has not changed since the last inference (motion gating): the
 * tracks that inference matched are still there, so they count as seen at
 * `now`; the others keep ageing towards expiry. */
void fc_tracker_hold(fc_tracker *t, double now);
/* Drops tracks unmatched for longer than expiry_s at `now`. Returns how many. */
int fc_tracker_expire(fc_tracker *t, double now);

/* Intersection over union of two boxes (x, y, w, h). */
double fc_box_iou(float ax, float ay, float aw, float ah, float bx, float by, float bw, float bh);

#endif
