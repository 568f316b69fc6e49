#include "sources/av_source.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>

#include "core/clock.h"
#include "core/log.h"
#include "sources/av_decode.h"
#include "sources/av_demux.h"
#include "sources/redact.h"

#define TIMEOUT_RTSP_S 5.0
/* Local files and devices do not stall for network reasons; a stall there
 * is a dead disk or a hung driver. */
#define TIMEOUT_FILE_S 30.0
#define TIMEOUT_V4L2_S 10.0
#define TAKE_BATCH 64

typedef struct av_source {
    fc_source base;
    fc_demux_cfg dcfg;
    char target[FC_SPEC_PATH_MAX];
    char input_format[16];
    fc_convert_cfg ccfg;
    double cap_fps; /* the spec's fps: 0 = the source's own rate */

    fc_loop *loop;
    fc_pool *pool;
    fc_source_sink sink;
    fc_demux *demux;
    fc_decode *decode;
    fc_source_demand demand;
    double decode_fps;    /* the decode stage's cap: the demand's and the spec's */
    bool key_mode;        /* decoding key frames only now */
    double last_key_t;    /* capture time of the last key frame read; 0 = none since a marker */
    int64_t last_key_pts; /* its timestamp: a picture split over packets is one key frame */
    double key_interval;  /* seconds between the last two; 0 = not known */
    /* A rate the input does not state (an RTSP camera's SDP rarely does) is
     * measured from the timestamps of its first pictures. */
    AVRational tb;
    int rate_pictures; /* distinct timestamps seen; -1 = rate known or given up */
    int64_t rate_pts0, rate_last_pts;
    fc_source_status last; /* from the demux, as of its last notification */
    bool started, stopping, closing;
    bool end_pending; /* "ended" waits until the decode stage delivered the last frames */
    fc_source_format fmt;
    /* Log lines: a change of state always gets one; a camera that stays
     * down repeats "retrying" with the same error at every attempt, and
     * those repeats are held to one line per interval (with their count). */
    fc_source_state logged_state;
    char logged_error[256];
    fc_ratelimit repeat_rl;
} av_source;

static void full_status(av_source *s, fc_source_status *st)
{
    *st = s->last;
    st->key_interval = s->key_interval;
    st->key_only = s->key_mode;
    fc_decode_stats(s->decode, st);
    if (!st->error[0] && fc_decode_error(s->decode)[0])
        snprintf(st->error, sizeof st->error, "%s", fc_decode_error(s->decode));
    /* Packets the demuxer's bitstream filter refused leave no message of
     * their own: say how many. */
    if (!st->error[0] && st->decode_errors > 0)
        snprintf(st->error, sizeof st->error,
                 "%llu packets did not parse or decode (corrupt data), skipped",
                 (unsigned long long)st->decode_errors);
}

static void log_state(av_source *s, const fc_source_status *st)
{
    fc_log_level level = st->state == FC_SOURCE_CONNECTING ? FC_LOG_DEBUG
                         : st->state == FC_SOURCE_FAILED   ? FC_LOG_ERROR
                         : st->state == FC_SOURCE_RETRYING ? FC_LOG_WARN
                                                           : FC_LOG_INFO;
    if (level == FC_LOG_DEBUG) {
        fc_debug("source %s: connecting", s->base.description);
        return;
    }
    uint64_t suppressed = 0;
    bool repeat = st->state == FC_SOURCE_RETRYING && s->logged_state == FC_SOURCE_RETRYING &&
                  strcmp(st->error, s->logged_error) == 0;
    uint64_t now = fc_now_ns();
    if (repeat) {
        if (!fc_ratelimit_allow(&s->repeat_rl, now, &suppressed)) return;
    } else {
        /* A new line: it owns up to the repeats held back before it, and
         * the window for its own repeats starts now. */
        suppressed = s->repeat_rl.suppressed;
        s->repeat_rl.suppressed = 0;
        s->repeat_rl.last_ns = now;
    }
    s->logged_state = st->state;
    snprintf(s->logged_error, sizeof s->logged_error, "%s", st->error);
    bool says_error =
        st->error[0] && (st->state == FC_SOURCE_RETRYING || st->state == FC_SOURCE_FAILED ||
                         st->state == FC_SOURCE_ENDED);
    char more[64] = "";
    if (suppressed)
        snprintf(more, sizeof more, " (%llu repeated retrying lines not logged)",
                 (unsigned long long)suppressed);
    fc_log(level, "source %s: %s%s%s%s", s->base.description, fc_source_state_name(st->state),
           says_error ? ": " : "", says_error ? st->error : "", more);
}

