/* fc_webrtc: a Streaming mountpoint per stream, fed by a subscriber of the
 * stream's full view (webrtc.h): the camera's own H.264 where the stream
 * offers it (RFC 6184, nothing decoded or encoded for it), VP8 otherwise. */
#include "transport/webrtc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/job.h"
#include "core/log.h"
#include "encode/vp8.h"
#include "stream/passthrough.h"
#include "transport/janus.h"
#include "transport/rtp_out.h"

/* The tier Janus's viewers get (webrtc.h says why). */
#define WEBRTC_TIER FC_TIER_MEDIUM
/* The subscriber is drained as soon as it is woken, so a few frames are
 * plenty; more would only be latency. */
#define WEBRTC_QUEUE 8

typedef enum {
    ENTRY_WAITING, /* asked for; Janus is not ready yet */
    ENTRY_READY,   /* Janus has it: sending */
    ENTRY_LOST,    /* Janus went away; it comes back when Janus does */
    ENTRY_FAILED,  /* Janus refused it, or it could not be asked for */
} entry_state;

typedef struct entry {
    struct entry *next;
    fc_webrtc *w;
    fc_stream *stream;
    fc_stream_user user; /* told when the stream leaves the set */
    char id[64];
    const fc_codec_ops *codec; /* &fc_h264_passthrough or &fc_vp8_codec */
    entry_state state;
    char why[256];
    uint64_t mountpoint; /* 0 until Janus named it */
    fc_janus_mountpoint *mp;
    fc_rtp_out *out;
    fc_sub *sub;
    uv_timer_t drain; /* a zero timeout: send what the hub queued, off its call */
    uint64_t frames_sent, send_errors;
} entry;

struct fc_webrtc {
    fc_loop *loop;
    fc_stream_set *streams;
    char url[256];    /* for pages: where their players find Janus */
    char origin[256]; /* its scheme, host and port, for their CSP */
    fc_janus *janus;
    entry *entries;
    void (*done)(void *arg);
    void *done_arg;
};

static void log_error_once(entry *e, const char *err)
{
    /* One line per burst, not one per frame. */
    if (e->send_errors++ % 300 == 0)
        fc_warn("stream %s: WebRTC: %s (%llu so far)", e->id, err,
                (unsigned long long)e->send_errors);
}

static void on_drain(uv_timer_t *t)
{
    entry *e = t->data;
    fc_frame *f;
    while (e->sub && (f = fc_sub_next(e->sub, fc_now_ns()))) {
        char err[200];
        int rc = e->out ? fc_rtp_out_send_video(e->out, f, err, sizeof err) : -ENOTCONN;
        fc_frame_unref(f);
        if (rc == 0)
            e->frames_sent++;
        else if (rc != -ENOTCONN)
            log_error_once(e, err);
    }
}

static void on_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    entry *e = ctx;
    uv_timer_start(&e->drain, on_drain, 0, 0);
}

static fc_rtp_codec rtp_codec(const entry *e)
{
    return e->codec == &fc_h264_passthrough ? FC_RTP_H264 : FC_RTP_VP8;
}

/* What the mountpoint carries, for the log and the API. */
static const char *sent_name(const entry *e)
{
    return e->codec == &fc_h264_passthrough ? "the camera's H.264" : "VP8, medium tier";
}

static void unsubscribe(entry *e)
{
    if (!e->sub) return;
    fc_stream_unsubscribe(e->stream, FC_VIEW_FULL, e->codec, e->sub);
    e->sub = NULL;
    uv_timer_stop(&e->drain);
}

/* A PLI or FIR from Janus (a viewer joined, or lost its picture), or packets
 * the kernel refused: the hub's key-frame request, coalesced as a join's.
 * A camera's key frame cannot be forced: its viewers wait for the next IDR. */
static void on_key_frame(void *arg)
{
    entry *e = arg;
    if (e->sub) fc_sub_want_key(e->sub);
}

