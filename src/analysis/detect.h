/* fc_detect: the detection stage of one stream.
 *
 *   fc_detect_submit(raw) ─► detect job (worker, role "analysis"): the frame
 *     scaled to the model's size (its one full read); motion gate on that
 *     luma; BlazeFace unless the scene is unchanged
 *   ─► loop: tracker (ids, smoothing, expiry), PTZ target, and when the
 *     tracks changed an event for every subscriber of the stream
 *
 * It owns the motion gate (analysis/motion.h), the tracker, the PTZ
 * controller and the snapshot of the tracks as last sent, so a stream only
 * decides when a frame is due for detection and where events go. One detect
 * job runs at a time (a latest-wins fc_stage): a frame due while one runs
 * replaces the waiting one, never queues. The motion thumbnails belong to the
 * running job, handed from job to job through the pool's locks; everything
 * else is the loop's.
 *
 * How the tracks go on the wire is not this module's business: the config
 * names the function that builds the event (the stream WebSocket endpoint
 * supplies it), called once per change for every subscriber.
 *
 * Ownership: the stream creates and closes it; the face detector is borrowed
 * and must outlive it. Loop thread only. */
#ifndef FC_ANALYSIS_DETECT_H
#define FC_ANALYSIS_DETECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/face/face.h"
#include "analysis/ptz.h"
#include "analysis/tracker.h"
#include "core/event.h"
#include "core/loop.h"
#include "core/pool.h"

/* The event telling subscribers the tracks of frame `f`, or NULL on OOM. */
typedef fc_event *(*fc_detections_event_fn)(const fc_frame *f, const fc_tracker *tracks);

typedef struct fc_detect_config {
    fc_face_detector *detector; /* NULL = no detection */
    double fps;                 /* inferences per second at most (default 2) */
    /* Skip inference when less than this fraction of the motion thumbnail
     * changed since the last inference (analysis/motion.h); 0 = never skip. */
    double motion_threshold;
    fc_tracker_config tracker;
    fc_ptz_config ptz;
    fc_detections_event_fn event; /* NULL = tell nobody */
} fc_detect_config;

/* What the stage tells its stream, on the loop. Either may be NULL. */
typedef struct fc_detect_hooks {
    /* The tracks changed: `e` is for every subscriber (the callee takes
     * references of its own). */
    void (*changed)(void *arg, fc_event *e);
    void (*failed)(void *arg, const char *msg);
} fc_detect_hooks;

typedef struct fc_detect_stats {
    uint64_t inferences;            /* detector runs */
    uint64_t inferences_with_faces; /* runs that found at least one face */
    uint64_t inferences_skipped;    /* skipped by motion gating */
    uint64_t inferences_square;     /* run on the whole square: a face near a band edge */
    uint64_t cpu_ns;                /* CPU of detect jobs: gating and inference */
    uint64_t events;                /* events published */
    uint64_t coalesced;             /* detect jobs replaced before they ran */
} fc_detect_stats;

typedef struct fc_detect fc_detect;

/* For pictures of width x height; 0 x 0 when the size is not known yet (a
 * camera before its first frame: fc_detect_resize then). 0, or a negative
 * errno with err. */
int fc_detect_create(fc_loop *loop, fc_pool *pool, const fc_detect_config *cfg, int width,
                     int height, const fc_detect_hooks *hooks, void *arg, fc_detect **out,
                     char *err, size_t errlen);
/* Drops the waiting job; `done` runs once the running one is back (maybe
 * before this returns), and the stage is freed then. */
void fc_detect_close(fc_detect *d, void (*done)(void *arg), void *arg);

/* The pictures are of another size from now on (a camera that changed
 * resolution): the tracks and the PTZ view start again at that size, the
 * motion gate with the next job. */
void fc_detect_resize(fc_detect *d, int width, int height);
/* Runs detection on `raw` (referenced, not taken). */
void fc_detect_submit(fc_detect *d, fc_frame *raw);
/* Advances the PTZ view to `t` (capture seconds) and returns it: the crop of
 * the frame the PTZ view shows next. */
fc_rect fc_detect_ptz_step(fc_detect *d, double t);

const fc_detect_config *fc_detect_config_of(const fc_detect *d);
const fc_tracker *fc_detect_tracker(const fc_detect *d);
fc_rect fc_detect_ptz_view(const fc_detect *d);
void fc_detect_get_stats(const fc_detect *d, fc_detect_stats *out);

#endif
