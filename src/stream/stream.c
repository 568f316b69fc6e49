#include "stream/stream.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/motion.h"
#include "core/clock.h"
#include "core/log.h"
#include "encode/jpeg.h"

/* One view's way out: its hub and its per-tier encode stages. */
typedef struct output {
    fc_hub hub;
    fc_stage encode_stage[FC_TIER_COUNT];
    uint64_t frames_encoded[FC_TIER_COUNT];
} output;

struct fc_stream {
    char id[FC_ID_MAX];
    fc_loop *loop;
    fc_pool *pool;
    fc_source *src;
    fc_stream_config cfg;
    output out[FC_VIEW_COUNT];

    uv_timer_t timer;
    bool running;
    bool shutting_down;
    bool timer_closed;
    uint64_t period_ns, next_due_ns;
    uint32_t next_index;
    uint64_t encode_period_ns, next_encode_ns;

    fc_stage render_stage;
    int inflight; /* jobs created (running or pending) and not yet freed */
    void (*shutdown_done)(fc_stream *, void *);
    void *shutdown_arg;

    /* Detection (cfg.detect.detector != NULL). `motion` belongs to the
     * running detect job (one at a time); the rest to the loop. */
    bool detecting;
    uint64_t detect_period_ns, next_detect_ns;
    fc_stage detect_stage;
    fc_motion *motion;
    fc_tracker tracker;
    int sent_count; /* the tracks as last sent in an event */
    fc_track sent[FC_FACES_MAX];
    fc_event *last_event; /* that event, for subscribers who join later */
    fc_ptz ptz;
    fc_stage ptz_stage;

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
    fc_view view;
    fc_frame *raw;
    int tier, quality;
    fc_frame *out;
    char err[160];
} encode_job;

typedef struct detect_job {
    fc_job job;
    fc_stream *s;
    fc_frame *raw;
    bool skipped; /* motion gating: the scene has not changed */
    bool square;  /* a tracked face near an edge the band input cuts */
    int rc;
    fc_faces faces;
} detect_job;

typedef struct ptz_job {
    fc_job job;
    fc_stream *s;
    fc_frame *raw;
    fc_rect view;
    fc_frame *out;
} ptz_job;

static const double encode_ms_bounds[] = {0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 100};

const char *fc_view_name(fc_view v)
{
    return v == FC_VIEW_PTZ ? "ptz" : "full";
}

int fc_view_parse(const char *name, fc_view *out)
{
    for (int v = 0; v < FC_VIEW_COUNT; v++) {
        if (strcmp(name, fc_view_name((fc_view)v)) == 0) {
            *out = (fc_view)v;
            return 0;
        }
    }
    return -1;
}

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

/* A frame is due for a stage that runs at most every `period` when its due
 * time has reached the stage's next slot (half a source period of slack
 * absorbs jitter). Every frame is due when the source is no faster. */
static bool rate_slot(const fc_stream *s, uint64_t period, uint64_t *next, uint64_t due_ns)
{
    if (period <= s->period_ns)
        return true;
    if (due_ns + s->period_ns / 2 < *next)
        return false;
    *next += period;
    if (*next < due_ns)
        *next = due_ns + period;
    return true;
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
    output *o = &s->out[e->view];
    fc_stage_finish(&o->encode_stage[e->tier], s->pool);
    if (!e->out) {
        log_error(s, e->err);
    } else {
        o->frames_encoded[e->tier]++;
        fc_histogram_observe(&s->encode_ms, (double)job->cpu_ns / 1e6);
        if (!s->shutting_down)
            fc_hub_publish(&o->hub, e->out, fc_now_ns());
    }
    encode_free(e);
    maybe_finish_shutdown(s);
}

static void submit_encode(fc_stream *s, fc_view view, fc_frame *raw, int tier)
{
    encode_job *e = calloc(1, sizeof *e);
    if (!e) {
        log_error(s, "out of memory for an encode job");
        return;
    }
    e->job = (fc_job){.work = encode_work, .done = encode_done, .loop = s->loop,
                      .role = FC_ROLE_ENCODE};
    e->s = s;
    e->view = view;
    e->raw = fc_frame_ref(raw);
    e->tier = tier;
    e->quality = s->cfg.quality[tier];
    s->inflight++;
    fc_job *replaced = fc_stage_submit(&s->out[view].encode_stage[tier], s->pool, &e->job);
    if (replaced)
        encode_free(fc_container_of(replaced, encode_job, job));
}

/* Encodes `raw` once for every tier some subscriber of the view is on. */
static void encode_for_view(fc_stream *s, fc_view view, fc_frame *raw)
{
    unsigned mask = fc_hub_tier_mask(&s->out[view].hub);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        if (mask & (1u << t))
            submit_encode(s, view, raw, t);
}

