/* fc_stream: one live stream, from its source to its subscribers.
 *
 *   timer tick ─► render job (worker) ─┬─► encode job per wanted tier (worker)
 *                                      │     ─► full view hub
 *                                      ├─► PTZ crop job (worker) ─► encode per tier
 *                                      │     ─► PTZ view hub
 *                                      └─► detect job (worker, detect_fps):
 *                                            motion gate, face detection
 *                                            ─► tracker, PTZ target, events (loop)
 *
 * The stream runs its source only while somebody consumes it, and only as
 * fast as the hungriest consumer needs, never faster than the source's fps:
 * encode_fps while any view has subscribers, detect_fps whenever detection is
 * on (detection is a consumer of its own: a stream with detection and no
 * viewer runs at detect_fps). Each stage (render, detect, PTZ crop, encode per
 * view and tier) is a latest-wins fc_stage, so a slow worker skips stale
 * frames instead of queueing them. A tier of a view is encoded for a frame
 * only when some subscriber of that view is on it, and then once for all.
 *
 * Views: FC_VIEW_FULL is the source picture; FC_VIEW_PTZ (streams with
 * detection only) is a virtual pan/tilt/zoom crop that keeps the tracked faces
 * framed (analysis/ptz.h), at the source's size. Each view has its own hub.
 * Detection results go to the subscribers of both views as JSON events, when
 * they change.
 *
 * A stream belongs to one fc_loop; every function here runs on that loop's
 * thread. The stream owns its source and its hubs; the face detector is
 * borrowed (shared by all streams, thread-safe) and must outlive the stream. */
#ifndef FC_STREAM_STREAM_H
#define FC_STREAM_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "core/stage.h"
#include "analysis/face/face.h"
#include "analysis/ptz.h"
#include "analysis/tracker.h"
#include "hub/hub.h"
#include "sources/source.h"

typedef enum { FC_VIEW_FULL = 0, FC_VIEW_PTZ = 1, FC_VIEW_COUNT = 2 } fc_view;

const char *fc_view_name(fc_view v);
/* "full", "ptz"; returns 0 or -1. */
int fc_view_parse(const char *name, fc_view *out);

typedef struct fc_detect_config {
    fc_face_detector *detector; /* NULL = no detection */
    double fps;                 /* inferences per second at most (default 2) */
    /* Skip inference when less than this fraction of the motion thumbnail
     * changed since the last inference (analysis/motion.h); 0 = never skip. */
    double motion_threshold;
    fc_tracker_config tracker;
    fc_ptz_config ptz;
} fc_detect_config;

typedef struct fc_stream_config {
    double fps;        /* most the source is asked for */
    double encode_fps; /* cap on encodes per second, <= fps */
    int quality[FC_TIER_COUNT]; /* JPEG quality per tier */
    fc_detect_config detect;
} fc_stream_config;

typedef struct fc_stream_stats {
    uint64_t frames_produced;
    uint64_t frames_encoded[FC_VIEW_COUNT][FC_TIER_COUNT];
    uint64_t frames_not_encoded; /* produced but skipped by the encode cap */
    uint64_t render_coalesced, encode_coalesced; /* latest-wins skips */
    uint64_t detect_coalesced, ptz_coalesced;
    uint64_t errors;
    double measured_fps; /* frames produced per second over the last second */
    /* detection */
    uint64_t inferences;            /* detector runs */
    uint64_t inferences_with_faces; /* runs that found at least one face */
    uint64_t inferences_skipped;    /* skipped by motion gating */
    uint64_t inferences_square;     /* run on the whole square: a face near a band edge */
    uint64_t analysis_cpu_ns;       /* CPU of detect jobs: gating and inference */
    uint64_t ptz_cpu_ns;            /* CPU of PTZ crop jobs */
    uint64_t events;                /* detection events published */
} fc_stream_stats;

typedef struct fc_stream fc_stream;

/* Takes ownership of `src` (also on failure). */
int fc_stream_create(fc_loop *loop, fc_pool *pool, const char *id, fc_source *src,
                     const fc_stream_config *cfg, fc_histogram *loop_lag, fc_stream **out);
/* Starts consuming: a stream with detection runs its source from now on,
 * one without waits for its first subscriber. */
void fc_stream_start(fc_stream *s);
/* Stops producing, drops every subscriber, and calls `done` once no job of
 * the stream is in flight any more; then fc_stream_free() may be called. */
void fc_stream_shutdown(fc_stream *s, void (*done)(fc_stream *s, void *arg), void *arg);
void fc_stream_free(fc_stream *s);

/* Subscribes to one view. The PTZ view exists only with detection: -1. */
int fc_stream_subscribe(fc_stream *s, fc_view view, const fc_sub_opts *opts, fc_sub_wake_fn wake,
                        void *ctx, fc_sub **out);
void fc_stream_unsubscribe(fc_stream *s, fc_sub *sub);

const char *fc_stream_id(const fc_stream *s);
const fc_source *fc_stream_source(const fc_stream *s);
const fc_stream_config *fc_stream_config_of(const fc_stream *s);
/* The full view's hub. */
const fc_hub *fc_stream_hub(const fc_stream *s);
const fc_hub *fc_stream_view_hub(const fc_stream *s, fc_view view);
bool fc_stream_detecting(const fc_stream *s);
/* Live tracks and the PTZ view now; NULL without detection. */
const fc_tracker *fc_stream_tracker(const fc_stream *s);
fc_rect fc_stream_ptz_view(const fc_stream *s);
bool fc_stream_running(const fc_stream *s);
void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out);
const fc_histogram *fc_stream_encode_ms(const fc_stream *s);

#endif
