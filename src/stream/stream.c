#include "stream/stream.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "encode/jpeg.h"

struct fc_stream {
    char id[FC_ID_MAX];
    fc_loop *loop;
    fc_pool *pool;
    fc_source *src;
    fc_stream_config cfg;
    fc_hub hub;

    uv_timer_t timer;
    bool running;
    bool shutting_down;
    bool timer_closed;
    uint64_t period_ns, next_due_ns;
    uint32_t next_index;
    uint64_t encode_period_ns, next_encode_ns;

    fc_stage render_stage;
    fc_stage encode_stage[FC_TIER_COUNT];
    int inflight; /* jobs created (running or pending) and not yet freed */
    void (*shutdown_done)(fc_stream *, void *);
    void *shutdown_arg;

    fc_stream_stats stats;
    uint64_t fps_window_start_ns, fps_window_frames;
    fc_histogram encode_ms;
    fc_histogram *loop_lag;
    fc_ratelimit error_log;
};

typedef struct render_job {
    fc_job job;
    fc_stream *s;
    uint32_t index;
    double t;
    uint64_t due_ns;
    fc_frame *out;
    int rc;
} render_job;

typedef struct encode_job {
    fc_job job;
    fc_stream *s;
    fc_frame *raw;
    int tier, quality;
    fc_frame *out;
    char err[160];
} encode_job;

static const double encode_ms_bounds[] = {0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 100};

