/* fc_avatar: one avatar session, a client's start_streaming from the moment it
 * arrives until streaming_completed (or an error, or stop_streaming).
 *
 * On the worker pool it resolves the client's paths inside the media
 * directory, decodes the picture and the speech, opens the generator and
 * converts the audio to the generator's format (resampling only when the rate
 * differs). Then it paces frames at 25 fps against absolute deadlines on the
 * audio clock (or as fast as the client takes them with run_kwargs.realtime
 * false), generating and encoding each frame in one worker job, and publishes
 * them into its own fc_hub with the client as the one subscriber: the same
 * bounded drop-oldest queue and adaptive quality tiers as camera viewers.
 *
 * The transport owns the connection and calls in; the session calls back
 * through fc_avatar_callbacks (JSON text to send, the opt-in audio block, a
 * wake-up when frames wait). Loop thread only; the session's heavy work runs
 * in jobs it owns. */
#ifndef FC_AVATAR_SESSION_H
#define FC_AVATAR_SESSION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avatar/media.h"
#include "core/frame.h"
#include "analysis/face/face.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "framecast/generator.h"
#include "hub/hub.h"

#define FC_AVATAR_FPS 25

typedef struct fc_avatar_stats {
    uint64_t started, completed, stopped, failed;
    uint64_t active;
    uint64_t frames_generated, frames_sent, frames_dropped;
    uint64_t missed_deadlines; /* realtime frames skipped or ready after the next one was due */
    uint64_t prepare_cpu_ns, generate_cpu_ns, encode_cpu_ns;
    fc_histogram first_frame_ms; /* start_streaming to the first frame handed to the socket */
} fc_avatar_stats;

/* What every session of a server shares. Owned by the server; outlives its
 * sessions. */
typedef struct fc_avatar_env {
    fc_loop *loop;
    fc_pool *pool;
    const fc_generator *gen;
    const fc_media *media;
    /* Optional, borrowed: finds the face in a session's picture when the
     * client's setup_kwargs do not say where it is. */
    fc_face_detector *detector;
    int quality[FC_TIER_COUNT]; /* JPEG/WebP quality per tier */
    size_t queue;               /* subscriber queue unless run_kwargs.queue says */
    fc_avatar_stats stats;
    size_t alive; /* sessions not freed yet, released or not */
    void (*idle_cb)(void *arg);
    void *idle_arg;
} fc_avatar_env;

void fc_avatar_env_init(fc_avatar_env *env, fc_loop *loop, fc_pool *pool, const fc_generator *gen,
                        const fc_media *media, const int quality[3], size_t queue);
/* Calls cb once no session is left (at once if none is): the server waits for
 * this before it stops the loop, so no job outlives it. */
void fc_avatar_env_when_idle(fc_avatar_env *env, void (*cb)(void *arg), void *arg);
int fc_avatar_metrics_register(fc_metrics *m, fc_avatar_env *env);

typedef struct fc_avatar_callbacks {
    /* A JSON text message for the client, to go out before any frame queued
     * after it. */
    void (*text)(void *ctx, const char *json);
    /* The opt-in audio block: `buf` (malloc'd, now the callee's) holds
     * FC_FRAME_HEADROOM scratch bytes, then `len` bytes to send as one binary
     * message, after the texts already given and before any frame. */
    void (*audio)(void *ctx, uint8_t *buf, size_t len);
    /* Frames are waiting (fc_avatar_next_frame). */
    void (*wake)(void *ctx);
} fc_avatar_callbacks;

typedef struct fc_avatar fc_avatar;

/* Starts a session for a start_streaming message. Returns 0 (and has sent
 * streaming_started), or -1 with err saying what is wrong with the request
 * (nothing was sent). */
int fc_avatar_start(fc_avatar_env *env, const char *client_id, json_t *msg,
                    const fc_avatar_callbacks *cb, void *ctx, fc_avatar **out, char *err,
                    size_t errlen);
/* stop_streaming: no frame generated or queued after this is sent; sends
 * streaming_completed with "stopped":true at once. */
void fc_avatar_stop(fc_avatar *a);
/* True once streaming_completed or an error ended the session. */
bool fc_avatar_ended(const fc_avatar *a);
/* The next frame to write (the caller drops the reference after writing),
 * or NULL. */
fc_frame *fc_avatar_next_frame(fc_avatar *a);
bool fc_avatar_has_frames(const fc_avatar *a);
/* The transport lets go (connection closed, or a new session replaces this
 * one): no more callbacks; freed once its jobs are done. */
void fc_avatar_release(fc_avatar *a);

#endif
