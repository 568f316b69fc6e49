/* fc_stream: one live stream, from its source to its subscribers.
 *
 *   timer tick ─► render job (worker) ─► encode job per wanted tier (worker)
 *             ─► hub: queue a reference for every subscriber on that tier
 *
 * The stream runs its source only while somebody consumes it, and only as
 * fast as the hungriest consumer needs (today: encode_fps for subscribers),
 * never faster than the source's fps. Each stage (render, encode per tier) is
 * a latest-wins fc_stage, so a slow worker skips stale frames instead of
 * queueing them. A tier is encoded for a frame only when some subscriber is on
 * it at that moment, and then once for all of them.
 *
 * A stream belongs to one fc_loop; every function here runs on that loop's
 * thread. The stream owns its source and its hub. */
#ifndef FC_STREAM_STREAM_H
#define FC_STREAM_STREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "core/stage.h"
#include "hub/hub.h"
#include "sources/source.h"

typedef struct fc_stream_config {
    double fps;        /* most the source is asked for */
    double encode_fps; /* cap on encodes per second, <= fps */
    int quality[FC_TIER_COUNT]; /* JPEG quality per tier */
} fc_stream_config;

typedef struct fc_stream_stats {
    uint64_t frames_produced;
    uint64_t frames_encoded[FC_TIER_COUNT];
    uint64_t frames_not_encoded; /* produced but skipped by the encode cap */
    uint64_t render_coalesced, encode_coalesced; /* latest-wins skips */
    uint64_t errors;
    double measured_fps; /* frames produced per second over the last second */
} fc_stream_stats;

typedef struct fc_stream fc_stream;

/* Takes ownership of `src` (also on failure). */
int fc_stream_create(fc_loop *loop, fc_pool *pool, const char *id, fc_source *src,
                     const fc_stream_config *cfg, fc_histogram *loop_lag, fc_stream **out);
/* Stops producing, drops every subscriber, and calls `done` once no job of
 * the stream is in flight any more; then fc_stream_free() may be called. */
void fc_stream_shutdown(fc_stream *s, void (*done)(fc_stream *s, void *arg), void *arg);
void fc_stream_free(fc_stream *s);

int fc_stream_subscribe(fc_stream *s, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx,
                        fc_sub **out);
void fc_stream_unsubscribe(fc_stream *s, fc_sub *sub);

const char *fc_stream_id(const fc_stream *s);
const fc_source *fc_stream_source(const fc_stream *s);
const fc_stream_config *fc_stream_config_of(const fc_stream *s);
const fc_hub *fc_stream_hub(const fc_stream *s);
bool fc_stream_running(const fc_stream *s);
void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out);
const fc_histogram *fc_stream_encode_ms(const fc_stream *s);

#endif
