/* One stream at run time (stream.h): pacing a rendered source or taking a
 * pushing one's frames, demand, the PTZ view, the outputs per (view, codec)
 * and the passthrough, and the shutdown handshake. It stays one file past
 * the usual ~600 lines because those parts change the same fields under one
 * invariant (done fires only when no job of the stream is in flight and a
 * pushing source has stopped); what others ask of a stream is in
 * stream_info.c. */
#include "stream/stream_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/stage.h"
#include "encode/jpeg.h"
#include "encode/output.h"
#include "stream/passthrough.h"

typedef struct render_job {
    fc_job job;
    fc_stream *s;
    uint32_t index;
    double t;
    uint64_t due_ns;
    fc_frame *out;
    int rc;
} render_job;

typedef struct ptz_job {
    fc_job job;
    fc_stream *s;
    fc_frame *raw;
    fc_rect view;
    fc_frame *out;
    int join_tier;       /* >= 0: a joiner's first picture, for that tier only */
    fc_codec join_codec; /* and that codec only */
} ptz_job;

static const double encode_ms_bounds[] = {0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 50, 100};

/* What a pushing source without a rate of its own yet is assumed to run at,
 * for the encoders' rate control. */
#define NOMINAL_FPS 30.0

static void maybe_finish_shutdown(fc_stream *s)
{
    if (s->shutting_down && s->inflight == 0 && s->parts_open == 0 && s->shutdown_done) {
        void (*done)(fc_stream *, void *) = s->shutdown_done;
        s->shutdown_done = NULL;
        done(s, s->shutdown_arg);
    }
}

static void log_error(void *arg, const char *what)
{
    fc_stream *s = arg;
    s->stats.errors++;
    if (fc_ratelimit_allow(&s->error_log, fc_now_ns(), NULL))
        fc_error("stream %s: %s (%llu errors so far)", s->id, what,
                 (unsigned long long)s->stats.errors);
}

/* Subscribers of one view, every codec. */
static size_t view_viewers(const fc_stream *s, fc_view v)
{
    size_t n = 0;
    for (int c = 0; c < FC_CODEC_COUNT; c++)
        if (s->out[v][c].o) n += fc_output_subscribers(s->out[v][c].o);
    return n;
}

static size_t viewers(const fc_stream *s)
{
    return view_viewers(s, FC_VIEW_FULL) + view_viewers(s, FC_VIEW_PTZ);
}

/* A raw frame of view `v` to every codec somebody watches it in but
 * `except` (one whose encode is already done; FC_CODEC_COUNT = none). */
static void push_view(fc_stream *s, fc_view v, fc_frame *raw, int except)
{
    for (int c = 0; c < FC_CODEC_COUNT; c++)
        if (s->out[v][c].o && c != except) fc_output_push(s->out[v][c].o, raw);
}

/* A frame is due for a stage that runs at most every `period` when its due
 * time has reached the stage's next slot. Every frame is due when the source
 * is no faster. Jitter is absorbed by half a tick of a paced source, and for
 * a pushing one by a quarter of the stage's period, the slack its decode
 * stage decimates with (sources/av_decode.c), so both keep the same frames. */
static bool rate_slot(const fc_stream *s, uint64_t period, uint64_t *next, uint64_t due_ns)
{
    if (period <= s->period_ns) return true;
    uint64_t slack = s->pushing ? period / 4 : s->period_ns / 2;
    if (due_ns + slack < *next) return false;
    *next += period;
    if (*next < due_ns) *next = due_ns + period;
    return true;
}

/* ---- PTZ view ---- */

static void ptz_work(fc_job *job)
{
    ptz_job *p = fc_container_of(job, ptz_job, job);
    if (fc_ptz_render(p->raw, p->view, &p->out) != 0) p->out = NULL;
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
    else if (s->shutting_down)
        ;
    else if (p->join_tier < 0)
        push_view(s, FC_VIEW_PTZ, p->out, FC_CODEC_COUNT);
    else if (s->out[FC_VIEW_PTZ][p->join_codec].o)
        fc_output_push_tier(s->out[FC_VIEW_PTZ][p->join_codec].o, p->out, (fc_tier)p->join_tier);
    ptz_free(p);
    maybe_finish_shutdown(s);
}