static void report_state(av_source *s)
{
    fc_source_status st;
    full_status(s, &st);
    log_state(s, &st);
    if (s->sink.on_state && !s->stopping) s->sink.on_state(s->sink.ctx, &st);
}

static void report_format(av_source *s, const fc_source_format *f)
{
    if (memcmp(f, &s->fmt, sizeof *f) == 0) return;
    s->fmt = *f;
    if (s->sink.on_format && !s->stopping) s->sink.on_format(s->sink.ctx, &s->fmt);
}

static void maybe_finish(av_source *s);

/* Key frames only while the demand allows it: when they are enough whatever
 * their rate, or when they come at least as often as it asks (5% slack for
 * a camera's clock). Until two key frames tell the interval, everything is
 * decoded. */
static void choose_mode(av_source *s)
{
    const fc_source_demand *d = &s->demand;
    bool key = d->pixels && d->key_only &&
               (d->key_min_fps <= 0 ||
                (s->key_interval > 0 && 1.0 / s->key_interval >= 0.95 * d->key_min_fps));
    if (key == s->key_mode) return;
    s->key_mode = key;
    fc_decode_set(s->decode, s->decode_fps, key);
    if (key && s->key_interval > 0)
        fc_info("source %s: decoding key frames only (one every %.3g s)", s->base.description,
                s->key_interval);
    else if (key)
        fc_info("source %s: decoding key frames only", s->base.description);
    else if (d->pixels)
        fc_info("source %s: decoding every frame", s->base.description);
}

/* Measured on every key frame read, whatever is decoded, so a change of the
 * camera's key-frame interval is seen in either mode. A camera may send a
 * key frame's parameter sets as a packet of their own, flagged key with the
 * picture's timestamp: that is the same key frame. */
static void key_frame_read(av_source *s, double t, int64_t pts)
{
    /* Without a timestamp (the first packet of some RTSP sessions) it cannot
     * be told apart from the picture next to it. */
    if (pts == AV_NOPTS_VALUE || (s->last_key_t > 0 && pts == s->last_key_pts)) return;
    if (s->last_key_t > 0 && t > s->last_key_t) {
        s->key_interval = t - s->last_key_t;
        choose_mode(s);
    }
    s->last_key_t = t;
    s->last_key_pts = pts;
}

#define RATE_PICTURES 16

/* The nominal rate from the timestamps of the first RATE_PICTURES pictures
 * (decode order: with B-frames the span is still that many frame times),
 * rounded to a whole number when within 1% of one. */
static void measure_rate(av_source *s, int64_t ts)
{
    if (s->rate_pictures < 0 || ts == AV_NOPTS_VALUE || ts == s->rate_last_pts) return;
    if (s->rate_pictures == 0) s->rate_pts0 = ts;
    s->rate_last_pts = ts;
    if (++s->rate_pictures < RATE_PICTURES) return;
    s->rate_pictures = -1;
    double span = (double)(ts - s->rate_pts0) * av_q2d(s->tb);
    if (!(span > 0)) return;
    double fps = (RATE_PICTURES - 1) / span;
    if (fabs(fps - round(fps)) < 0.01 * fps) fps = round(fps);
    fc_source_format f = s->fmt;
    f.fps = fps;
    report_format(s, &f);
}

