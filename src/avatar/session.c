#include "avatar/session.h"

#include <errno.h>
#include <jansson.h>
#include <libyuv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avatar/generator.h"
#include "avatar/prepare.h"
#include "core/clock.h"
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

static const double first_frame_bounds[] = {10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000};

void fc_avatar_env_init(fc_avatar_env *env, fc_loop *loop, fc_pool *pool, const fc_generator *gen,
                        const fc_media *media, const int quality[FC_TIER_COUNT], size_t queue)
{
    memset(env, 0, sizeof *env);
    env->loop = loop;
    env->pool = pool;
    env->gen = gen;
    env->media = media;
    memcpy(env->quality, quality, sizeof env->quality);
    env->queue = queue;
    env->max_sessions = FC_AVATAR_MAX_SESSIONS_DEFAULT;
    fc_histogram_init(&env->stats.first_frame_ms, first_frame_bounds,
                      (int)(sizeof first_frame_bounds / sizeof *first_frame_bounds));
}

void fc_avatar_request_free(fc_avatar_request *r)
{
    free(r->audio_path);
    free(r->source_path);
    free(r->setup_json);
    free(r->run_json);
    r->audio_path = r->source_path = r->setup_json = r->run_json = NULL;
}

/* ---- the session's frames on the generator's clock ---- */

/* The generator's frame for session frame i: the one of the 25 fps grid at
 * or before i / fps s (itself at 25 fps). */
static uint32_t grid_index(const fc_avatar *a, uint32_t i)
{
    return (uint32_t)((uint64_t)i * FC_AVATAR_FPS / (uint64_t)a->req.fps);
}

/* When session frame i is due after t0, and its media time. */
static uint64_t frame_offset_ns(const fc_avatar *a, uint32_t i)
{
    return (uint64_t)grid_index(a, i) * GRID_NS;
}

/* ---- teardown and freeing ---- */

static void maybe_free(fc_avatar *a)
{
    if (a->holding && a->torn_down && a->out_closed && a->inflight == 0) {
        a->holding = false;
        a->env->holding--;
    }
    if (!a->released || a->inflight > 0 || !a->torn_down || !a->timer_closed || !a->out_closed)
        return;
    fc_avatar_env *env = a->env;
    fc_avatar_request_free(&a->req);
    free(a);
    if (--env->alive == 0 && env->idle_cb) {
        void (*cb)(void *) = env->idle_cb;
        env->idle_cb = NULL;
        cb(env->idle_arg);
    }
}

void fc_avatar_env_when_idle(fc_avatar_env *env, void (*cb)(void *arg), void *arg)
{
    if (env->alive == 0) {
        cb(arg);
        return;
    }
    env->idle_cb = cb;
    env->idle_arg = arg;
}

static void teardown_work(fc_job *job)
{
    fc_avatar *a = fc_container_of(job, teardown_job, job)->a;
    fc_avatar_prepared_release(a->env->gen, &a->prep);
}

static void teardown_done(fc_job *job)
{
    teardown_job *t = fc_container_of(job, teardown_job, job);
    fc_avatar *a = t->a;
    free(t);
    a->inflight--;
    a->torn_down = true;
    maybe_free(a);
}

/* Once the session has ended and no job uses the generator any more, close
 * it on a worker (the ABI promises generators only worker calls). */
static void maybe_teardown(fc_avatar *a)
{
    if (a->state != ENDED || a->inflight > 0 || a->torn_down) return;
    teardown_job *t = calloc(1, sizeof *t);
    if (!t) {
        /* Rather than leak the generator, close it here. */
        teardown_work(&(teardown_job){.a = a}.job);
        a->torn_down = true;
        maybe_free(a);
        return;
    }
    /* Release class: it frees the session's picture and speech, and must not
     * wait behind other sessions' set-up (job.h). */
    t->job = (fc_job){.work = teardown_work,
                      .done = teardown_done,
                      .loop = a->env->loop,
                      .role = FC_ROLE_OTHER,
                      .cls = FC_JOB_RELEASE};
    t->a = a;
    a->inflight++;
    fc_pool_submit(a->env->pool, &t->job);
}

static void output_closed(void *arg)
{
    fc_avatar *a = arg;
    a->out_closed = true;
    maybe_free(a);
}

static void frame_free(frame_job *j)
{
    j->a->inflight--;
    if (j->slot) fc_output_slot_done(j->slot, j->encode_ns);
    fc_frame_unref(j->raw);
    free(j);
}

