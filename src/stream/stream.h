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
 * framed (analysis/ptz.h), at the source's size. Detection events go to the
 * subscribers of both views.
 *
 * Outputs: one per (view, codec) that somebody watches, made by its first
 * subscriber and closed with its last, so each frame of a tier is encoded
 * once per codec in use and shared by every subscriber of that codec; a
 * codec nobody asks for costs nothing.
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
    const fc_codec_ops *codec;  /* for subscribers that name none; NULL = JPEG */
    int quality[FC_TIER_COUNT]; /* still-picture codecs, per tier */
    double keyint_s;            /* inter-frame codecs: periodic key frame; 0 = default */
    fc_detect_config detect;    /* detect.detector NULL = no detection */
} fc_stream_config;

/* One (view, codec) output's figures, over every output it has had: closed
 * ones keep counting here. */
typedef struct fc_stream_output_stats {
    bool open;          /* somebody watches this view in this codec now */
    size_t subscribers; /* now */
    uint64_t encoded[FC_TIER_COUNT];
    uint64_t keyframes, keyframes_forced, keyframes_periodic; /* encode/output.h */
    uint64_t drops, drops_to_key;                             /* hub/hub.h */
} fc_stream_output_stats;

typedef struct fc_stream_stats {
    uint64_t frames_produced;
    uint64_t frames_encoded[FC_VIEW_COUNT][FC_TIER_COUNT]; /* every codec */
    fc_stream_output_stats output[FC_VIEW_COUNT][FC_CODEC_COUNT];
    uint64_t frames_not_encoded; /* produced but skipped by the encode cap */
    uint64_t render_coalesced, encode_coalesced, ptz_coalesced; /* latest-wins skips */
    uint64_t errors;
    uint64_t drops;      /* frames dropped from full subscriber queues, every output */
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

/* Subscribes to one view in `codec` (NULL = the config's): 0, -ENOENT for
 * the PTZ view of a stream without detection, -ESHUTDOWN while shutting
 * down, -ENOMEM; err says which. */
int fc_stream_subscribe(fc_stream *s, fc_view view, const fc_codec_ops *codec,
                        const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx, fc_sub **out,
                        char *err, size_t errlen);
/* The same view and codec as subscribed. */
void fc_stream_unsubscribe(fc_stream *s, fc_view view, const fc_codec_ops *codec, fc_sub *sub);

const char *fc_stream_id(const fc_stream *s);
const fc_source *fc_stream_source(const fc_stream *s);
const fc_stream_config *fc_stream_config_of(const fc_stream *s);
/* The codec of subscribers that name none. */
const fc_codec_ops *fc_stream_codec(const fc_stream *s);
/* Whether the stream has the view (the PTZ view only with detection). */
bool fc_stream_has_view(const fc_stream *s, fc_view view);
/* The subscribers of one view in one codec, or NULL while nobody watches it
 * so (no output). */
const fc_hub *fc_stream_hub(const fc_stream *s, fc_view view, const fc_codec_ops *codec);
/* A view's subscribers in every codec, summed; zeros for a view the stream
 * does not have. */
void fc_stream_view_stats(const fc_stream *s, fc_view view, fc_hub_stats *out);
/* The size of the frames a subscriber of `codec` on `tier` is sent (an
 * inter-frame codec's low tier is half the source's; encode/output.h). */
void fc_stream_frame_size(const fc_stream *s, const fc_codec_ops *codec, fc_tier tier, int *width,
                          int *height);
/* The detection stage, or NULL without detection. */
const fc_detect *fc_stream_detect(const fc_stream *s);
bool fc_stream_running(const fc_stream *s);
void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out);
/* CPU of one encode in `codec`, both views. */
const fc_histogram *fc_stream_encode_ms(const fc_stream *s, fc_codec codec);

#endif
