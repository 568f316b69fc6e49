/* fc_output: the one way out of the pipeline for raw pictures. A stream has
 * one per (view, codec) somebody watches; every avatar session has one.
 *
 *   fc_output_push(raw) ─► per tier some subscriber is on now:
 *        latest-wins encode stage (worker) ─► [scale] ─► the tier's codec
 *        instance ─► fc_hub_publish ─► every subscriber on that tier
 *
 * An output is a hub (hub/hub.h), one latest-wins fc_stage per quality tier
 * and one codec instance per tier, opened through encode/codec.h. A tier
 * nobody is on is not encoded. The instance is opened by the first encode
 * job of its tier (on the worker: an inter-frame codec's set-up is not
 * loop work), reopened when the picture size changes, and closed once no
 * subscriber has been on its tier for idle_close_ms (a one-shot
 * timer armed only while such an instance is open) or when the output
 * closes.
 *
 * What each encode does differently is decided on the loop when it is
 * submitted. For an inter-frame codec (DESIGN.md rule 9) that is whether it
 * makes a key frame: a subscriber arriving on a tier, or one whose full
 * queue left a gap, asks that tier for one (the hub collects the requests);
 * requests coalesce to at most one forced key frame per key_interval_s per
 * tier (any number of arrivals in that time are served by one; a request
 * inside it waits for its end), a job replaced before it ran hands its key
 * frame to the job that replaced it, and a tier that has made no key frame
 * for keyint_s makes one anyway (the floor, for a subscriber whose request
 * was lost). Still-picture codecs ignore all of it: every frame is a key
 * frame.
 *
 * Tiers of an inter-frame codec are rungs of bitrate and size: the low tier
 * encodes the picture at half its width and height (scaled with libyuv in
 * the encode job, before the codec; docs/benchmarks.md has the measurement
 * behind it), unless same_size_tiers. Still-picture tiers differ in quality
 * only.
 *
 * Frames made elsewhere (an H.264 camera's own access units, passed
 * through) fit the same hub: a passthrough output is an inter-frame output
 * whose frames come from packets, with key frames where the camera puts
 * them; docs/architecture.md says how.
 *
 * Ownership: the creator owns the output and ends it with fc_output_close;
 * the output owns its hub, jobs and encoders. Raw frames given to push are
 * referenced, not taken. Loop thread only, but fc_output_slot_encode (the
 * producer's worker job); encoders run on the workers. */
#ifndef FC_ENCODE_OUTPUT_H
#define FC_ENCODE_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/pool.h"
#include "encode/codec.h"
#include "hub/hub.h"

#define FC_OUTPUT_IDLE_CLOSE_MS 5000
/* Inter-frame codecs: a key frame at least this often (seconds), and forced
 * ones at most once per FC_OUTPUT_KEY_INTERVAL_S per tier. */
#define FC_OUTPUT_KEYINT_S 10.0
#define FC_OUTPUT_KEY_INTERVAL_S 1.0

typedef struct fc_output fc_output;

typedef struct fc_output_config {
    const char *name; /* the hub's name in log lines: "cam0", "cam0 (ptz)" */
    const fc_codec_ops *codec;
    int quality[FC_TIER_COUNT]; /* still-picture codecs: per tier, 1..100 */
    double fps;                 /* the most frames per second it is pushed */
    /* Every pushed frame counts (an avatar session's one client): a frame
     * that finishes for a tier its subscriber has just left still goes out,
     * rather than being lost. */
    bool deliver_late;
    /* Close a tier's codec instance once nobody has been on the tier this
     * long; 0 = FC_OUTPUT_IDLE_CLOSE_MS. */
    unsigned idle_close_ms;
    /* Inter-frame codecs: the periodic key frame, seconds (0 =
     * FC_OUTPUT_KEYINT_S), and the least time between two forced ones per
     * tier (0 = FC_OUTPUT_KEY_INTERVAL_S; below 0: none, every request is
     * served at the next frame). */
    double keyint_s, key_interval_s;
    /* Inter-frame codecs: every tier at the pushed frame's size. */
    bool same_size_tiers;
} fc_output_config;