/* A set-up still waiting in the pool never runs: nobody wants its result,
 * and a client starting and stopping in a loop must not pile them up. */
static void cancel_prepare(fc_avatar *a)
{
    if (!a->prepare || fc_pool_cancel(a->env->pool, &a->prepare->job) != 0) return;
    free(a->prepare);
    a->prepare = NULL;
    a->inflight--;
    a->torn_down = true; /* nothing was prepared */
    a->env->stats.cancelled++;
}

/* Ends the session: no frame is generated, encoded or queued from now on.
 * Its work still waiting in the pool is taken back (a running job's done
 * still comes). */
static void end_session(fc_avatar *a)
{
    if (a->state == PREPARING) cancel_prepare(a);
    a->state = ENDED;
    a->env->stats.active--;
    uv_timer_stop(&a->timer);
    fc_job *j = fc_stage_cancel_pending(&a->stage);
    if (j) frame_free(fc_container_of(j, frame_job, job));
    if (a->running && fc_pool_cancel(a->env->pool, &a->running->job) == 0) {
        frame_free(a->running);
        a->running = NULL;
        fc_stage_finish(&a->stage, a->env->pool); /* nothing pending: idle */
    }
    fc_output *o = a->out;
    a->out = NULL;
    a->sub = NULL;
    fc_output_close(o, output_closed, a);
}

static void fail(fc_avatar *a, const char *msg)
{
    if (a->state == ENDED) return;
    end_session(a);
    a->env->stats.failed++;
    if (!a->released) a->cb.failed(a->ctx, msg);
    maybe_teardown(a);
}

/* Every frame is out of the generator, the encoder and the queue: done. */
static void check_end(fc_avatar *a)
{
    if (a->state != RUNNING || a->next_index < a->prep.expected_frames || a->inflight > 0 ||
        fc_output_busy(a->out) || fc_sub_depth(a->sub) > 0)
        return;
    end_session(a);
    a->env->stats.completed++;
    if (!a->released) a->cb.completed(a->ctx, false, a->prep.expected_frames);
    maybe_teardown(a);
}

/* ---- frames ---- */

/* Worker: the generator gets all audio up to the end of this frame
 * (including that of frames a late realtime session skipped), then draws. */
static void frame_work(fc_job *job)
{
    frame_job *j = fc_container_of(job, frame_job, job);
    fc_avatar *a = j->a;
    fc_avatar_prepared *p = &a->prep;
    const fc_generator *gen = a->env->gen;
    uint32_t g = grid_index(a, j->index);
    size_t end = (size_t)(((uint64_t)g + 1) * (uint64_t)p->audio.rate / FC_AVATAR_FPS);
    if (end > p->audio.frames) end = p->audio.frames;
    if (end > a->audio_pushed &&
        gen->push_audio(p->gen_state,
                        p->audio.samples + a->audio_pushed * (size_t)p->audio.channels,
                        end - a->audio_pushed) != 0) {
        snprintf(j->err, sizeof j->err, "generator %s: push_audio failed", gen->name);
        return;
    }
    if (end > a->audio_pushed) a->audio_pushed = end;
    int w = p->info.width, h = p->info.height;
    fc_frame *raw = fc_frame_new_i420(w, h);
    if (!raw) {
        snprintf(j->err, sizeof j->err, "out of memory for a %dx%d frame", w, h);
        return;
    }
    int rc;
    if (fc_generator_has_i420(gen)) {
        rc = gen->render_i420(p->gen_state, g, raw->plane[0], raw->stride[0], raw->plane[1],
                              raw->stride[1], raw->plane[2], raw->stride[2]);
    } else {
        rc = gen->render_rgb(p->gen_state, g, p->rgb, w * 3);
        if (rc == 0)
            RAWToI420(p->rgb, w * 3, raw->plane[0], raw->stride[0], raw->plane[1], raw->stride[1],
                      raw->plane[2], raw->stride[2], w, h);
    }
    if (rc != 0) {
        snprintf(j->err, sizeof j->err, "generator %s: frame %u failed", gen->name, g);
        fc_frame_unref(raw);
        return;
    }
    raw->id = j->index;
    raw->timestamp = (double)g / FC_AVATAR_FPS;
    j->raw = raw;
    if (j->slot) {
        /* Encoded here, on the warm frame, in the same job: see output.h. */
        uint64_t t0 = fc_thread_cpu_ns();
        fc_output_slot_encode(j->slot, raw);
        j->encode_ns = fc_thread_cpu_ns() - t0;
    }
}

static void maybe_submit_ahead(fc_avatar *a);

