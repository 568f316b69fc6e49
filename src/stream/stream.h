/* fc_stream: one live stream, from its source to its views' outputs.
 *
 *   paced:   timer tick ─► render job (worker) ─┐
 *   pushing: source's decode stage ─► on_frame ─┴─► frame_arrived ─┬─► full view output
 *                                                                  ├─► PTZ crop job (worker)
 *                                                                  │     ─► PTZ view output
 *                                                                  └─► detection stage
 *                                                                      (analysis/detect.h)
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
 * A pushing source (file, RTSP, V4L2, synthetic:video; sources/source.h) is
 * started with the stream and told that same demand (fc_source_demand):
 * pixels at the rate above, key frames only when detection is its only
 * consumer and the key frames come often enough (cfg.key_only), nothing when
 * nobody consumes it, which closes a camera's connection cfg.idle_close
 * seconds later. Its frames enter frame_arrived like rendered ones. A
 * subscriber joining a running JPEG/WebP stream of a pushing source gets its
 * newest frame at once, encoded for the subscriber's tier, instead of waiting
 * for the next one (which may be a key frame seconds away). When the source
 * delivers another size or codec, the stream's format (fc_stream_format_of)
 * gets a new serial from the first frame that has it: the endpoint tells its
 * subscribers before that frame, detection and the PTZ view start again at
 * the new size, the outputs' encoders reopen for it.
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
#include "stream/passthrough.h"

typedef enum { FC_VIEW_FULL = 0, FC_VIEW_PTZ = 1, FC_VIEW_COUNT = 2 } fc_view;

const char *fc_view_name(fc_view v);
/* "full", "ptz"; returns 0 or -EINVAL. */
int fc_view_parse(const char *name, fc_view *out);

/* What a pushing source whose only consumer is detection decodes. */
typedef enum {
    FC_KEY_ONLY_AUTO = 0, /* key frames only while they come at least at detect.fps */
    FC_KEY_ONLY_ALWAYS,   /* key frames only: detection runs at the key-frame rate if lower */
    FC_KEY_ONLY_NEVER,    /* every frame (decimated to detect.fps after decoding) */
} fc_key_only_policy;

typedef struct fc_stream_config {
    /* Paced sources: the rate the source is asked for (> 0). Pushing ones:
     * a cap on their own rate, 0 = none. */
    double fps;
    /* Cap on encodes per second, <= fps; 0 (pushing sources only) = none. */
    double encode_fps;
    const fc_codec_ops *codec;  /* for subscribers that name none; NULL = JPEG */
    int quality[FC_TIER_COUNT]; /* still-picture codecs, per tier */
    double keyint_s;            /* inter-frame codecs: periodic key frame; 0 = default */
    fc_detect_config detect;    /* detect.detector NULL = no detection */
    /* Pushing sources: seconds a camera or device stays connected after its
     * last consumer left (a file pauses at once); what to decode for
     * detection alone. */
    double idle_close;
    fc_key_only_policy key_only;
} fc_stream_config;

/* What the frames of a stream look like, as its subscribers are told: in
 * the hello, and by a format message before the first frame of a new
 * serial. */
typedef struct fc_stream_format {
    uint64_t serial;       /* 0 = no frame yet (a camera that has not delivered one) */
    uint32_t first_id;     /* the first frame of this format */
    int width, height;     /* of the frames; before the first one, size= or 0 */
    char source_codec[16]; /* the source's codec ("h264", "vp8", ...; "raw" for rendered
                              sources); "" until known */
    double fps;            /* frames per second sent at most: the encode cap and the
                              source's own rate, the lower known one; 0 = not known */
} fc_stream_format;

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
    uint64_t frames_fused; /* encoded in the job that decoded them (no hop through the loop) */
    uint64_t render_coalesced, encode_coalesced, ptz_coalesced; /* latest-wins skips */
    uint64_t errors;
    uint64_t drops;      /* frames dropped from full subscriber queues, every output */
    double measured_fps; /* frames produced per second over the last second */
    uint64_t ptz_cpu_ns; /* CPU of PTZ crop jobs */
    fc_detect_stats detect;
    /* codec=h264 (stream/passthrough.h), over every passthrough it has had;
     * its drops are in `drops` too. */
    fc_passthrough_stats passthrough;
    size_t passthrough_subscribers; /* now */
    uint64_t passthrough_drops, passthrough_drops_to_key;
} fc_stream_stats;