static void maybe_finish_shutdown(fc_stream *s)
{
    if (s->shutting_down && s->inflight == 0 && s->timer_closed && s->shutdown_done) {
        void (*done)(fc_stream *, void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        done(s, s->shutdown_arg);
    }
}

static void log_error(fc_stream *s, const char *what)
{
    s->stats.errors++;
    if (fc_ratelimit_allow(&s->error_log, fc_now_ns(), NULL))
        fc_error("stream %s: %s (%llu errors so far)", s->id, what,
                 (unsigned long long)s->stats.errors);
}

/* ---- encode ---- */

static void encode_work(fc_job *job)
{
    encode_job *e = fc_container_of(job, encode_job, job);
    if (fc_jpeg_encode(e->raw, e->quality, e->tier, &e->out, e->err, sizeof e->err) != 0)
        e->out = NULL;
}

static void encode_free(encode_job *e)
{
    e->s->inflight--;
    fc_frame_unref(e->raw);
    fc_frame_unref(e->out);
    free(e);
}

static void encode_done(fc_job *job)
{
    encode_job *e = fc_container_of(job, encode_job, job);
    fc_stream *s = e->s;
    fc_stage_finish(&s->encode_stage[e->tier], s->pool);
    if (!e->out) {
        log_error(s, e->err);
    } else {
        s->stats.frames_encoded[e->tier]++;
        fc_histogram_observe(&s->encode_ms, (double)job->cpu_ns / 1e6);
        if (!s->shutting_down)
            fc_hub_publish(&s->hub, e->out, fc_now_ns());
    }
    encode_free(e);
    maybe_finish_shutdown(s);
}

static void submit_encode(fc_stream *s, fc_frame *raw, int tier)
{
    encode_job *e = calloc(1, sizeof *e);
    if (!e) {
        log_error(s, "out of memory for an encode job");
        return;
    }
    e->job = (fc_job){.work = encode_work, .done = encode_done, .loop = s->loop,
                      .role = FC_ROLE_ENCODE};
    e->s = s;
    e->raw = fc_frame_ref(raw);
    e->tier = tier;
    e->quality = s->cfg.quality[tier];
    s->inflight++;
    fc_job *replaced = fc_stage_submit(&s->encode_stage[tier], s->pool, &e->job);
    if (replaced) {
        encode_free(fc_container_of(replaced, encode_job, job));
    }
}

/* ---- render ---- */

static void render_work(fc_job *job)
{
    render_job *r = fc_container_of(job, render_job, job);
    r->rc = r->s->src->ops->render(r->s->src, r->index, r->t, &r->out);
}

static void render_free(render_job *r)
{
    r->s->inflight--;
    fc_frame_unref(r->out);
    free(r);
}

/* Encode at most encode_fps: a frame is encoded when its due time has reached
 * the next encode slot (half a source period of slack absorbs jitter). */
static bool encode_slot(fc_stream *s, uint64_t due_ns)
{
    if (s->encode_period_ns <= s->period_ns)
        return true;
    if (due_ns + s->period_ns / 2 < s->next_encode_ns)
        return false;
    s->next_encode_ns += s->encode_period_ns;
    if (s->next_encode_ns < due_ns)
        s->next_encode_ns = due_ns + s->encode_period_ns;
    return true;
}

static void count_produced(fc_stream *s, uint64_t now)
{
    s->stats.frames_produced++;
    s->fps_window_frames++;
    uint64_t elapsed = now - s->fps_window_start_ns;
    if (elapsed >= 1000000000ull) {
        s->stats.measured_fps = (double)s->fps_window_frames * 1e9 / (double)elapsed;
        s->fps_window_start_ns = now;
        s->fps_window_frames = 0;
    }
}

static void render_done(fc_job *job)
{
    render_job *r = fc_container_of(job, render_job, job);
    fc_stream *s = r->s;
    fc_stage_finish(&s->render_stage, s->pool);
    if (r->rc != 0 || !r->out) {
        log_error(s, "source failed to produce a frame");
    } else if (!s->shutting_down) {
        count_produced(s, fc_now_ns());
        if (encode_slot(s, r->due_ns)) {
            unsigned mask = fc_hub_tier_mask(&s->hub);
            for (int t = 0; t < FC_TIER_COUNT; t++)
                if (mask & (1u << t))
                    submit_encode(s, r->out, t);
        } else {
            s->stats.frames_not_encoded++;
        }
    }
    render_free(r);
    maybe_finish_shutdown(s);
}

/* ---- pacing ---- */

static void schedule_tick(fc_stream *s, uint64_t now);

static void on_tick(uv_timer_t *timer)
{
    fc_stream *s = timer->data;
    uint64_t now = fc_now_ns();
    uint64_t due = s->next_due_ns;
    if (s->loop_lag)
        fc_histogram_observe(s->loop_lag, now > due ? (double)(now - due) / 1e6 : 0.0);

    render_job *r = calloc(1, sizeof *r);
    if (!r) {
        log_error(s, "out of memory for a render job");
    } else {
        r->job = (fc_job){.work = render_work, .done = render_done, .loop = s->loop,
                          .role = FC_ROLE_SOURCE};
        r->s = s;
        r->index = s->next_index++;
        r->t = fc_wall_seconds();
        r->due_ns = due;
        s->inflight++;
        fc_job *replaced = fc_stage_submit(&s->render_stage, s->pool, &r->job);
        if (replaced) {
            render_free(fc_container_of(replaced, render_job, job));
        }
    }
    s->next_due_ns += s->period_ns;
    /* Fell far behind (stopped debugger, overloaded machine): do not try to
     * catch up with a burst; resume the cadence from now. */
    if (s->next_due_ns + s->period_ns < now)
        s->next_due_ns = now + s->period_ns;
    schedule_tick(s, now);
}

static void schedule_tick(fc_stream *s, uint64_t now)
{
    uint64_t wait_ns = s->next_due_ns > now ? s->next_due_ns - now : 0;
    /* libuv timers count whole milliseconds; round up so we never fire early. */
    uv_timer_start(&s->timer, on_tick, (wait_ns + 999999) / 1000000, 0);
}

/* The rate the source must run at for its consumers: today subscribers, who
 * need encode_fps. Later consumers (detection) add their own rates here. */
static double needed_fps(const fc_stream *s)
{
    if (s->hub.count == 0)
        return 0;
    return s->cfg.encode_fps < s->cfg.fps ? s->cfg.encode_fps : s->cfg.fps;
}

static void update_demand(fc_stream *s)
{
    double need = s->shutting_down ? 0 : needed_fps(s);
    if (need <= 0) {
        if (s->running) {
            uv_timer_stop(&s->timer);
            s->running = false;
            s->stats.measured_fps = 0;
            fc_info("stream %s: no consumers, source paused", s->id);
        }
        return;
    }
    uint64_t period = (uint64_t)(1e9 / need);
    if (s->running && period == s->period_ns)
        return;
    uint64_t now = fc_now_ns();
    s->period_ns = period;
    if (!s->running) {
        s->running = true;
        s->next_due_ns = now;
        s->next_encode_ns = now;
        s->fps_window_start_ns = now;
        s->fps_window_frames = 0;
        fc_info("stream %s: source running at %.3g fps", s->id, need);
    }
    schedule_tick(s, now);
}

/* ---- lifecycle ---- */

int fc_stream_create(fc_loop *loop, fc_pool *pool, const char *id, fc_source *src,
                     const fc_stream_config *cfg, fc_histogram *loop_lag, fc_stream **out)
{
    fc_stream *s = calloc(1, sizeof *s);
    if (!s) {
        fc_source_destroy(src);
        return -1;
    }
    snprintf(s->id, sizeof s->id, "%s", id);
    s->loop = loop;
    s->pool = pool;
    s->src = src;
    s->cfg = *cfg;
    if (s->cfg.encode_fps <= 0 || s->cfg.encode_fps > s->cfg.fps)
        s->cfg.encode_fps = s->cfg.fps;
    s->encode_period_ns = (uint64_t)(1e9 / s->cfg.encode_fps);
    s->loop_lag = loop_lag;
    s->error_log = (fc_ratelimit)FC_RATELIMIT_INIT(5);
    fc_hub_init(&s->hub, s->id);
    fc_histogram_init(&s->encode_ms, encode_ms_bounds,
                      (int)(sizeof encode_ms_bounds / sizeof *encode_ms_bounds));
    uv_timer_init(&loop->uv, &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    fc_stream *s = h->data;
    s->timer_closed = true;
    maybe_finish_shutdown(s);
}

void fc_stream_shutdown(fc_stream *s, void (*done)(fc_stream *s, void *arg), void *arg)
{
    s->shutting_down = true;
    s->shutdown_done = done;
    s->shutdown_arg = arg;
    fc_hub_destroy(&s->hub);
    update_demand(s);
    fc_job *j;
    if ((j = fc_stage_cancel_pending(&s->render_stage)))
        render_free(fc_container_of(j, render_job, job));
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if ((j = fc_stage_cancel_pending(&s->encode_stage[t])))
            encode_free(fc_container_of(j, encode_job, job));
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void fc_stream_free(fc_stream *s)
{
    if (!s)
        return;
    fc_source_destroy(s->src);
    free(s);
}

int fc_stream_subscribe(fc_stream *s, const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx,
                        fc_sub **out)
{
    if (s->shutting_down)
        return -1;
    if (fc_hub_add(&s->hub, opts, wake, ctx, out) != 0)
        return -1;
    update_demand(s);
    return 0;
}

void fc_stream_unsubscribe(fc_stream *s, fc_sub *sub)
{
    fc_hub_remove(sub);
    update_demand(s);
}

const char *fc_stream_id(const fc_stream *s)
{
    return s->id;
}

const fc_source *fc_stream_source(const fc_stream *s)
{
    return s->src;
}

const fc_stream_config *fc_stream_config_of(const fc_stream *s)
{
    return &s->cfg;
}

const fc_hub *fc_stream_hub(const fc_stream *s)
{
    return &s->hub;
}

bool fc_stream_running(const fc_stream *s)
{
    return s->running;
}

void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out)
{
    *out = s->stats;
    out->render_coalesced = s->render_stage.coalesced;
    out->encode_coalesced = 0;
    for (int t = 0; t < FC_TIER_COUNT; t++)
        out->encode_coalesced += s->encode_stage[t].coalesced;
}

const fc_histogram *fc_stream_encode_ms(const fc_stream *s)
{
    return &s->encode_ms;
}