static void on_ready(fc_janus_mountpoint *mp, const fc_janus_ports *p, void *arg)
{
    (void)mp;
    entry *e = arg;
    char err[256];
    if (!e->out) {
        fc_rtp_out_config oc = {.host = p->host,
                                .video = rtp_codec(e),
                                .video_pt = FC_JANUS_VIDEO_PT,
                                .key_frame = on_key_frame,
                                .arg = e};
        if (fc_rtp_out_open(&e->w->loop->uv, &oc, &e->out, err, sizeof err) != 0) goto fail;
    }
    if (fc_rtp_out_target(e->out, p->video, p->video_rtcp, 0, err, sizeof err) != 0) goto fail;
    if (!e->sub) {
        fc_sub_opts so = {.tier = WEBRTC_TIER, .queue = WEBRTC_QUEUE};
        /* Subscribing is a join: the hub asks for the key frame the new
         * mountpoint's first viewers need. */
        if (fc_stream_subscribe(e->stream, FC_VIEW_FULL, e->codec, &so, on_wake, e, &e->sub, err,
                                sizeof err) != 0)
            goto fail;
    }
    e->state = ENTRY_READY;
    e->mountpoint = p->id;
    e->why[0] = '\0';
    fc_info("stream %s: WebRTC on Janus mountpoint %llu (%s to %s:%d)", e->id,
            (unsigned long long)p->id, sent_name(e), p->host, p->video);
    return;
fail:
    e->state = ENTRY_FAILED;
    snprintf(e->why, sizeof e->why, "%s", err);
    fc_warn("stream %s: WebRTC: %s", e->id, err);
    unsubscribe(e);
}

static void on_lost(fc_janus_mountpoint *mp, const char *why, void *arg)
{
    (void)mp;
    entry *e = arg;
    e->state = ENTRY_LOST;
    snprintf(e->why, sizeof e->why, "%s", why);
    if (e->out) fc_rtp_out_untarget(e->out);
    /* Nobody can watch until Janus is back: encode nothing for it. */
    unsubscribe(e);
}

static void on_failed(fc_janus_mountpoint *mp, const char *why, void *arg)
{
    (void)mp;
    entry *e = arg;
    e->state = ENTRY_FAILED;
    snprintf(e->why, sizeof e->why, "%s", why);
    if (e->out) fc_rtp_out_untarget(e->out);
    unsubscribe(e);
}

static entry *find(const fc_webrtc *w, const char *id)
{
    for (entry *e = w->entries; e; e = e->next)
        if (strcmp(e->id, id) == 0) return e;
    return NULL;
}

static void remove_entry(fc_webrtc *w, entry *e);

/* The stream left the set (deleted, replaced, the server stopping): its
 * mountpoint goes with it. */
static void on_gone(fc_stream_user *u, fc_stream_end why)
{
    (void)why;
    entry *e = fc_container_of(u, entry, user);
    remove_entry(e->w, e);
}

/* A mountpoint for `s`, asked for at once (created when Janus is ready).
 * One Janus refuses stays, saying why, so the API can show it. */
static void add_stream(fc_webrtc *w, fc_stream *s)
{
    const char *id = fc_stream_id(s);
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        fc_warn("stream %s: WebRTC: out of memory", id);
        return;
    }
    e->w = w;
    e->stream = s;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->codec = fc_stream_offers_h264(s) ? &fc_h264_passthrough : &fc_vp8_codec;
    uv_timer_init(&w->loop->uv, &e->drain);
    e->drain.data = e;
    e->user.gone = on_gone;
    fc_stream_set_use(w->streams, s, &e->user);
    char desc[96];
    snprintf(desc, sizeof desc, "framecast stream %s", id);
    /* Packetization mode 1 (FU-A), which rtp.c sends; the profile is the
     * camera's, which browsers read from the SPS in band. */
    fc_janus_mp_config mc = {.description = desc,
                             .video = rtp_codec(e),
                             .video_fmtp =
                                 rtp_codec(e) == FC_RTP_H264 ? "packetization-mode=1" : NULL};
    fc_janus_mp_events ev = {.ready = on_ready, .lost = on_lost, .failed = on_failed, .arg = e};
    char why[256];
    if (fc_janus_mountpoint_new(w->janus, &mc, &ev, &e->mp, why, sizeof why) != 0) {
        e->state = ENTRY_FAILED;
        snprintf(e->why, sizeof e->why, "%s", why);
        fc_warn("stream %s: WebRTC: %s", id, why);
    }
    e->next = w->entries;
    w->entries = e;
}

static void on_joined(fc_stream *s, void *arg)
{
    add_stream(arg, s);
}