typedef struct fc_stream fc_stream;

/* Takes ownership of `src` (also on failure) and starts a pushing source
 * (idle until fc_stream_start). 0, or a negative errno with err naming the
 * stream and the cause. */
int fc_stream_create(fc_loop *loop, fc_pool *pool, const char *id, fc_source *src,
                     const fc_stream_config *cfg, fc_histogram *loop_lag, fc_stream **out,
                     char *err, size_t errlen);
/* Starts consuming: a stream with detection runs its source from now on,
 * one without waits for its first subscriber. */
void fc_stream_start(fc_stream *s);
/* Stops producing, drops every subscriber, and calls `done` once no job of
 * the stream is in flight any more and a pushing source has stopped (its
 * thread joined); then fc_stream_free() may be called. */
void fc_stream_shutdown(fc_stream *s, void (*done)(fc_stream *s, void *arg), void *arg);
void fc_stream_free(fc_stream *s);

/* Changes what a running stream can change without a new source or new
 * views: the encode cap, the detection rate (a stream with detection) and
 * the quality per tier. Rates above the source's fps are capped at it.
 * Subscribers stay subscribed; the frames from now on follow the new values
 * (each tier's encoder is reopened with them at its next frame). */
void fc_stream_reconfigure(fc_stream *s, double encode_fps, double detect_fps,
                           const int quality[FC_TIER_COUNT]);

/* Subscribes to one view in `codec` (NULL = the config's): 0, -ENOENT for
 * the PTZ view of a stream without detection, -ESHUTDOWN while shutting
 * down, -ENOMEM; err says which. `codec` &fc_h264_passthrough is the
 * camera's own H.264 (full view, streams that fc_stream_offers_h264 only,
 * else -EINVAL): its subscribers need no decoding, and while they are the
 * only consumers the source decodes nothing. */
int fc_stream_subscribe(fc_stream *s, fc_view view, const fc_codec_ops *codec,
                        const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx, fc_sub **out,
                        char *err, size_t errlen);
/* Whether the source's packets are the input's own H.264 (a file or RTSP
 * camera; one not opened yet whose codec is not known counts). */
bool fc_stream_offers_h264(const fc_stream *s);
/* The WebCodecs codec string of the camera's H.264 ("avc1.64001f"): its
 * last IDR access unit's while somebody watches it so, else its input's
 * parameters'; NULL before the input was opened or when it is not H.264. */
const char *fc_stream_h264_codec_string(const fc_stream *s);
/* The decoder configuration codec=h264 subscribers are told, or NULL while
 * nobody subscribes so. */
const fc_passthrough_format *fc_stream_passthrough_format(const fc_stream *s);
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
/* The format subscribers are told (see fc_stream_format). */
const fc_stream_format *fc_stream_format_of(const fc_stream *s);
/* Pushing sources: what the source last reported (codec, coded and
 * delivered size, nominal rate); NULL for paced ones. */
const fc_source_format *fc_stream_source_format(const fc_stream *s);
/* The source's state and counters now. A paced source is `live` while the
 * stream runs it and `idle` otherwise, with no counters. */
void fc_stream_source_status(const fc_stream *s, fc_source_status *out);
void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out);
/* CPU of one encode in `codec`, both views. */
const fc_histogram *fc_stream_encode_ms(const fc_stream *s, fc_codec codec);

#endif