/* ---- PTZ view ---- */

static void ptz_work(fc_job *job)
{
    ptz_job *p = fc_container_of(job, ptz_job, job);
    if (fc_ptz_render(p->raw, p->view, &p->out) != 0)
        p->out = NULL;
}

static void ptz_free(ptz_job *p)
{
    p->s->inflight--;
    fc_frame_unref(p->raw);
    fc_frame_unref(p->out);
    free(p);
}

static void ptz_done(fc_job *job)
{
    ptz_job *p = fc_container_of(job, ptz_job, job);
    fc_stream *s = p->s;
    fc_stage_finish(&s->ptz_stage, s->pool);
    s->stats.ptz_cpu_ns += job->cpu_ns;
    if (!p->out)
        log_error(s, "out of memory for a PTZ frame");
    else if (!s->shutting_down)
        encode_for_view(s, FC_VIEW_PTZ, p->out);
    ptz_free(p);
    maybe_finish_shutdown(s);
}

static void submit_ptz(fc_stream *s, fc_frame *raw)
{
    ptz_job *p = calloc(1, sizeof *p);
    if (!p) {
        log_error(s, "out of memory for a PTZ job");
        return;
    }
    p->job = (fc_job){.work = ptz_work, .done = ptz_done, .loop = s->loop, .role = FC_ROLE_VIEW};
    p->s = s;
    p->raw = fc_frame_ref(raw);
    p->view = fc_ptz_step(&s->ptz, raw->timestamp);
    s->inflight++;
    fc_job *replaced = fc_stage_submit(&s->ptz_stage, s->pool, &p->job);
    if (replaced)
        ptz_free(fc_container_of(replaced, ptz_job, job));
}

/* ---- detection ---- */

/* The frame is read once, scaled to the model's size; the motion check
 * looks at that small luma plane. */
static void detect_work(fc_job *job)
{
    detect_job *d = fc_container_of(job, detect_job, job);
    fc_stream *s = d->s;
    const fc_frame *f = d->raw;
    double threshold = s->cfg.detect.motion_threshold;
    fc_face_input *in;
    d->rc = fc_face_prepare_i420(s->cfg.detect.detector, f->plane[0], f->stride[0], f->plane[1],
                                 f->stride[1], f->plane[2], f->stride[2], f->width, f->height,
                                 d->square ? FC_FACE_SQUARE : 0, &in);
    if (d->rc != 0)
        return;
    if (threshold > 0) {
        int w, h;
        const uint8_t *luma = fc_face_input_luma(in, &w, &h);
        if (fc_motion_measure(s->motion, luma, w) < threshold) {
            fc_face_input_drop(in);
            d->skipped = true;
            return;
        }
    }
    d->rc = fc_face_input_detect(in, &d->faces);
    if (threshold > 0 && d->rc == 0)
        fc_motion_commit(s->motion);
}

static void detect_free(detect_job *d)
{
    d->s->inflight--;
    fc_frame_unref(d->raw);
    free(d);
}

/* Worth telling clients: a track came or went, or a box moved or resized by
 * more than 2% of the picture's larger side. */
static bool tracks_changed(fc_stream *s)
{
    const fc_tracker *t = &s->tracker;
    if (t->count != s->sent_count)
        return true;
    float tol = 0.02f * (float)(s->src->width > s->src->height ? s->src->width : s->src->height);
    for (int i = 0; i < t->count; i++) {
        const fc_track *a = &t->track[i], *b = &s->sent[i];
        if (a->id != b->id || fabsf(a->x - b->x) > tol || fabsf(a->y - b->y) > tol ||
            fabsf(a->w - b->w) > tol || fabsf(a->h - b->h) > tol)
            return true;
    }
    return false;
}

static json_t *track_json(const fc_track *k)
{
    json_t *kp = json_array();
    for (int i = 0; i < FC_FACE_KEYPOINTS; i++)
        json_array_append_new(kp, json_pack("[f, f]", round(k->last.keypoints[i].x * 10) / 10,
                                            round(k->last.keypoints[i].y * 10) / 10));
    return json_pack("{s:I, s:[f, f, f, f], s:f, s:o}", "id", (json_int_t)k->id, "box",
                     round(k->x * 10) / 10, round(k->y * 10) / 10, round(k->w * 10) / 10,
                     round(k->h * 10) / 10, "score", round(k->last.score * 1000) / 1000,
                     "keypoints", kp);
}