static void route(av_source *s, fc_packet *p)
{
    switch (fc_packet_kind_of(p)) {
    case FC_PACKET_SEGMENT: {
        s->last_key_t = 0; /* a new connection: its first interval starts at its first key */
        fc_packet_time_base(p, &s->tb.num, &s->tb.den);
        s->rate_pictures = fc_packet_fps(p) > 0 || s->tb.num <= 0 || s->tb.den <= 0 ? -1 : 0;
        const AVCodecParameters *par = fc_packet_params(p);
        fc_source_format f = s->fmt;
        snprintf(f.codec, sizeof f.codec, "%s", avcodec_get_name(par->codec_id));
        if (strcmp(f.codec, s->fmt.codec) != 0 || (par->width && par->width != f.width) ||
            (par->height && par->height != f.height)) {
            f.width = par->width;
            f.height = par->height;
        }
        /* A rate the input does not state is measured again (measure_rate);
         * until then the last one stands, rather than a 0 and back. */
        if (fc_packet_fps(p) > 0) f.fps = fc_packet_fps(p);
        report_format(s, &f);
        if (s->sink.on_packet) s->sink.on_packet(s->sink.ctx, p);
        fc_decode_push(s->decode, p);
        return;
    }
    case FC_PACKET_DRAIN:
        s->last_key_t = 0; /* a rewind is no key-frame interval */
        fc_decode_push(s->decode, p);
        return;
    case FC_PACKET_DATA: {
        const AVPacket *av = fc_packet_av(p);
        int64_t ts = av->dts != AV_NOPTS_VALUE ? av->dts : av->pts;
        measure_rate(s, ts);
        if (fc_packet_key(p)) key_frame_read(s, fc_packet_time(p), av->pts);
        if (s->demand.packets && s->sink.on_packet) s->sink.on_packet(s->sink.ctx, p);
        if (s->demand.pixels && (!s->key_mode || fc_packet_key(p)))
            fc_decode_push(s->decode, p);
        else {
            fc_decode_gap(s->decode);
            fc_packet_unref(p);
        }
        return;
    }
    }
}

/* Reports a state read before the packets were routed (on_demux). */
static void apply_state(av_source *s, bool changed, const fc_source_status *st)
{
    s->last = *st;
    if (!changed) return;
    if (s->last.state == FC_SOURCE_ENDED && !fc_decode_idle(s->decode)) {
        s->end_pending = true;
        return;
    }
    s->end_pending = false;
    report_state(s);
}

static void on_demux(void *ctx)
{
    av_source *s = ctx;
    /* The state first, then the packets. The demux thread hands off every
     * packet before it changes state, so the packets taken after the state
     * was read include all that came before it: "ended" is never acted on
     * while the drain packet before it (a file's last B-frames) is still in
     * the hand-off queue. */
    fc_source_status st;
    bool changed = fc_demux_state_changed(s->demux, &st);
    fc_packet *batch[TAKE_BATCH];
    int n;
    do {
        n = fc_demux_take(s->demux, batch, TAKE_BATCH);
        for (int i = 0; i < n; i++) {
            if (s->stopping)
                fc_packet_unref(batch[i]);
            else
                route(s, batch[i]);
        }
    } while (n == TAKE_BATCH);
    apply_state(s, changed, &st);
    maybe_finish(s);
}

static void on_frame(void *ctx, fc_frame *f)
{
    av_source *s = ctx;
    if (!s->stopping && s->sink.on_frame) s->sink.on_frame(s->sink.ctx, f);
}

/* An encode in the decode job only for a sink that can take one, and not
 * while stopping. */
static void *reserve(void *ctx)
{
    av_source *s = ctx;
    return s->stopping || !s->sink.reserve ? NULL : s->sink.reserve(s->sink.ctx);
}