static void submit_ptz(fc_stream *s, fc_frame *raw, int join_tier, fc_codec join_codec)
{
    ptz_job *p = calloc(1, sizeof *p);
    if (!p) {
        log_error(s, "out of memory for a PTZ job");
        return;
    }
    p->job = (fc_job){.work = ptz_work, .done = ptz_done, .loop = s->loop, .role = FC_ROLE_VIEW};
    p->s = s;
    p->raw = fc_frame_ref(raw);
    p->join_tier = join_tier;
    p->join_codec = join_codec;
    p->view = fc_detect_ptz_step(s->detect, raw->timestamp);
    s->inflight++;
    fc_job *replaced = fc_stage_submit(&s->ptz_stage, s->pool, &p->job);
    if (replaced) ptz_free(fc_container_of(replaced, ptz_job, job));
}

/* ---- a raw frame arrived ---- */

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

/* Where every raw frame enters the stream, whoever made it (a render job,
 * or a pushing source's decode stage): to detection when its slot is due,
 * and to the views when their encode slot is. `due_ns` is when the frame was
 * wanted (its slot on the stream's clock; a pushed frame's capture time). */
static void frame_arrived(fc_stream *s, fc_frame *raw, uint64_t due_ns)
{
    count_produced(s, fc_now_ns());
    if (s->detect && rate_slot(s, s->detect_period_ns, &s->next_detect_ns, due_ns))
        fc_detect_submit(s->detect, raw);
    if (viewers(s) == 0) return;
    if (!rate_slot(s, s->encode_period_ns, &s->next_encode_ns, due_ns)) {
        s->stats.frames_not_encoded++;
        return;
    }
    push_view(s, FC_VIEW_FULL, raw, FC_CODEC_COUNT);
    if (view_viewers(s, FC_VIEW_PTZ) > 0) submit_ptz(s, raw, -1, FC_CODEC_NONE);
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

static void render_done(fc_job *job)
{
    render_job *r = fc_container_of(job, render_job, job);
    fc_stream *s = r->s;
    fc_stage_finish(&s->render_stage, s->pool);
    if (r->rc != 0 || !r->out)
        log_error(s, "source failed to produce a frame");
    else if (!s->shutting_down)
        frame_arrived(s, r->out, r->due_ns);
    render_free(r);
    maybe_finish_shutdown(s);
}

/* ---- pacing and demand ---- */

static void schedule_tick(fc_stream *s, uint64_t now);

static void on_tick(uv_timer_t *timer)
{
    fc_stream *s = timer->data;
    uint64_t now = fc_now_ns();
    uint64_t due = s->next_due_ns;
    if (s->loop_lag) fc_histogram_observe(s->loop_lag, now > due ? (double)(now - due) / 1e6 : 0.0);

    render_job *r = calloc(1, sizeof *r);
    if (!r) {
        log_error(s, "out of memory for a render job");
    } else {
        r->job = (fc_job){
            .work = render_work, .done = render_done, .loop = s->loop, .role = FC_ROLE_SOURCE};
        r->s = s;
        r->index = s->next_index++;
        r->t = fc_wall_seconds();
        r->due_ns = due;
        s->inflight++;
        fc_job *replaced = fc_stage_submit(&s->render_stage, s->pool, &r->job);
        if (replaced) render_free(fc_container_of(replaced, render_job, job));
    }
    s->next_due_ns += s->period_ns;
    /* Fell far behind (stopped debugger, overloaded machine): do not try to
     * catch up with a burst; resume the cadence from now. */
    if (s->next_due_ns + s->period_ns < now) s->next_due_ns = now + s->period_ns;
    schedule_tick(s, now);
}

static void schedule_tick(fc_stream *s, uint64_t now)
{
    uint64_t wait_ns = s->next_due_ns > now ? s->next_due_ns - now : 0;
    /* libuv timers count whole milliseconds; round up so we never fire early. */
    uv_timer_start(&s->timer, on_tick, (wait_ns + 999999) / 1000000, 0);
}

/* Who needs what, and how fast: the one place demand is decided.
 * Subscribers of either view need pixels at the encode cap; detection,
 * whenever it is on, needs them at detect_fps; never faster than the
 * source's fps (0 for a pushing source: every frame). When detection is the
 * only consumer, a pushing source may decode key frames only, as the
 * stream's key_only policy says: with `auto` only while they come at least
 * at detect_fps (the source measures that), with `always` whatever their
 * rate. Compressed packets are for codec=h264 subscribers (the passthrough),
 * who need no pixels: with only them, nothing is decoded. */
static fc_source_demand demand_of(const fc_stream *s)
{
    fc_source_demand d = {0};
    if (s->shutting_down) return d;
    d.packets = s->pass != NULL;
    bool watched = viewers(s) > 0;
    if (!watched && !s->detect) return d;
    d.pixels = true;
    double need = watched ? s->cfg.encode_fps : s->cfg.detect.fps;
    if (watched && need > 0 && s->detect && s->cfg.detect.fps > need) need = s->cfg.detect.fps;
    if (s->cfg.fps > 0 && (need <= 0 || need > s->cfg.fps)) need = s->cfg.fps;
    d.fps = need;
    if (!watched && s->cfg.key_only != FC_KEY_ONLY_NEVER) {
        d.key_only = true;
        d.key_min_fps = s->cfg.key_only == FC_KEY_ONLY_ALWAYS ? 0 : s->cfg.detect.fps;
    }
    return d;
}

static void set_running(fc_stream *s, bool running)
{
    if (running == s->running) return;
    s->running = running;
    s->running_since_ns = fc_now_ns();
    s->fps_window_start_ns = s->running_since_ns;
    s->fps_window_frames = 0;
    if (!running) s->stats.measured_fps = 0;
}

static bool same_demand(const fc_source_demand *a, const fc_source_demand *b)
{
    return a->pixels == b->pixels && a->fps == b->fps && a->key_only == b->key_only &&
           a->key_min_fps == b->key_min_fps && a->packets == b->packets;
}

/* Pushing sources: the demand goes to the source, which connects, decodes,
 * decimates or disconnects accordingly. */
static void push_demand(fc_stream *s)
{
    fc_source_demand d = demand_of(s);
    set_running(s, d.pixels || d.packets);
    if (same_demand(&d, &s->demand)) return;
    s->demand = d;
    if (!s->src_started) return;
    s->src->ops->set_demand(s->src, &d);
    if (s->shutting_down) return;
    if (!d.pixels && !d.packets)
        fc_info("stream %s: no consumers, source idle%s", s->id,
                s->cfg.idle_close > 0 ? " (a camera disconnects after --idle-close)" : "");
    else if (!d.pixels)
        fc_info("stream %s: source wanted for its H.264 as sent, nothing decoded", s->id);
    else if (d.key_only)
        fc_info("stream %s: source wanted for detection at %.3g fps, key frames only%s", s->id,
                d.fps, d.key_min_fps > 0 ? " while they come that often" : "");
    else if (d.fps > 0)
        fc_info("stream %s: source wanted at %.3g fps", s->id, d.fps);
    else
        fc_info("stream %s: source wanted at its own rate", s->id);
}

static void update_demand(fc_stream *s)
{
    if (s->pushing) {
        push_demand(s);
        return;
    }
    fc_source_demand d = demand_of(s);
    double need = d.pixels ? d.fps : 0;
    if (need <= 0) {
        if (s->running) {
            uv_timer_stop(&s->timer);
            set_running(s, false);
            fc_info("stream %s: no consumers, source paused", s->id);
        }
        return;
    }
    uint64_t period = (uint64_t)(1e9 / need);
    if (s->running && period == s->period_ns) return;
    uint64_t now = fc_now_ns();
    s->period_ns = period;
    if (!s->running) {
        set_running(s, true);
        s->next_encode_ns = now;
        s->next_detect_ns = now;
    }
    if (viewers(s) > 0) {
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

/* ---- a pushing source ---- */

/* The rate frames go out at: the encode cap and the source's own rate (and
 * its fps= cap), the lowest of those known; 0 when none is. */
static double sent_fps(const fc_stream *s)
{
    double fps = 0;
    double caps[] = {s->cfg.encode_fps, s->cfg.fps, s->src_fmt.fps};
    for (size_t i = 0; i < sizeof caps / sizeof *caps; i++)
        if (caps[i] > 0 && (fps == 0 || caps[i] < fps)) fps = caps[i];
    return fps;
}

/* The first frame since the source reported a new format, or of a size the
 * stream has not seen: from this frame on, subscribers are told the new
 * format (the endpoint sends it before the frame), and detection and the
 * PTZ view start again at its size. */
static void take_format(fc_stream *s, const fc_frame *f)
{
    s->fmt_pending = false;
    fc_stream_format n = s->fmt;
    n.width = f->width;
    n.height = f->height;
    snprintf(n.source_codec, sizeof n.source_codec, "%s", s->src_fmt.codec);
    n.fps = sent_fps(s);
    double rate = s->src_fmt.fps;
    if (s->cfg.fps > 0 && (rate <= 0 || s->cfg.fps < rate)) rate = s->cfg.fps;
    s->period_ns = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
    bool resized = n.width != s->fmt.width || n.height != s->fmt.height;
    if (s->fmt.serial > 0 && !resized && n.fps == s->fmt.fps &&
        strcmp(n.source_codec, s->fmt.source_codec) == 0)
        return;
    n.serial = s->fmt.serial + 1;
    n.first_id = f->id;
    s->fmt = n;
    if (resized && s->detect) fc_detect_resize(s->detect, n.width, n.height);
    fc_info("stream %s: %s %dx%d (delivered %dx%d) at %.3g fps", s->id,
            n.source_codec[0] ? n.source_codec : "video", s->src_fmt.width, s->src_fmt.height,
            n.width, n.height, s->src_fmt.fps);
}

/* What every pushed frame does first, encoded already or not. */
static void take_src_frame(fc_stream *s, fc_frame *f)
{
    if (s->fmt_pending || f->width != s->fmt.width || f->height != s->fmt.height ||
        s->fmt.serial == 0)
        take_format(s, f);
    if (s->src_state == FC_SOURCE_LIVE) {
        fc_frame_unref(s->last_raw);
        s->last_raw = fc_frame_ref(f);
    }
}

static void on_src_frame(void *ctx, fc_frame *f)
{
    fc_stream *s = ctx;
    if (s->shutting_down) return;
    take_src_frame(s, f);
    frame_arrived(s, f, (uint64_t)(f->timestamp * 1e9));
}

/* The one full-view output whose encode a decode job may do itself: only
 * when this frame's one consumer is that encode, so what the job makes is
 * what would have been pushed. No detection and no PTZ view (they take the
 * raw frame on the loop and decide per frame), every frame inside the
 * encode cap (no rate slot to skip), one codec watched; the output then
 * says whether one tier is wanted and free (fc_output_reserve). */
static void *reserve_encode(void *ctx)
{
    fc_stream *s = ctx;
    if (s->shutting_down || s->detect || view_viewers(s, FC_VIEW_PTZ) > 0 || s->period_ns == 0 ||
        s->encode_period_ns > s->period_ns)
        return NULL;
    int only = -1;
    for (int c = 0; c < FC_CODEC_COUNT; c++) {
        fc_output *o = s->out[FC_VIEW_FULL][c].o;
        if (!o || fc_output_subscribers(o) == 0) continue;
        if (only >= 0) return NULL;
        only = c;
    }
    if (only < 0) return NULL;
    fc_output_slot *slot = fc_output_reserve(s->out[FC_VIEW_FULL][only].o);
    if (slot) s->fused_codec = only;
    return slot;
}

static void encode_reserved(void *res, fc_frame *f)
{
    fc_output_slot_encode(res, f);
}

/* Published (or, the output closing, dropped) as its pushed twin would be
 * at its encode's done: after the frame's format was taken, before any
 * later frame is pushed. */
static void on_src_encoded(void *ctx, fc_frame *f, void *res, uint64_t encode_ns)
{
    fc_stream *s = ctx;
    if (s->shutting_down) {
        fc_output_slot_done(res, encode_ns);
        return;
    }
    take_src_frame(s, f);
    count_produced(s, fc_now_ns());
    fc_output_slot_done(res, encode_ns);
    s->stats.frames_fused++;
    /* Whoever started watching since the reservation gets it the usual way. */
    push_view(s, FC_VIEW_FULL, f, s->fused_codec);
    if (view_viewers(s, FC_VIEW_PTZ) > 0) submit_ptz(s, f, -1, FC_CODEC_NONE);
}

static void release_encode(void *ctx, void *res)
{
    (void)ctx;
    fc_output_slot_done(res, 0);
}

static void on_src_packet(void *ctx, fc_packet *p)
{
    fc_stream *s = ctx;
    if (s->shutting_down) return;
    if (fc_packet_kind_of(p) == FC_PACKET_SEGMENT) {
        fc_packet_unref(s->segment);
        s->segment = fc_packet_ref(p);
        if (fc_passthrough_codec_string(p, s->h264_codec, sizeof s->h264_codec) != 0)
            s->h264_codec[0] = '\0';
        if (s->pass) fc_passthrough_segment(s->pass, p);
    } else if (s->pass && fc_packet_kind_of(p) == FC_PACKET_DATA) {
        fc_passthrough_packet(s->pass, p);
    }
}

/* A camera or file not opened yet is offered as H.264; one that turns out
 * to be of another codec tells its codec=h264 subscribers why they get
 * nothing, and the event closes them after that (event.h `closes`), on
 * this loop and, through the relays, on the others. */
static void refuse_passthrough(fc_stream *s)
{
    char text[FC_ID_MAX + 96];
    int n =
        snprintf(text, sizeof text,
                 "{\"type\":\"error\",\"message\":\"stream '%s' is not H.264: its input is %s\"}",
                 s->id, s->src_fmt.codec);
    fc_event *e = fc_event_new(text, (size_t)n);
    if (!e) {
        log_error(s, "out of memory for an event");
        return;
    }
    e->closes = "stream is not H.264";
    fc_passthrough_publish_event(s->pass, e);
    fc_event_unref(e);
}

static void on_src_format(void *ctx, const fc_source_format *fmt)
{
    fc_stream *s = ctx;
    s->src_fmt = *fmt;
    s->fmt_pending = true;
    if (s->pass && !fc_stream_offers_h264(s)) refuse_passthrough(s);
}

static void on_src_state(void *ctx, const fc_source_status *st)
{
    fc_stream *s = ctx;
    s->src_state = st->state;
    /* Only a live source's newest frame is news to a joiner. */
    if (st->state != FC_SOURCE_LIVE) {
        fc_frame_unref(s->last_raw);
        s->last_raw = NULL;
    }
}

static void part_closed(void *arg);

static void on_src_stopped(void *ctx)
{
    part_closed(ctx);
}

/* A subscriber joining a running JPEG/WebP stream of a pushing source gets
 * the newest frame at once, encoded for its tier only (the others have it
 * already). An inter-frame codec would need a key frame: it waits for the
 * next frame like everybody. */
static void give_latest(fc_stream *s, fc_view view, const fc_codec_ops *codec, fc_output *o,
                        const fc_sub *sub)
{
    if (!s->pushing || !s->last_raw || codec->inter_frame) return;
    fc_sub_stats st;
    fc_sub_get_stats(sub, &st);
    if (view == FC_VIEW_FULL)
        fc_output_push_tier(o, s->last_raw, st.tier);
    else if (!s->ptz_stage.busy) /* else a newer PTZ frame is on its way to it */
        submit_ptz(s, s->last_raw, (int)st.tier, codec->id);
}

/* ---- lifecycle ---- */

static void on_published(void *arg, const fc_frame *f, uint64_t cpu_ns)
{
    view_out *vo = arg;
    fc_histogram_observe(&vo->s->encode_ms[f->codec], (double)cpu_ns / 1e6);
}

static void on_output_failed(void *arg, const char *msg)
{
    log_error(((view_out *)arg)->s, msg);
}

static void on_tracks_changed(void *arg, fc_event *e)
{
    fc_stream *s = arg;
    for (int v = 0; v < FC_VIEW_COUNT; v++)
        for (int c = 0; c < FC_CODEC_COUNT; c++)
            if (s->out[v][c].o) fc_output_publish_event(s->out[v][c].o, e);
    if (s->pass) fc_passthrough_publish_event(s->pass, e);
    fc_event_unref(s->last_event);
    s->last_event = fc_event_ref(e);
}

static const fc_output_hooks output_hooks = {.published = on_published, .failed = on_output_failed};
static const fc_detect_hooks detect_hooks = {.changed = on_tracks_changed, .failed = log_error};

/* The most frames per second the outputs are pushed, for their encoders'
 * rate control. */
static double output_fps(const fc_stream *s)
{
    if (s->cfg.encode_fps > 0) return s->cfg.encode_fps;
    return s->cfg.fps > 0 ? s->cfg.fps : NOMINAL_FPS;
}

/* How the stream's output of `view` in `codec` is made; `name` is its
 * buffer for the hub's name ("cam0", "cam0 (ptz)", "cam0 (vp8)"...). */
fc_output_config fc_stream_output_config(const fc_stream *s, fc_view view,
                                         const fc_codec_ops *codec, char *name, size_t namelen)
{
    bool default_codec = codec == s->cfg.codec;
    if (view == FC_VIEW_FULL && default_codec)
        snprintf(name, namelen, "%s", s->id);
    else if (default_codec)
        snprintf(name, namelen, "%s (ptz)", s->id);
    else
        snprintf(name, namelen, "%s (%s%s)", s->id, view == FC_VIEW_PTZ ? "ptz, " : "",
                 codec->name);
    fc_output_config oc = {
        .name = name, .codec = codec, .fps = output_fps(s), .keyint_s = s->cfg.keyint_s};
    memcpy(oc.quality, s->cfg.quality, sizeof oc.quality);
    return oc;
}

/* The figures of an output about to close join those of its view and
 * codec's earlier ones. */
static void retire_output(view_out *vo)
{
    fc_output_stats os;
    fc_output_get_stats(vo->o, &os);
    fc_hub_stats hs;
    fc_hub_get_stats(fc_output_hub(vo->o), &hs);
    for (int t = 0; t < FC_TIER_COUNT; t++)
        vo->past.encoded[t] += os.encoded[t];
    vo->past.keyframes += os.keyframes;
    vo->past.keyframes_forced += os.keyframes_forced;
    vo->past.keyframes_periodic += os.keyframes_periodic;
    vo->past.drops += hs.drops;
    vo->past.drops_to_key += hs.drops_to_key;
    vo->coalesced_past += os.coalesced;
}

/* The parts a stream is built of besides its outputs (made by their first
 * subscribers): with detection, its detection stage. */
static int create_parts(fc_stream *s, char *err, size_t errlen)
{
    if (!s->cfg.detect.detector) return 0;
    return fc_detect_create(s->loop, s->pool, &s->cfg.detect, s->src->width, s->src->height,
                            &detect_hooks, s, &s->detect, err, errlen);
}

static void part_closed(void *arg)
{
    fc_stream *s = arg;
    s->parts_open--;
    maybe_finish_shutdown(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    part_closed(h->data);
}

/* Nobody watches the view in this codec any more (or the stream ends): the
 * output closes, and the stream waits for it before it is done. */
static void close_output(fc_stream *s, view_out *vo)
{
    fc_output *o = vo->o;
    retire_output(vo);
    vo->o = NULL;
    s->parts_open++;
    fc_output_close(o, part_closed, s);
}

/* Nobody watches the camera's own H.264 any more (or the stream ends): its
 * figures join the earlier ones'. It has no jobs, so it goes at once. */
static void close_passthrough(fc_stream *s)
{
    fc_passthrough_add_stats(s->pass, &s->pass_past);
    fc_hub_stats hs;
    fc_hub_get_stats(fc_passthrough_hub(s->pass), &hs);
    s->pass_hub_past.drops += hs.drops;
    s->pass_hub_past.drops_to_key += hs.drops_to_key;
    fc_passthrough_free(s->pass);
    s->pass = NULL;
}

/* Closes every part that exists (a failed create, or a shutdown); each
 * reports back through part_closed. They are gone for the stream at once:
 * what they still finish is published to nobody. A started pushing source
 * is one of the parts: it reports through on_src_stopped once its thread
 * and jobs are done, maybe before stop returns, so it is stopped last. */
static void close_parts(fc_stream *s)
{
    s->parts_open += 1; /* the timer */
    s->parts_open += s->detect != NULL;
    s->parts_open += s->src_started;
    fc_frame_unref(s->last_raw);
    s->last_raw = NULL;
    for (int v = 0; v < FC_VIEW_COUNT; v++)
        for (int c = 0; c < FC_CODEC_COUNT; c++)
            if (s->out[v][c].o) close_output(s, &s->out[v][c]);
    if (s->pass) close_passthrough(s);
    fc_detect *d = s->detect;
    s->detect = NULL;
    if (d) fc_detect_close(d, part_closed, s);
    bool stop_source = s->src_started;
    s->src_started = false;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    if (stop_source) s->src->ops->stop(s->src);
}

static void free_unmade(fc_stream *s, void *arg)
{
    (void)arg;
    fc_stream_free(s);
}

/* A create that failed with `rc` because of `why`: the parts made so far
 * close as the loop runs, and the stream is freed when they have. */
static int unmake(fc_stream *s, int rc, const char *why, char *err, size_t errlen)
{
    snprintf(err, errlen, "stream %s: %s", s->id, why);
    s->shutting_down = true;
    s->shutdown_done = free_unmade;
    close_parts(s);
    return rc;
}

int fc_stream_create(fc_loop *loop, fc_pool *pool, const char *id, fc_source *src,
                     const fc_stream_config *cfg, fc_histogram *loop_lag, fc_stream **out,
                     char *err, size_t errlen)
{
    fc_stream *s = calloc(1, sizeof *s);
    if (!s) {
        fc_source_destroy(src);
        snprintf(err, errlen, "stream %s: out of memory", id);
        return -ENOMEM;
    }
    snprintf(s->id, sizeof s->id, "%s", id);
    s->loop = loop;
    s->pool = pool;
    s->src = src;
    s->pushing = src->ops->render == NULL;
    s->cfg = *cfg;
    if (!s->cfg.codec) s->cfg.codec = &fc_jpeg_codec;
    /* A pushing source may have no cap at all (fps 0: its own rate). */
    bool capped = s->cfg.fps > 0;
    if (s->cfg.encode_fps < 0 || (capped && s->cfg.encode_fps > s->cfg.fps) ||
        (!s->pushing && s->cfg.encode_fps == 0))
        s->cfg.encode_fps = s->cfg.fps;
    s->encode_period_ns = s->cfg.encode_fps > 0 ? (uint64_t)(1e9 / s->cfg.encode_fps) : 0;
    if (s->cfg.detect.detector) {
        if (s->cfg.detect.fps <= 0) s->cfg.detect.fps = 2;
        if (capped && s->cfg.detect.fps > s->cfg.fps) s->cfg.detect.fps = s->cfg.fps;
        s->detect_period_ns = (uint64_t)(1e9 / s->cfg.detect.fps);
    }
    s->fmt.width = src->width;
    s->fmt.height = src->height;
    if (!s->pushing) {
        /* A rendered source's frames never change. */
        s->fmt.serial = 1;
        snprintf(s->fmt.source_codec, sizeof s->fmt.source_codec, "raw");
    }
    s->fmt.fps = sent_fps(s);
    s->running_since_ns = fc_now_ns();
    s->views = s->cfg.detect.detector ? FC_VIEW_COUNT : 1;
    for (int v = 0; v < FC_VIEW_COUNT; v++)
        for (int c = 0; c < FC_CODEC_COUNT; c++)
            s->out[v][c].s = s;
    s->loop_lag = loop_lag;
    s->error_log = (fc_ratelimit)FC_RATELIMIT_INIT(5);
    for (int c = 0; c < FC_CODEC_COUNT; c++)
        fc_histogram_init(&s->encode_ms[c], encode_ms_bounds,
                          (int)(sizeof encode_ms_bounds / sizeof *encode_ms_bounds));
    uv_timer_init(&loop->uv, &s->timer);
    s->timer.data = s;
    char why[300];
    int rc = create_parts(s, why, sizeof why);
    if (rc != 0) return unmake(s, rc, why, err, errlen);
    if (s->pushing) {
        fc_source_sink sink = {.ctx = s,
                               .on_frame = on_src_frame,
                               .on_packet = s->src->packets ? on_src_packet : NULL,
                               .on_format = on_src_format,
                               .on_state = on_src_state,
                               .on_stopped = on_src_stopped,
                               .reserve = reserve_encode,
                               .encode = encode_reserved,
                               .on_encoded = on_src_encoded,
                               .release = release_encode};
        rc = src->ops->start(src, loop, pool, &sink, s->cfg.idle_close, why, sizeof why);
        if (rc != 0) return unmake(s, rc, why, err, errlen);
        s->src_started = true;
    }
    *out = s;
    return 0;
}

void fc_stream_start(fc_stream *s)
{
    update_demand(s);
}

void fc_stream_shutdown(fc_stream *s, void (*done)(fc_stream *s, void *arg), void *arg)
{
    s->shutting_down = true;
    s->shutdown_done = done;
    s->shutdown_arg = arg;
    update_demand(s);
    fc_job *j;
    if ((j = fc_stage_cancel_pending(&s->render_stage)))
        render_free(fc_container_of(j, render_job, job));
    if ((j = fc_stage_cancel_pending(&s->ptz_stage))) ptz_free(fc_container_of(j, ptz_job, job));
    /* Last: the parts may report closed at once, and the last one may free
     * the stream. */
    close_parts(s);
}

void fc_stream_free(fc_stream *s)
{
    if (!s) return;
    fc_source_destroy(s->src);
    fc_event_unref(s->last_event);
    fc_frame_unref(s->last_raw);
    fc_packet_unref(s->segment);
    free(s);
}

void fc_stream_reconfigure(fc_stream *s, double encode_fps, double detect_fps,
                           const int quality[FC_TIER_COUNT])
{
    /* fps 0: a pushing source at its own rate, which caps nothing here. */
    double cap = s->cfg.fps;
    s->cfg.encode_fps = encode_fps > 0 && (cap <= 0 || encode_fps < cap) ? encode_fps : cap;
    s->encode_period_ns = s->cfg.encode_fps > 0 ? (uint64_t)(1e9 / s->cfg.encode_fps) : 0;
    if (s->detect && (detect_fps > 0 || cap > 0)) {
        s->cfg.detect.fps = detect_fps > 0 && (cap <= 0 || detect_fps < cap) ? detect_fps : cap;
        s->detect_period_ns = (uint64_t)(1e9 / s->cfg.detect.fps);
    }
    memcpy(s->cfg.quality, quality, sizeof s->cfg.quality);
    for (int v = 0; v < FC_VIEW_COUNT; v++)
        for (int c = 0; c < FC_CODEC_COUNT; c++)
            if (s->out[v][c].o)
                fc_output_reconfigure(s->out[v][c].o, output_fps(s), s->cfg.quality);
    update_demand(s);
}

/* The output's slot for `codec`: NULL for a codec whose id no table here
 * has room for. */
view_out *fc_stream_slot(fc_stream *s, fc_view view, const fc_codec_ops *codec)
{
    if (codec->id <= FC_CODEC_NONE || codec->id >= FC_CODEC_COUNT) return NULL;
    return &s->out[view][codec->id];
}

bool fc_stream_offers_h264(const fc_stream *s)
{
    /* Before a camera is first opened its codec is not known: a subscriber
     * then waits for its first IDR access unit like any other. */
    return s->pushing && s->src->packets &&
           (s->src_fmt.codec[0] == '\0' || strcmp(s->src_fmt.codec, "h264") == 0);
}

static int subscribe_passthrough(fc_stream *s, fc_view view, const fc_sub_opts *opts,
                                 fc_sub_wake_fn wake, void *ctx, fc_sub **out, char *err,
                                 size_t errlen)
{
    if (!fc_stream_offers_h264(s)) {
        snprintf(err, errlen, "stream '%s' is not H.264", s->id);
        return -EINVAL;
    }
    if (view != FC_VIEW_FULL) {
        snprintf(err, errlen, "stream '%s': the %s view is made of pixels, not the camera's H.264",
                 s->id, fc_view_name(view));
        return -EINVAL;
    }
    if (!s->pass) {
        char name[FC_ID_MAX + 16];
        snprintf(name, sizeof name, "%s (h264)", s->id);
        if (fc_passthrough_new(name, &s->pass) != 0) {
            snprintf(err, errlen, "stream '%s': out of memory for its H.264 output", s->id);
            return -ENOMEM;
        }
        if (s->segment) fc_passthrough_segment(s->pass, s->segment);
    }
    if (fc_passthrough_subscribe(s->pass, opts, wake, ctx, out) != 0) {
        snprintf(err, errlen, "stream '%s': out of memory for a subscriber", s->id);
        if (fc_passthrough_subscribers(s->pass) == 0) close_passthrough(s);
        return -ENOMEM;
    }
    if (s->last_event) fc_sub_give_event(*out, s->last_event);
    update_demand(s);
    return 0;
}

int fc_stream_subscribe(fc_stream *s, fc_view view, const fc_codec_ops *codec,
                        const fc_sub_opts *opts, fc_sub_wake_fn wake, void *ctx, fc_sub **out,
                        char *err, size_t errlen)
{
    if (!codec) codec = s->cfg.codec;
    if (s->shutting_down) {
        snprintf(err, errlen, "stream '%s' is shutting down", s->id);
        return -ESHUTDOWN;
    }
    if ((int)view >= s->views) {
        snprintf(err, errlen, "stream '%s' has no %s view", s->id, fc_view_name(view));
        return -ENOENT;
    }
    if (codec == &fc_h264_passthrough)
        return subscribe_passthrough(s, view, opts, wake, ctx, out, err, errlen);
    view_out *vo = fc_stream_slot(s, view, codec);
    if (!vo) {
        snprintf(err, errlen, "stream '%s' cannot encode %s", s->id, codec->name);
        return -EINVAL;
    }
    if (!vo->o) {
        char name[FC_ID_MAX + 32];
        fc_output_config oc = fc_stream_output_config(s, view, codec, name, sizeof name);
        int rc = fc_output_create(s->loop, s->pool, &oc, &output_hooks, vo, &vo->o, err, errlen);
        if (rc != 0) return rc;
    }
    int rc = fc_output_subscribe(vo->o, opts, wake, ctx, out);
    if (rc != 0) {
        snprintf(err, errlen, "stream '%s': out of memory for a subscriber", s->id);
        if (fc_output_subscribers(vo->o) == 0) close_output(s, vo);
        return rc;
    }
    /* Events describe a state: a subscriber who joins after the faces were
     * last announced is told where they are now, not only at the next change. */
    if (s->last_event) fc_sub_give_event(*out, s->last_event);
    update_demand(s);
    give_latest(s, view, codec, vo->o, *out);
    return 0;
}

void fc_stream_unsubscribe(fc_stream *s, fc_view view, const fc_codec_ops *codec, fc_sub *sub)
{
    if (codec == &fc_h264_passthrough) {
        if (!s->pass) return; /* shut down: it took its subscribers with it */
        fc_passthrough_unsubscribe(s->pass, sub);
        if (fc_passthrough_subscribers(s->pass) == 0) close_passthrough(s);
        update_demand(s);
        return;
    }
    view_out *vo = fc_stream_slot(s, view, codec ? codec : s->cfg.codec);
    if (!vo || !vo->o) return; /* shut down: the output took its subscribers with it */
    fc_output_unsubscribe(vo->o, sub);
    if (fc_output_subscribers(vo->o) == 0) close_output(s, vo);
    update_demand(s);
}