static void publish_detections(fc_stream *s, const fc_frame *f)
{
    const fc_tracker *t = &s->tracker;
    json_t *faces = json_array();
    for (int i = 0; i < t->count; i++)
        json_array_append_new(faces, track_json(&t->track[i]));
    json_t *msg = json_pack("{s:s, s:I, s:f, s:o}", "type", "detections", "frame_id",
                            (json_int_t)f->id, "timestamp", f->timestamp, "faces", faces);
    char *text = msg ? json_dumps(msg, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(msg);
    fc_event *e = text ? fc_event_new(text, strlen(text)) : NULL;
    free(text);
    if (!e) {
        log_error(s, "out of memory for a detections event");
        return;
    }
    for (int v = 0; v < FC_VIEW_COUNT; v++)
        fc_hub_publish_event(&s->out[v].hub, e);
    fc_event_unref(s->last_event);
    s->last_event = e; /* our reference */
    s->stats.events++;
    s->sent_count = t->count;
    memcpy(s->sent, t->track, sizeof(fc_track) * (size_t)t->count);
}

static void detect_done(fc_job *job)
{
    detect_job *d = fc_container_of(job, detect_job, job);
    fc_stream *s = d->s;
    fc_stage_finish(&s->detect_stage, s->pool);
    s->stats.analysis_cpu_ns += job->cpu_ns;
    double now = d->raw->timestamp;
    if (d->skipped) {
        s->stats.inferences_skipped++;
        fc_tracker_hold(&s->tracker, now);
    } else if (d->rc != 0) {
        log_error(s, "face detection failed");
    } else {
        s->stats.inferences++;
        if (d->square)
            s->stats.inferences_square++;
        if (d->faces.count > 0)
            s->stats.inferences_with_faces++;
        fc_tracker_update(&s->tracker, &d->faces, now);
    }
    if (!s->shutting_down) {
        fc_ptz_set_tracks(&s->ptz, &s->tracker, now);
        if (tracks_changed(s))
            publish_detections(s, d->raw);
    }
    detect_free(d);
    maybe_finish_shutdown(s);
}

static void submit_detect(fc_stream *s, fc_frame *raw)
{
    detect_job *d = calloc(1, sizeof *d);
    if (!d) {
        log_error(s, "out of memory for a detect job");
        return;
    }
    d->job = (fc_job){.work = detect_work, .done = detect_done, .loop = s->loop,
                      .role = FC_ROLE_ANALYSIS};
    d->s = s;
    d->raw = fc_frame_ref(raw);
    /* Faces the band input would see differently run on the whole square. */
    for (int i = 0; i < s->tracker.count && !d->square; i++) {
        const fc_track *k = &s->tracker.track[i];
        d->square = fc_face_near_band_edge(s->cfg.detect.detector, raw->width, raw->height, k->x,
                                           k->y, k->w, k->h);
    }
    s->inflight++;
    fc_job *replaced = fc_stage_submit(&s->detect_stage, s->pool, &d->job);
    if (replaced)
        detect_free(fc_container_of(replaced, detect_job, job));
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
        if (s->detecting && rate_slot(s, s->detect_period_ns, &s->next_detect_ns, r->due_ns))
            submit_detect(s, r->out);
        bool viewers = s->out[FC_VIEW_FULL].hub.count + s->out[FC_VIEW_PTZ].hub.count > 0;
        if (viewers && rate_slot(s, s->encode_period_ns, &s->next_encode_ns, r->due_ns)) {
            encode_for_view(s, FC_VIEW_FULL, r->out);
            if (s->out[FC_VIEW_PTZ].hub.count > 0)
                submit_ptz(s, r->out);
        } else if (viewers) {
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

/* The rate the source must run at for its consumers: subscribers of either
 * view need encode_fps; detection, whenever it is on, needs detect_fps. */
static double needed_fps(const fc_stream *s)
{
    double need = 0;
    if (s->out[FC_VIEW_FULL].hub.count + s->out[FC_VIEW_PTZ].hub.count > 0)
        need = s->cfg.encode_fps;
    if (s->detecting && s->cfg.detect.fps > need)
        need = s->cfg.detect.fps;
    return need < s->cfg.fps ? need : s->cfg.fps;
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
    bool viewers = s->out[FC_VIEW_FULL].hub.count + s->out[FC_VIEW_PTZ].hub.count > 0;
    s->period_ns = period;
    if (!s->running) {
        s->running = true;
        s->next_encode_ns = now;
        s->next_detect_ns = now;
        s->fps_window_start_ns = now;
        s->fps_window_frames = 0;
    }
    if (viewers) {
        /* Someone is waiting for a picture: the first one now. */
        s->next_due_ns = now;
    } else {
        /* Only detection consumes: tick on a grid every stream at this rate
         * shares, so the pool runs all their detections back to back every
         * period, on warm caches, instead of waking for each one (a detection
         * after an idle gap costs about 25% more CPU; docs/benchmarks.md). */
        s->next_due_ns = (now / period + 1) * period;
    }
    fc_info("stream %s: source running at %.3g fps", s->id, need);
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
    s->detecting = s->cfg.detect.detector != NULL;
    if (s->detecting) {
        if (s->cfg.detect.fps <= 0)
            s->cfg.detect.fps = 2;
        if (s->cfg.detect.fps > s->cfg.fps)
            s->cfg.detect.fps = s->cfg.fps;
        s->detect_period_ns = (uint64_t)(1e9 / s->cfg.detect.fps);
        int lw, lh;
        if (fc_face_detector_scaled_size(s->cfg.detect.detector, src->width, src->height, &lw,
                                         &lh) != 0 ||
            fc_motion_new(lw, lh, &s->motion) != 0) {
            fc_source_destroy(src);
            free(s);
            return -1;
        }
        fc_tracker_init(&s->tracker, &s->cfg.detect.tracker);
        fc_ptz_init(&s->ptz, &s->cfg.detect.ptz, src->width, src->height);
    }
    s->loop_lag = loop_lag;
    s->error_log = (fc_ratelimit)FC_RATELIMIT_INIT(5);
    for (int v = 0; v < FC_VIEW_COUNT; v++) {
        char name[FC_ID_MAX + 8];
        snprintf(name, sizeof name, v == FC_VIEW_FULL ? "%s" : "%s (ptz)", s->id);
        fc_hub_init(&s->out[v].hub, name);
    }
    fc_histogram_init(&s->encode_ms, encode_ms_bounds,
                      (int)(sizeof encode_ms_bounds / sizeof *encode_ms_bounds));
    uv_timer_init(&loop->uv, &s->timer);
    s->timer.data = s;
    *out = s;
    return 0;
}

void fc_stream_start(fc_stream *s)
{
    update_demand(s);
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
    for (int v = 0; v < FC_VIEW_COUNT; v++)
        fc_hub_destroy(&s->out[v].hub);
    update_demand(s);
    fc_job *j;
    if ((j = fc_stage_cancel_pending(&s->render_stage)))
        render_free(fc_container_of(j, render_job, job));
    if ((j = fc_stage_cancel_pending(&s->detect_stage)))
        detect_free(fc_container_of(j, detect_job, job));
    if ((j = fc_stage_cancel_pending(&s->ptz_stage)))
        ptz_free(fc_container_of(j, ptz_job, job));
    for (int v = 0; v < FC_VIEW_COUNT; v++)
        for (int t = 0; t < FC_TIER_COUNT; t++)
            if ((j = fc_stage_cancel_pending(&s->out[v].encode_stage[t])))
                encode_free(fc_container_of(j, encode_job, job));
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}

void fc_stream_free(fc_stream *s)
{
    if (!s)
        return;
    fc_source_destroy(s->src);
    fc_motion_free(s->motion);
    fc_event_unref(s->last_event);
    free(s);
}

int fc_stream_subscribe(fc_stream *s, fc_view view, const fc_sub_opts *opts, fc_sub_wake_fn wake,
                        void *ctx, fc_sub **out)
{
    if (s->shutting_down || (view == FC_VIEW_PTZ && !s->detecting))
        return -1;
    if (fc_hub_add(&s->out[view].hub, opts, wake, ctx, out) != 0)
        return -1;
    /* Events describe a state: a subscriber who joins after the faces were
     * last announced is told where they are now, not only at the next change. */
    if (s->last_event)
        (*out)->event = fc_event_ref(s->last_event);
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
    return &s->out[FC_VIEW_FULL].hub;
}

const fc_hub *fc_stream_view_hub(const fc_stream *s, fc_view view)
{
    return &s->out[view].hub;
}

bool fc_stream_running(const fc_stream *s)
{
    return s->running;
}

bool fc_stream_detecting(const fc_stream *s)
{
    return s->detecting;
}

const fc_tracker *fc_stream_tracker(const fc_stream *s)
{
    return s->detecting ? &s->tracker : NULL;
}

fc_rect fc_stream_ptz_view(const fc_stream *s)
{
    return s->ptz.view;
}

void fc_stream_get_stats(const fc_stream *s, fc_stream_stats *out)
{
    *out = s->stats;
    out->render_coalesced = s->render_stage.coalesced;
    out->detect_coalesced = s->detect_stage.coalesced;
    out->ptz_coalesced = s->ptz_stage.coalesced;
    out->encode_coalesced = 0;
    for (int v = 0; v < FC_VIEW_COUNT; v++) {
        for (int t = 0; t < FC_TIER_COUNT; t++) {
            out->encode_coalesced += s->out[v].encode_stage[t].coalesced;
            out->frames_encoded[v][t] = s->out[v].frames_encoded[t];
        }
    }
}

const fc_histogram *fc_stream_encode_ms(const fc_stream *s)
{
    return &s->encode_ms;
}