int fc_webrtc_open(fc_loop *loop, const fc_webrtc_config *cfg, fc_webrtc **out, char *err,
                   size_t errlen)
{
    fc_webrtc *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    w->loop = loop;
    snprintf(w->url, sizeof w->url, "%s", cfg->url);
    fc_janus_config jc = {.url = cfg->url, .admin_key = cfg->admin_key};
    int rc = fc_janus_open(&loop->uv, &jc, &w->janus, err, errlen);
    if (rc != 0) {
        free(w);
        return rc;
    }
    /* http://HOST:PORT/PATH: fc_janus_open accepted no other form. */
    const char *path = strchr(w->url + strlen("http://"), '/');
    snprintf(w->origin, sizeof w->origin, "%.*s", path ? (int)(path - w->url) : (int)strlen(w->url),
             w->url);
    w->streams = cfg->streams;
    for (size_t i = 0; i < w->streams->n; i++)
        add_stream(w, w->streams->v[i]);
    w->streams->joined = on_joined;
    w->streams->joined_arg = w;
    *out = w;
    return 0;
}

static void free_entry(uv_handle_t *h)
{
    free(h->data);
}

static void remove_entry(fc_webrtc *w, entry *e)
{
    for (entry **p = &w->entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    fc_stream_set_unuse(&e->user);
    unsubscribe(e);
    fc_janus_mountpoint_free(e->mp);
    fc_rtp_out_close(e->out);
    uv_close((uv_handle_t *)&e->drain, free_entry);
}

static const char *entry_why(const fc_webrtc *w, const entry *e)
{
    if (e->state == ENTRY_READY) return NULL;
    if (e->why[0]) return e->why;
    const char *why = NULL;
    fc_janus_status(w->janus, &why);
    return why && why[0] ? why : "waiting for Janus";
}

json_t *fc_webrtc_stream_json(const fc_webrtc *w, const char *stream_id)
{
    const entry *e = w ? find(w, stream_id) : NULL;
    if (!e)
        return json_pack("{s:b, s:n, s:s}", "available", 0, "mountpoint", "why",
                         w ? "no mountpoint for this stream"
                           : "WebRTC is not configured (serve --janus URL --janus-admin-key K)");
    const char *why = entry_why(w, e);
    const fc_rtp_out_stats *st = e->out ? fc_rtp_out_get_stats(e->out) : NULL;
    return json_pack(
        "{s:b, s:o, s:o, s:s, s:s, s:s, s:I, s:I, s:I}", "available", e->state == ENTRY_READY,
        "mountpoint", e->mountpoint ? json_integer((json_int_t)e->mountpoint) : json_null(), "why",
        why ? json_string(why) : json_null(), "janus",
        fc_janus_state_name(fc_janus_status(w->janus, NULL)), "codec", e->codec->name, "tier",
        fc_tier_name(e->codec == &fc_h264_passthrough ? FC_TIER_HIGH : WEBRTC_TIER), "frames_sent",
        (json_int_t)e->frames_sent, "key_frame_requests", (json_int_t)(st ? st->pli + st->fir : 0),
        "send_errors", (json_int_t)e->send_errors);
}

const char *fc_webrtc_origin(const fc_webrtc *w)
{
    return w->origin;
}

json_t *fc_webrtc_server_json(const fc_webrtc *w)
{
    if (!w) return json_null();
    const char *why = NULL;
    fc_janus_state st = fc_janus_status(w->janus, &why);
    return json_pack("{s:s, s:s, s:o}", "janus", w->url, "state", fc_janus_state_name(st), "why",
                     st != FC_JANUS_READY && why ? json_string(why) : json_null());
}

fc_janus *fc_webrtc_janus(const fc_webrtc *w)
{
    return w->janus;
}

fc_loop *fc_webrtc_loop(const fc_webrtc *w)
{
    return w->loop;
}

static void janus_closed(void *arg)
{
    fc_webrtc *w = arg;
    if (w->done) w->done(w->done_arg);
}

void fc_webrtc_close(fc_webrtc *w, void (*done)(void *arg), void *arg)
{
    w->streams->joined = NULL;
    while (w->entries)
        remove_entry(w, w->entries);
    w->done = done;
    w->done_arg = arg;
    fc_janus_close(w->janus, janus_closed, w);
}

void fc_webrtc_free(fc_webrtc *w)
{
    if (!w) return;
    fc_janus_free(w->janus);
    free(w);
}