static void on_encoded(void *ctx, fc_frame *f, void *res, uint64_t encode_ns)
{
    av_source *s = ctx;
    if (s->stopping)
        s->sink.release(s->sink.ctx, res);
    else
        s->sink.on_encoded(s->sink.ctx, f, res, encode_ns);
}

static void release(void *ctx, void *res)
{
    av_source *s = ctx;
    s->sink.release(s->sink.ctx, res);
}

static void on_size(void *ctx, int w, int h, int ow, int oh)
{
    av_source *s = ctx;
    fc_source_format f = s->fmt;
    f.width = w;
    f.height = h;
    f.out_width = ow;
    f.out_height = oh;
    report_format(s, &f);
}

static void on_decode_idle(void *ctx)
{
    av_source *s = ctx;
    if (s->end_pending) {
        s->end_pending = false;
        report_state(s);
    }
    maybe_finish(s);
}

static void on_demux_closed(void *ctx)
{
    av_source *s = ctx;
    s->demux = NULL;
    if (s->sink.on_stopped) s->sink.on_stopped(s->sink.ctx);
}

static void maybe_finish(av_source *s)
{
    if (s->stopping && !s->closing && fc_demux_exited(s->demux) && fc_decode_idle(s->decode)) {
        s->closing = true;
        fc_demux_close(s->demux, on_demux_closed, s);
    }
}

/* --- fc_source_ops ------------------------------------------------------ */

static int av_start(fc_source *src, fc_loop *loop, fc_pool *pool, const fc_source_sink *sink,
                    double idle_close, char *err, size_t errlen)
{
    av_source *s = (av_source *)src;
    if (s->started) {
        snprintf(err, errlen, "source %s: already started", s->base.description);
        return -EALREADY;
    }
    s->loop = loop;
    s->pool = pool;
    s->sink = *sink;
    s->dcfg.idle_close = idle_close > 0 ? idle_close : 0;
    fc_decode_cb cb = {.ctx = s,
                       .on_frame = on_frame,
                       .on_size = on_size,
                       .on_idle = on_decode_idle,
                       .reserve = sink->reserve ? reserve : NULL,
                       .encode = sink->encode,
                       .on_encoded = on_encoded,
                       .release = release};
    int rc = fc_decode_create(loop, pool, &s->ccfg, &cb, &s->decode);
    if (rc != 0) {
        snprintf(err, errlen, "source %s: out of memory", s->base.description);
        return rc;
    }
    fc_decode_set(s->decode, s->cap_fps, false);
    char why[256];
    rc = fc_demux_start(loop, &s->dcfg, on_demux, s, &s->demux, why, sizeof why);
    if (rc != 0) {
        fc_decode_destroy(s->decode);
        s->decode = NULL;
        snprintf(err, errlen, "source %s: %s", s->base.description, why);
        return rc;
    }
    s->started = true;
    return 0;
}

static void av_set_demand(fc_source *src, const fc_source_demand *d)
{
    av_source *s = (av_source *)src;
    if (!s->started || s->stopping) return;
    bool had_pixels = s->demand.pixels;
    s->demand = *d;
    double fps = s->cap_fps;
    if (d->fps > 0 && (fps == 0 || d->fps < fps)) fps = d->fps;
    s->decode_fps = fps;
    fc_decode_set(s->decode, fps, s->key_mode);
    choose_mode(s);
    if (!d->pixels)
        fc_decode_clear(s->decode);
    else if (!had_pixels)
        fc_decode_gap(s->decode);
    fc_demux_set_wanted(s->demux, d->pixels || d->packets);
}

static void av_get_status(fc_source *src, fc_source_status *out)
{
    av_source *s = (av_source *)src;
    if (!s->started) {
        memset(out, 0, sizeof *out);
        out->state = FC_SOURCE_IDLE;
        return;
    }
    /* Fresh counters, without running the sink's callbacks from here: a
     * change of state not yet reported is reported by on_demux. */
    if (s->demux && !s->closing) fc_demux_status(s->demux, &s->last);
    full_status(s, out);
}

