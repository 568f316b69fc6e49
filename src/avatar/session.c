/* An avatar session's life (avatar/session_impl.h): start, set-up on the
 * pool, the announcement to the client, stop, teardown and freeing; its
 * frames are session_frames.c's. Loop thread, but for prepare_work and
 * teardown_work (workers). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avatar/generator.h"
#include "avatar/session_impl.h"
#include "core/clock.h"

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
void fc_avatar_maybe_teardown(fc_avatar *a)
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
    if (j) fc_avatar_frame_free(fc_container_of(j, frame_job, job));
    if (a->running && fc_pool_cancel(a->env->pool, &a->running->job) == 0) {
        fc_avatar_frame_free(a->running);
        a->running = NULL;
        fc_stage_finish(&a->stage, a->env->pool); /* nothing pending: idle */
    }
    fc_output *o = a->out;
    a->out = NULL;
    a->sub = NULL;
    fc_output_close(o, output_closed, a);
}

void fc_avatar_fail(fc_avatar *a, const char *msg)
{
    if (a->state == ENDED) return;
    end_session(a);
    a->env->stats.failed++;
    if (!a->released) a->cb.failed(a->ctx, msg);
    fc_avatar_maybe_teardown(a);
}

/* Every frame is out of the generator, the encoder and the queue: done. */
void fc_avatar_check_end(fc_avatar *a)
{
    if (a->state != RUNNING || a->next_index < a->prep.expected_frames || a->inflight > 0 ||
        fc_output_busy(a->out) || fc_sub_depth(a->sub) > 0)
        return;
    end_session(a);
    a->env->stats.completed++;
    if (!a->released) a->cb.completed(a->ctx, false, a->prep.expected_frames);
    fc_avatar_maybe_teardown(a);
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
        fc_avatar_fail(a, p->err);
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
        fc_avatar_frames_begin(a);
    }
    free(a->prep.audio_block);
    a->prep.audio_block = NULL;
    free(p);
    fc_avatar_maybe_teardown(a);
}

/* ---- the transport's calls ---- */

static void on_sub_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    fc_avatar *a = ctx;
    if (!a->released) a->cb.wake(a->ctx);
}

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
    int rc = fc_output_create(env->loop, env->pool, &oc, &fc_avatar_output_hooks, a, &a->out, err,
                              errlen);
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
    fc_avatar_maybe_teardown(a);
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
    fc_avatar_frames_more(a);
    fc_avatar_check_end(a);
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
    fc_avatar_maybe_teardown(a);
}
