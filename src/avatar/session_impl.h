/* The inside of an avatar session, shared by its two halves: session.c (the
 * session's life: start, set-up, stop, teardown, freeing) and
 * session_frames.c (its frames: pacing on the audio clock, the generate and
 * encode jobs, publishing to the client's queue). Nothing outside
 * src/avatar/session*.c includes this. Loop thread only, but for the fields
 * the comments give to jobs. */
#ifndef FC_AVATAR_SESSION_IMPL_H
#define FC_AVATAR_SESSION_IMPL_H

#include "avatar/prepare.h"
#include "avatar/session.h"
#include "core/stage.h"
#include "encode/output.h"

/* One frame of the generator's 25 fps grid. */
#define GRID_NS (1000000000ull / FC_AVATAR_FPS)
/* Without realtime pacing, frames generated ahead of the client at most:
 * enough to keep the socket busy, few enough that stop_streaming is quick. */
#define AHEAD_MAX 8

typedef enum { PREPARING, RUNNING, ENDED } av_state;

struct fc_avatar {
    fc_avatar_env *env;
    fc_avatar_callbacks cb;
    void *ctx;
    av_state state;
    bool released;
    fc_avatar_request req;
    /* Made by the prepare job, then used by frame jobs one at a time. */
    fc_avatar_prepared prep;
    size_t audio_pushed; /* sample frames given to the generator */

    /* Pacing (loop thread). */
    uv_timer_t timer;
    bool timer_closed;
    uint64_t start_ns, t0_ns;
    uint32_t next_index;         /* next frame to schedule */
    fc_stage stage;              /* frame generation, latest wins */
    int inflight;                /* prepare, frame and teardown jobs alive */
    struct prepare_job *prepare; /* while queued or running; NULL after its done */
    struct frame_job *running;   /* the stage's job handed to the pool, until its done */
    bool torn_down;              /* the generator is closed, the audio freed */
    bool holding;                /* counted in env->holding */
    bool first_sent;

    /* The way out: the client is the output's one subscriber. */
    fc_output *out;
    fc_sub *sub;
    bool out_closed;
    uint64_t drops_seen, coalesced_seen;
};

typedef struct prepare_job {
    fc_job job;
    fc_avatar *a;
    int rc;
    char err[600];
} prepare_job;

typedef struct frame_job {
    fc_job job;
    fc_avatar *a;
    uint32_t index;
    uint64_t due_ns;
    fc_frame *raw;
    /* The output's encode of this frame, done at the end of this job when
     * it could be reserved (output.h); else the frame is pushed. */
    fc_output_slot *slot;
    uint64_t encode_ns;
    char err[200];
} frame_job;

typedef struct teardown_job {
    fc_job job;
    fc_avatar *a;
} teardown_job;

/* session_frames.c */
extern const fc_output_hooks fc_avatar_output_hooks;
/* The audio clock starts now: the first frame (realtime) or the first
 * frames the client's queue has room for. */
void fc_avatar_frames_begin(fc_avatar *a);
/* Without realtime pacing: the next frame if the client's queue has room. */
void fc_avatar_frames_more(fc_avatar *a);
/* Frees a frame job and what it holds. */
void fc_avatar_frame_free(frame_job *j);

/* session.c */
/* Ends the session with msg for the client (once). */
void fc_avatar_fail(fc_avatar *a, const char *msg);
/* Ends the session when every frame is out of the generator, the encoder
 * and the queue. */
void fc_avatar_check_end(fc_avatar *a);
/* Closes the generator on a worker once the session ended and no job uses
 * it. */
void fc_avatar_maybe_teardown(fc_avatar *a);

#endif