static void av_stop(fc_source *src)
{
    av_source *s = (av_source *)src;
    if (!s->started || s->stopping) return;
    s->stopping = true;
    fc_demux_stop(s->demux);
    fc_decode_clear(s->decode);
    maybe_finish(s);
}

static void av_destroy(fc_source *src)
{
    av_source *s = (av_source *)src;
    fc_decode_destroy(s->decode);
    free(s);
}

static const fc_source_ops av_ops = {
    .type = "av",
    .render = NULL,
    .start = av_start,
    .set_demand = av_set_demand,
    .get_status = av_get_status,
    .stop = av_stop,
    .destroy = av_destroy,
};

int fc_av_source_create(const fc_source_spec *spec, int width, int height, double fps,
                        fc_source **out, char *err, size_t errlen)
{
    av_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "source: out of memory");
        return -ENOMEM;
    }
    s->base.ops = &av_ops;
    s->repeat_rl = (fc_ratelimit)FC_RATELIMIT_INIT(10);
    s->logged_state = FC_SOURCE_IDLE;
    snprintf(s->target, sizeof s->target, "%s", spec->path);
    fc_av_input_cfg *in = &s->dcfg.input;
    in->target = s->target;
    char shown[FC_SPEC_PATH_MAX - 64]; /* leaves the description room for its options */
    fc_redact(spec->path, shown, sizeof shown);
    bool synthetic = strcmp(spec->type, "synthetic") == 0;
    if (synthetic) {
        in->kind = FC_INPUT_FILE;
        in->timeout = TIMEOUT_FILE_S;
        s->dcfg.paced = s->dcfg.loop = true;
        s->ccfg = (fc_convert_cfg){
            .width = width, .height = height, .panzoom = true, .still = spec->still};
        s->cap_fps = fps;
        snprintf(s->base.description, sizeof s->base.description, "synthetic:video=%s%s", shown,
                 spec->still ? ",motion=0" : "");
    } else {
        s->ccfg = (fc_convert_cfg){.width = spec->width, .height = spec->height};
        s->cap_fps = spec->fps;
        s->base.packets = strcmp(spec->type, "v4l2") != 0;
        if (strcmp(spec->type, "file") == 0) {
            in->kind = FC_INPUT_FILE;
            in->timeout = TIMEOUT_FILE_S;
            s->dcfg.paced = true;
            s->dcfg.loop = spec->loop;
            snprintf(s->base.description, sizeof s->base.description, "file:%s%s", shown,
                     spec->loop ? ",loop" : "");
        } else if (strcmp(spec->type, "v4l2") == 0) {
            in->kind = FC_INPUT_V4L2;
            in->timeout = TIMEOUT_V4L2_S;
            in->width = spec->width;
            in->height = spec->height;
            in->fps = spec->fps;
            if (spec->input_format[0]) {
                snprintf(s->input_format, sizeof s->input_format, "%s", spec->input_format);
                in->input_format = s->input_format;
            }
            snprintf(s->base.description, sizeof s->base.description, "v4l2:%s%s%s", shown,
                     spec->input_format[0] ? ",input_format=" : "", spec->input_format);
        } else {
            in->kind = FC_INPUT_RTSP;
            in->udp = spec->transport == FC_TRANSPORT_UDP;
            in->timeout = spec->timeout > 0 ? spec->timeout : TIMEOUT_RTSP_S;
            snprintf(s->base.description, sizeof s->base.description, "%s%s", shown,
                     in->udp ? ",transport=udp" : "");
        }
    }
    s->base.width = s->ccfg.width;
    s->base.height = s->ccfg.height;
    s->base.fps = s->cap_fps;
    *out = &s->base;
    return 0;
}
