/* fc_avatar: one avatar session, a client's start_streaming from the moment it
 * arrives until it completes (or fails, or is stopped).
 *
 * On the worker pool it resolves the client's paths inside the media
 * directory, decodes the picture and the speech, opens the generator and
 * converts the audio to the generator's format (avatar/prepare.h). Then it
 * paces frames at 25 fps against absolute deadlines on the audio clock (or as
 * fast as the client takes them with realtime false; 15 fps for VP8, see
 * FC_AVATAR_VIDEO_FPS), generating each frame
 * in a worker job that also does its output's encode (encode/output.h,
 * fc_output_reserve) when it can, and pushing it otherwise: the
 * same per-tier encode stages, bounded drop-oldest queue and adaptive quality
 * tiers as camera viewers, with the client as the one subscriber.
 *
 * The session knows nothing of the wire: it reports what happens through
 * typed callbacks (fc_avatar_callbacks), and the endpoint that owns the
 * connection (transport/ws_avatar.c) puts it into messages. Loop thread only;
 * the session's heavy work runs in jobs it owns. */
#ifndef FC_AVATAR_SESSION_H
#define FC_AVATAR_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "analysis/face/face.h"
#include "avatar/media.h"
#include "core/frame.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "encode/codec.h"
#include "framecast/generator.h"
#include "hub/hub.h"

/* The generator ABI's clock: frame index i is media time i / 25 s. */
#define FC_AVATAR_FPS 25
/* Sessions in an inter-frame codec (VP8) run at 15 fps unless run_kwargs.fps
 * says: what real-time avatar calls send. Their frames are the 25 fps
 * grid's frames nearest before each 1/15 s, so the mouth stays on the audio
 * clock while the generator ABI stays what it is. */
#define FC_AVATAR_VIDEO_FPS 15

typedef struct fc_avatar_stats {
    uint64_t started, completed, stopped, failed;
    uint64_t refused_sessions; /* start_streaming past max_sessions */
    uint64_t refused_setup;    /* start_streaming while the set-up queue was full */
    uint64_t cancelled;        /* sessions stopped before their set-up ran: it never did */
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
    double keyint_s;            /* VP8: periodic key frame; 0 = the output's default */
    /* Sessions holding memory or work at once (--max-live-sessions): from
     * start_streaming until the last of their jobs is done, their generator
     * closed, their picture and speech freed and their output closed, so
     * sessions still ending count too. Past it fc_avatar_start refuses. */
    size_t max_sessions;
    size_t holding;
    fc_avatar_stats stats;
    size_t alive; /* sessions not freed yet, released or not */
    void (*idle_cb)(void *arg);
    void *idle_arg;
} fc_avatar_env;

/* Sessions alive at once unless the server says (--max-sessions): each holds
 * its decoded picture and speech until it ends. */
#define FC_AVATAR_MAX_SESSIONS_DEFAULT 16

void fc_avatar_env_init(fc_avatar_env *env, fc_loop *loop, fc_pool *pool, const fc_generator *gen,
                        const fc_media *media, const int quality[FC_TIER_COUNT], size_t queue);
/* Calls cb once no session is left (at once if none is): the server waits for
 * this before it stops the loop, so no job outlives it. */
void fc_avatar_env_when_idle(fc_avatar_env *env, void (*cb)(void *arg), void *arg);
int fc_avatar_metrics_register(fc_metrics *m, fc_avatar_env *env);

/* A start_streaming request, checked (transport/avatar_msg.h parses it).
 * The strings are malloc'd and belong to the request until
 * fc_avatar_start takes them. */
typedef struct fc_avatar_request {
    char *audio_path, *source_path; /* relative to the media directory */
    char *setup_json, *run_json;    /* setup_kwargs, run_kwargs: JSON objects */
    bool realtime, want_audio;
    /* run_kwargs.transport "webrtc": frames and speech go to a Janus
     * mountpoint (transport/webrtc_avatar.h), in VP8 and Opus. */
    bool webrtc;
    const fc_codec_ops *codec;
    int fps; /* 1..FC_AVATAR_FPS; 0 = FC_AVATAR_VIDEO_FPS for inter-frame codecs, else 25 */
    fc_sub_opts sub;
} fc_avatar_request;

void fc_avatar_request_free(fc_avatar_request *r);

/* What the client is told once the session is prepared. */
typedef struct fc_avatar_metadata {
    double audio_duration;
    uint32_t expected_frames;
    int fps, width, height, sample_rate;
    const char *format, *generator;
    bool realtime;
    /* Where the generator was told the face is (setup_kwargs.face, the
     * client's or the detector's), as JSON text; NULL when nowhere. */
    const char *face_json;
} fc_avatar_metadata;

/* The opt-in audio: PCM the client plays in sync with the frames. */
typedef struct fc_avatar_audio {
    int sample_rate, channels;
    const char *format; /* "pcm_s16le" */
    uint8_t *block;     /* malloc'd, the callee's: FC_FRAME_HEADROOM bytes, then len */
    size_t len;
} fc_avatar_audio;

/* What the session reports, in the order the client must see it; a message
 * goes out before any frame that is waiting after it. None is called after
 * fc_avatar_release. */
typedef struct fc_avatar_callbacks {
    /* Prepared: the files were opened and decoded, the generator is open, so
     * the session will stream. Metadata follows at once. A session that
     * fails or is stopped while preparing never reports this. */
    void (*started)(void *ctx);
    void (*metadata)(void *ctx, const fc_avatar_metadata *m);
    void (*audio)(void *ctx, fc_avatar_audio *a);
    /* Ended: every frame sent (stopped false), or stop_streaming after
     * `frames` frames. */
    void (*completed)(void *ctx, bool stopped, uint32_t frames);
    /* Ended by an error; `msg` names the cause. */
    void (*failed)(void *ctx, const char *msg);
    /* Frames are waiting (fc_avatar_next_frame). */
    void (*wake)(void *ctx);
} fc_avatar_callbacks;

typedef struct fc_avatar fc_avatar;

/* Starts a session for `req` (its strings are taken, also on failure): its
 * set-up is queued as one FC_JOB_SETUP job. 0, or a negative errno with err
 * saying why (nothing was reported): -EBUSY past env->max_sessions, -EAGAIN
 * when the pool's set-up queue is full (sessions are being prepared). */
int fc_avatar_start(fc_avatar_env *env, const char *client_id, fc_avatar_request *req,
                    const fc_avatar_callbacks *cb, void *ctx, fc_avatar **out, char *err,
                    size_t errlen);
/* stop_streaming: nothing generated or queued after this goes out;
 * `completed` with stopped true is reported at once. A set-up still queued
 * is taken back from the pool and never runs. */
void fc_avatar_stop(fc_avatar *a);
/* True once the session completed, failed or was stopped. */
bool fc_avatar_ended(const fc_avatar *a);
/* The next frame to write (the caller drops the reference after writing),
 * or NULL. */
fc_frame *fc_avatar_next_frame(fc_avatar *a);
bool fc_avatar_has_frames(const fc_avatar *a);
/* The receiver lost its picture (a WebRTC viewer's PLI): the next frame is a
 * key frame, through the output's coalescing (encode/output.h). */
void fc_avatar_want_key(fc_avatar *a);
/* The transport lets go (connection closed, or a new session replaces this
 * one): no more callbacks; freed once its jobs are done. NULL is fine. */
void fc_avatar_release(fc_avatar *a);

#endif