/* What the output tells its owner, on the loop. Either may be NULL. */
typedef struct fc_output_hooks {
    /* `f` was handed to the subscribers; its encode took `cpu_ns` of CPU. */
    void (*published)(void *arg, const fc_frame *f, uint64_t cpu_ns);
    /* An encode failed; `msg` names the codec and the cause. */
    void (*failed)(void *arg, const char *msg);
} fc_output_hooks;

typedef struct fc_output_stats {
    uint64_t encoded[FC_TIER_COUNT];
    uint64_t coalesced; /* encode jobs replaced by a newer frame before they ran */
    uint64_t encoders_opened;
    int encoders_open;
    /* Inter-frame codecs: key frames published, of which made because a
     * subscriber asked (joins, gaps, tier moves; an instance's first frame is
     * not counted: it is a key frame anyway) and for the keyint floor. */
    uint64_t keyframes, keyframes_forced, keyframes_periodic;
} fc_output_stats;

/* 0, or a negative errno with err saying what failed. */
int fc_output_create(fc_loop *loop, fc_pool *pool, const fc_output_config *cfg,
                     const fc_output_hooks *hooks, void *arg, fc_output **out, char *err,
                     size_t errlen);
/* Closes the output: nothing is published from now on, every subscriber is
 * removed, pending encodes are dropped; `done` runs once the last running
 * encode is back and every encoder is closed, and the output is freed then
 * (before `done`, which may run before this returns). */
void fc_output_close(fc_output *o, void (*done)(void *arg), void *arg);

/* A new rate and new qualities for the frames pushed from now on: each
 * tier's codec instance is reopened with them by its next encode (an
 * inter-frame codec starts again at a key frame). */
void fc_output_reconfigure(fc_output *o, double fps, const int quality[FC_TIER_COUNT]);

/* 0, or -ENOMEM. */
int fc_output_subscribe(fc_output *o, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx,
                        fc_sub **out);
void fc_output_unsubscribe(fc_output *o, fc_sub *sub);
size_t fc_output_subscribers(const fc_output *o);

/* Encodes `raw` once for every tier some subscriber is on. */
void fc_output_push(fc_output *o, fc_frame *raw);
/* Encodes `raw` for one tier only, for a subscriber that has just joined it
 * (a stream gives a joiner its newest frame at once). Nothing is submitted
 * while that tier's encode is busy: a newer frame is on its way to the
 * joiner then. Returns whether it was submitted. */
bool fc_output_push_tier(fc_output *o, fc_frame *raw, fc_tier tier);
/* Encoding in the job that makes the frame. Pushing a frame costs a hop back
 * to the loop and a second job (a worker and a loop wake-up per frame); a
 * producer that makes one frame at a time for one subscriber (an avatar
 * session) reserves the encode when it submits its job and does it at the
 * end of that job instead. The output still decides the tier and the
 * encode args (on the loop, now) and publishes (on the loop, at done). */
typedef struct fc_output_slot fc_output_slot;
/* Loop: the encode of the next frame for the one tier wanted now, or NULL
 * when none or several are wanted or that tier is busy (push instead). */
fc_output_slot *fc_output_reserve(fc_output *o);
/* The producer's worker job: encodes `raw` (referenced) with the reserved
 * tier's codec instance. 0, or a negative errno (reported at done). */
int fc_output_slot_encode(fc_output_slot *s, fc_frame *raw);
/* Loop, always, once per reservation: publishes what the slot encoded (or
 * reports its failure), or with nothing encoded gives the tier back;
 * `cpu_ns` is what the encode cost. Frees the slot. */
void fc_output_slot_done(fc_output_slot *s, uint64_t cpu_ns);
/* Every subscriber's pending event becomes `e` (the caller keeps its
 * reference). */
void fc_output_publish_event(fc_output *o, fc_event *e);
/* True while an encode job is running or waiting, or a slot is reserved. */
bool fc_output_busy(const fc_output *o);

const fc_hub *fc_output_hub(const fc_output *o);
/* The size tier `t` of an output made with `cfg` encodes a `width` x
 * `height` picture at. Any thread. */
void fc_output_tier_size(const fc_output_config *cfg, int t, int width, int height, int *tw,
                         int *th);
void fc_output_get_stats(const fc_output *o, fc_output_stats *out);

#endif
