/* fc_stream: one live stream, from its source to its views' outputs.
 *
 *   timer tick ─► render job (worker) ─► frame_arrived ─┬─► full view output
 *                                                        ├─► PTZ crop job (worker)
 *                                                        │     ─► PTZ view output
 *                                                        └─► detection stage
 *                                                              (analysis/detect.h)
 *
 * The stream owns pacing, demand and views; encoding and fan-out are its
 * outputs' (encode/output.h), detection is its detection stage's. It runs its
 * source only while somebody consumes it, and only as fast as the hungriest
 * consumer needs, never faster than the source's fps: encode_fps while any
 * view has subscribers, detect_fps whenever detection is on (detection is a
 * consumer of its own: a stream with detection and no viewer runs at
 * detect_fps). Render, PTZ crop and detection are latest-wins fc_stages, so a
 * slow worker skips stale frames instead of queueing them.
 *
 * Views: FC_VIEW_FULL is the source picture; FC_VIEW_PTZ (streams with
 * detection only) is a virtual pan/tilt/zoom crop that keeps the tracked faces
 * framed (analysis/ptz.h), at the source's size. Each view has its own
 * output. Detection events go to the subscribers of both views.
 *
 * A stream belongs to one fc_loop; every function here runs on that loop's
 * thread. The stream owns its source, outputs and detection stage; the face
 * detector and codec are borrowed and must outlive it. */
#ifndef FC_STREAM_STREAM_H
#define FC_STREAM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/detect.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "encode/codec.h"
#include "hub/hub.h"
#include "sources/source.h"

typedef enum { FC_VIEW_FULL = 0, FC_VIEW_PTZ = 1, FC_VIEW_COUNT = 2 } fc_view;

const char *fc_view_name(fc_view v);
/* "full", "ptz"; returns 0 or -EINVAL. */
int fc_view_parse(const char *name, fc_view *out);

typedef struct fc_stream_config {
    double fps;                 /* most the source is asked for */
    double encode_fps;          /* cap on encodes per second, <= fps */
    const fc_codec_ops *codec;  /* NULL = JPEG */
    int quality[FC_TIER_COUNT]; /* per tier */
    fc_detect_config detect;    /* detect.detector NULL = no detection */
} fc_stream_config;

typedef struct fc_stream_stats {
    uint64_t frames_produced;
    uint64_t frames_encoded[FC_VIEW_COUNT][FC_TIER_COUNT];
    uint64_t frames_not_encoded; /* produced but skipped by the encode cap */
    uint64_t render_coalesced, encode_coalesced, ptz_coalesced; /* latest-wins skips */
    uint64_t errors;
    uint64_t drops;      /* frames dropped from full subscriber queues, both views */
    double measured_fps; /* frames produced per second over the last second */
    uint64_t ptz_cpu_ns; /* CPU of PTZ crop jobs */
    fc_detect_stats detect;
} fc_stream_stats;

typedef struct fc_stream fc_stream;

/* Takes ownership of `src` (also on failure). 0, or a negative errno with
 * err naming the stream and the cause. */
int fc_stream_create(fc_loop *loop, fc_pool *pool, const char *id, fc_source *src,
                     const fc_stream_config *cfg, fc_histogram *loop_lag, fc_stream **out,
                     char *err, size_t errlen);
/* Starts consuming: a stream with detection runs its source from now on,
 * one without waits for its first subscriber. */
void fc_stream_start(fc_stream *s);
/* Stops producing, drops every subscriber, and calls `done` once no job of
 * the stream is in flight any more; then fc_stream_free() may be called. */
void fc_stream_shutdown(fc_stream *s, void (*done)(fc_stream *s, void *arg), void *arg);
void fc_stream_free(fc_stream *s);

/* Changes what a running stream can change without a new source or new
 * views: the encode cap, the detection rate (a stream with detection) and
 * the quality per tier. Rates above the source's fps are capped at it.
 * Subscribers stay subscribed; the frames from now on follow the new values
 * (each tier's encoder is reopened with them at its next frame). */
void fc_stream_reconfigure(fc_stream *s, double encode_fps, double detect_fps,
                           const int quality[FC_TIER_COUNT]);

/* Subscribes to one view: 0, -ENOENT for the PTZ view of a stream without
 * detection, -ESHUTDOWN while shutting down, -ENOMEM. */
int fc_stream_subscribe(fc_stream *s, fc_view view, const fc_sub_opts *opts, fc_sub_wake_fn wake,
                        void *ctx, fc_sub **out);
void fc_stream_unsubscribe(fc_stream *s, fc_view view, fc_sub *sub);

const char *fc_stream_id(const fc_stream *s);
const fc_source *fc_stream_source(const fc_stream *s);
const fc_stream_config *fc_stream_config_of(const fc_stream *s);
/* The codec every view's frames are in. */
const fc_codec_ops *fc_stream_codec(const fc_stream *s);
/* A view's subscribers; the PTZ view's exist only with detection (NULL). */
const fc_hub *fc_stream_view_hub(const fc_stream *s, fc_view view);
/* The detection stage, or NULL without detection. */
const fc_detect *fc_stream_detect(const fc_stream *s);
bool fc_stream_running(const fc_stream *s);
void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out);
const fc_histogram *fc_stream_encode_ms(const fc_stream *s);

#endif