/* The generate stage's waiting job, if any, starts now; it reserves the
 * encode the finished job has just given back, so a frame that had to wait
 * is still made and encoded in one job. */
static void start_next(fc_avatar *a)
{
    fc_job *next = fc_stage_cancel_pending(&a->stage);
    fc_stage_finish(&a->stage, a->env->pool);
    if (!next) return;
    frame_job *n = fc_container_of(next, frame_job, job);
    if (!n->slot && a->state == RUNNING) n->slot = fc_output_reserve(a->out);
    fc_stage_submit(&a->stage, a->env->pool, next);
    a->running = n;
}

static void frame_done(fc_job *job)
{
    frame_job *j = fc_container_of(job, frame_job, job);
    fc_avatar *a = j->a;
    a->running = NULL;
    a->env->stats.generate_cpu_ns += job->cpu_ns - j->encode_ns;
    if (a->state == RUNNING && !j->raw) {
        char why[sizeof j->err];
        snprintf(why, sizeof why, "%s", j->err[0] ? j->err : "frame generation failed");
        frame_free(j);
        fail(a, why); /* drops the waiting job too */
        fc_stage_finish(&a->stage, a->env->pool);
        return;
    }
    if (a->state == RUNNING && j->slot) {
        fc_output_slot *slot = j->slot;
        j->slot = NULL;
        fc_output_slot_done(slot, j->encode_ns);
    } else if (a->state == RUNNING) {
        fc_output_push(a->out, j->raw);
    }
    frame_free(j);
    start_next(a);
    if (a->state == RUNNING) {
        maybe_submit_ahead(a);
        check_end(a);
    }
    maybe_teardown(a);
}

static void submit_frame(fc_avatar *a, uint32_t index, uint64_t due_ns)
{
    frame_job *j = calloc(1, sizeof *j);
    if (!j) {
        fail(a, "out of memory for a frame job");
        return;
    }
    j->job = (fc_job){
        .work = frame_work, .done = frame_done, .loop = a->env->loop, .role = FC_ROLE_SOURCE};
    j->a = a;
    j->index = index;
    j->due_ns = due_ns;
    /* A job that has to wait gets its reservation when it starts
     * (start_next): reserved now, it would hold the tier while the running
     * job's frame is still to be encoded. */
    bool idle = !a->stage.busy;
    j->slot = idle ? fc_output_reserve(a->out) : NULL;
    a->inflight++;
    fc_job *replaced = fc_stage_submit(&a->stage, a->env->pool, &j->job);
    if (idle) a->running = j;
    if (replaced) {
        /* The previous frame never started before this one was due. */
        a->env->stats.missed_deadlines++;
        frame_free(fc_container_of(replaced, frame_job, job));
    }
}

/* Flow control without realtime pacing: the next frame when the client's
 * queue has room and the last one is through the encoder, one at a time,
 * so nothing is ever dropped. */
static void maybe_submit_ahead(fc_avatar *a)
{
    if (a->req.realtime || a->state != RUNNING || a->stage.busy || fc_output_busy(a->out) ||
        a->next_index >= a->prep.expected_frames)
        return;
    fc_sub_stats st;
    fc_sub_get_stats(a->sub, &st);
    if (st.depth >= (st.capacity < AHEAD_MAX ? st.capacity : AHEAD_MAX)) return;
    submit_frame(a, a->next_index, fc_now_ns());
    a->next_index++;
}

static void on_tick(uv_timer_t *t)
{
    fc_avatar *a = t->data;
    uint64_t now = fc_now_ns();
    uint32_t expected = a->prep.expected_frames;
    /* Frames whose slot passed entirely while the loop was away are skipped
     * (their audio still reaches the generator with the next frame). */
    uint64_t elapsed = now - a->t0_ns;
    uint32_t due_index = (uint32_t)(elapsed * (uint64_t)a->req.fps / 1000000000ull);
    while (due_index + 1 < expected && frame_offset_ns(a, due_index + 1) <= elapsed)
        due_index++;
    if (due_index >= expected) due_index = expected - 1;
    if (due_index > a->next_index) {
        a->env->stats.missed_deadlines += due_index - a->next_index;
        a->next_index = due_index;
    }
    submit_frame(a, a->next_index, a->t0_ns + frame_offset_ns(a, a->next_index));
    a->next_index++;
    if (a->state != RUNNING || a->next_index >= expected) return;
    uint64_t next_due = a->t0_ns + frame_offset_ns(a, a->next_index);
    uint64_t wait = next_due > now ? next_due - now : 0;
    /* libuv timers count whole milliseconds; round up so we never fire early. */
    uv_timer_start(&a->timer, on_tick, (wait + 999999) / 1000000, 0);
}

/* The output put a frame in the client's queue. */
static void on_published(void *arg, const fc_frame *f, uint64_t cpu_ns)
{
    fc_avatar *a = arg;
    fc_avatar_stats *st = &a->env->stats;
    st->frames_generated++;
    st->encode_cpu_ns += cpu_ns;
    /* Ready after the next frame was due: the client saw a stall. */
    if (a->req.realtime && fc_now_ns() > a->t0_ns + frame_offset_ns(a, f->id + 1))
        st->missed_deadlines++;
    /* Frames the client's full queue pushed out, and frames replaced in the
     * encoder before they were encoded: each is a frame the client missed. */
    fc_hub_stats hs;
    fc_hub_get_stats(fc_output_hub(a->out), &hs);
    st->frames_dropped += hs.drops - a->drops_seen;
    a->drops_seen = hs.drops;
    fc_output_stats os;
    fc_output_get_stats(a->out, &os);
    st->missed_deadlines += os.coalesced - a->coalesced_seen;
    a->coalesced_seen = os.coalesced;
    maybe_submit_ahead(a);
    check_end(a);
}

static void on_encode_failed(void *arg, const char *msg)
{
    fail(arg, msg);
}

/* ---- prepare ---- */

static void prepare_work(fc_job *job)
{
    prepare_job *p = fc_container_of(job, prepare_job, job);
    fc_avatar *a = p->a;
    p->rc = fc_avatar_prepare(a->env, &a->req, &a->prep, p->err, sizeof p->err);
}

/* Tells the client what is coming: the metadata, then the opt-in audio. */
static void announce(fc_avatar *a)
{
    fc_avatar_prepared *p = &a->prep;
    json_t *setup = json_loads(a->req.setup_json, 0, NULL);
    json_t *face = setup ? json_object_get(setup, "face") : NULL;
    char *face_json = face ? json_dumps(face, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(setup);
    fc_avatar_metadata m = {
        .audio_duration = p->audio.duration,
        .expected_frames = p->expected_frames,
        .fps = a->req.fps,
        .width = p->info.width,
        .height = p->info.height,
        .sample_rate = p->info.sample_rate,
        .format = a->req.codec->name,
        .generator = a->env->gen->name,
        .realtime = a->req.realtime,
        .face_json = face_json,
    };
    a->cb.metadata(a->ctx, &m);
    free(face_json);
    if (p->audio_block) {
        fc_avatar_audio au = {.sample_rate = p->audio.rate,
                              .channels = p->audio.channels,
                              .format = "pcm_s16le",
                              .block = p->audio_block,
                              .len = p->audio_len};
        p->audio_block = NULL;
        a->cb.audio(a->ctx, &au);
    }
}

static void prepare_done(fc_job *job)
{
    prepare_job *p = fc_container_of(job, prepare_job, job);
    fc_avatar *a = p->a;
    a->prepare = NULL;
    a->inflight--;
    a->env->stats.prepare_cpu_ns += job->cpu_ns;
    if (a->state == PREPARING && p->rc != 0) {
        fail(a, p->err);
    } else if (a->state == PREPARING) {
        a->state = RUNNING;
        /* Validated (opened, decoded, the generator open), then announced:
         * a client hears of a session only once it will stream. */
        if (!a->released) {
            a->cb.started(a->ctx);
            announce(a);
        }
        /* The audio clock starts now: frame i is due at its media time from
         * here (i/fps s). */
        a->t0_ns = fc_now_ns();
        if (a->req.realtime)
            on_tick(&a->timer);
        else
            maybe_submit_ahead(a);
    }
    free(a->prep.audio_block);
    a->prep.audio_block = NULL;
    free(p);
    maybe_teardown(a);
}

/* ---- the transport's calls ---- */

static void on_sub_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    fc_avatar *a = ctx;
    if (!a->released) a->cb.wake(a->ctx);
}

static const fc_output_hooks output_hooks = {.published = on_published, .failed = on_encode_failed};

int fc_avatar_start(fc_avatar_env *env, const char *client_id, fc_avatar_request *req,
                    const fc_avatar_callbacks *cb, void *ctx, fc_avatar **out, char *err,
                    size_t errlen)
{
    if (env->max_sessions && env->holding >= env->max_sessions) {
        fc_avatar_request_free(req);
        env->stats.refused_sessions++;
        snprintf(err, errlen,
                 "server busy: %zu avatar sessions at once, those still ending included "
                 "(--max-live-sessions); try again",
                 env->max_sessions);
        return -EBUSY;
    }
    fc_avatar *a = calloc(1, sizeof *a);
    prepare_job *p = calloc(1, sizeof *p);
    if (!a || !p) {
        free(a);
        free(p);
        fc_avatar_request_free(req);
        snprintf(err, errlen, "out of memory starting a session");
        return -ENOMEM;
    }
    a->req = *req;
    *req = (fc_avatar_request){0};
    if (!a->req.fps) a->req.fps = a->req.codec->inter_frame ? FC_AVATAR_VIDEO_FPS : FC_AVATAR_FPS;
    a->env = env;
    a->cb = *cb;
    a->ctx = ctx;
    char name[128];
    snprintf(name, sizeof name, "avatar %.60s", client_id);
    fc_output_config oc = {.name = name,
                           .codec = a->req.codec,
                           .fps = a->req.fps,
                           .deliver_late = true,
                           .keyint_s = env->keyint_s};
    memcpy(oc.quality, env->quality, sizeof oc.quality);
    int rc = fc_output_create(env->loop, env->pool, &oc, &output_hooks, a, &a->out, err, errlen);
    if (rc != 0) {
        fc_avatar_request_free(&a->req);
        free(a);
        free(p);
        return rc;
    }
    p->job = (fc_job){.work = prepare_work,
                      .done = prepare_done,
                      .loop = env->loop,
                      .role = FC_ROLE_SOURCE,
                      .cls = FC_JOB_SETUP};
    p->a = a;
    rc = fc_output_subscribe(a->out, &a->req.sub, on_sub_wake, a, &a->sub);
    if (rc != 0) {
        snprintf(err, errlen, "out of memory starting a session");
    } else if ((rc = fc_pool_submit(env->pool, &p->job)) != 0) {
        /* The set-up queue is full: the decodes queued before this one
         * bound what a burst of starts costs; this client comes back. */
        env->stats.refused_setup++;
        snprintf(err, errlen, "server busy: sessions are being prepared, try again");
    }
    if (rc != 0) {
        /* Nothing runs: the session goes once its output has. */
        a->state = ENDED;
        a->released = a->torn_down = a->timer_closed = true;
        env->alive++;
        fc_output_close(a->out, output_closed, a);
        free(p);
        return rc;
    }
    a->state = PREPARING;
    a->start_ns = fc_now_ns();
    uv_timer_init(&env->loop->uv, &a->timer);
    a->timer.data = a;
    a->prepare = p;
    a->inflight++;
    env->stats.started++;
    env->stats.active++;
    env->alive++;
    env->holding++;
    a->holding = true;
    *out = a;
    return 0;
}

void fc_avatar_stop(fc_avatar *a)
{
    if (a->state == ENDED) return;
    fc_sub_stats st;
    fc_sub_get_stats(a->sub, &st);
    end_session(a);
    a->env->stats.stopped++;
    a->cb.completed(a->ctx, true, (uint32_t)st.frames_sent);
    maybe_teardown(a);
}

bool fc_avatar_ended(const fc_avatar *a)
{
    return a->state == ENDED;
}

bool fc_avatar_has_frames(const fc_avatar *a)
{
    return a->sub && fc_sub_depth(a->sub) > 0;
}

void fc_avatar_want_key(fc_avatar *a)
{
    if (a->sub) fc_sub_want_key(a->sub);
}

fc_frame *fc_avatar_next_frame(fc_avatar *a)
{
    fc_frame *f = a->sub ? fc_sub_next(a->sub, fc_now_ns()) : NULL;
    if (!f) return NULL;
    a->env->stats.frames_sent++;
    if (!a->first_sent) {
        a->first_sent = true;
        fc_histogram_observe(&a->env->stats.first_frame_ms,
                             (double)(fc_now_ns() - a->start_ns) / 1e6);
    }
    maybe_submit_ahead(a);
    check_end(a);
    return f;
}

static void on_timer_closed(uv_handle_t *h)
{
    fc_avatar *a = h->data;
    a->timer_closed = true;
    maybe_free(a);
}

void fc_avatar_release(fc_avatar *a)
{
    if (!a) return;
    if (a->state != ENDED) {
        end_session(a);
        a->env->stats.stopped++;
    }
    a->released = true;
    uv_close((uv_handle_t *)&a->timer, on_timer_closed);
    maybe_teardown(a);
}
