/* fc_webrtc_avatar: an avatar session's mountpoint, VP8 and Opus
 * (webrtc_avatar.h). */
#include "transport/webrtc_avatar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/job.h"
#include "core/log.h"
#include "encode/opus.h"
#include "transport/janus.h"
#include "transport/rtp_out.h"

/* Speech, mono or stereo: what WebRTC calls send. */
#define OPUS_BPS 32000
/* An audio packet later than this is skipped (webrtc_avatar.h). */
#define AUDIO_LATE_MS 100
#define PACKET_NS 20000000ull
/* A session waits at most this long for its mountpoint (Janus connecting,
 * or not answering), then is refused with the reason. */
#define READY_TIMEOUT_MS 10000

typedef struct opus_job {
    fc_job job;
    fc_webrtc_avatar *r;
    uint8_t *block; /* FC_FRAME_HEADROOM, then s16le */
    size_t len;
    int rate, channels;
    /* Out: every packet's bytes back to back, and where each ends. */
    uint8_t *bytes;
    size_t nbytes, cap_bytes;
    size_t *ends;
    size_t n, cap;
    bool resampled;
    int rc;
    char err[200];
} opus_job;

struct fc_webrtc_avatar {
    fc_webrtc *w;
    fc_pool *pool;
    char client_id[64];
    fc_webrtc_avatar_events ev;
    void *ctx;
    fc_janus_mountpoint *mp;
    fc_rtp_out *out;
    fc_avatar *av;
    bool announced, freed, draining;
    int refs; /* the owner, an Opus job in flight, each open handle */
    uv_timer_t drain, audio, ready_deadline;
    /* The audio clock: media time 0 is t0_ns (monotonic) and t0_wall. */
    uint64_t t0_ns;
    double t0_wall;
    opus_job *opus; /* the packets, once encoded */
    size_t next_packet;
    uint64_t frames_sent, audio_sent, audio_late, send_errors;
};

static void unref(fc_webrtc_avatar *r)
{
    if (--r->refs > 0) return;
    if (r->opus) {
        free(r->opus->bytes);
        free(r->opus->ends);
        free(r->opus);
    }
    free(r);
}

static void handle_closed(uv_handle_t *h)
{
    unref(h->data);
}

static void send_failed(fc_webrtc_avatar *r, const char *err)
{
    if (r->send_errors++ % 300 == 0)
        fc_warn("avatar %s: WebRTC: %s (%llu so far)", r->client_id, err,
                (unsigned long long)r->send_errors);
}

/* ---- video ---- */

static void teardown(fc_webrtc_avatar *r);

static void on_drain(uv_timer_t *t)
{
    fc_webrtc_avatar *r = t->data;
    /* Handing the last frame over ends the session, whose callback frees
     * us: the teardown waits for the end of this loop, so that frame still
     * goes out. */
    r->draining = true;
    fc_frame *f;
    while (!r->freed && r->av && (f = fc_avatar_next_frame(r->av))) {
        if (r->t0_ns == 0) {
            r->t0_ns = fc_now_ns();
            r->t0_wall = fc_wall_seconds();
        }
        char err[200];
        int rc =
            r->out ? fc_rtp_out_send_video_at(r->out, f, r->t0_wall + f->timestamp, err, sizeof err)
                   : -ENOTCONN;
        fc_frame_unref(f);
        if (rc == 0)
            r->frames_sent++;
        else if (rc != -ENOTCONN)
            send_failed(r, err);
    }
    r->draining = false;
    if (r->freed) teardown(r);
}

void fc_webrtc_avatar_wake(fc_webrtc_avatar *r)
{
    uv_timer_start(&r->drain, on_drain, 0, 0);
}

void fc_webrtc_avatar_attach(fc_webrtc_avatar *r, fc_avatar *av)
{
    r->av = av;
}

/* ---- audio ---- */

static int keep_packet(const uint8_t *pkt, size_t len, uint64_t ticks, void *arg)
{
    (void)ticks; /* 20 ms apart from the first, which the pacing keeps */
    opus_job *j = arg;
    if (j->n == j->cap) {
        size_t cap = j->cap ? j->cap * 2 : 512;
        size_t *e = realloc(j->ends, cap * sizeof *e);
        if (!e) return -ENOMEM;
        j->ends = e;
        j->cap = cap;
    }
    if (j->nbytes + len > j->cap_bytes) {
        size_t cap = j->cap_bytes ? j->cap_bytes * 2 : 64 << 10;
        while (cap < j->nbytes + len)
            cap *= 2;
        uint8_t *b = realloc(j->bytes, cap);
        if (!b) return -ENOMEM;
        j->bytes = b;
        j->cap_bytes = cap;
    }
    memcpy(j->bytes + j->nbytes, pkt, len);
    j->nbytes += len;
    j->ends[j->n++] = j->nbytes;
    return 0;
}

/* Worker: the whole speech to Opus packets, 20 ms of samples at a time
 * (s16le to floats on the stack). */
static void opus_work(fc_job *job)
{
    opus_job *j = fc_container_of(job, opus_job, job);
    fc_opus *o = NULL;
    j->rc = fc_opus_open(j->rate, j->channels, OPUS_BPS, &o, j->err, sizeof j->err);
    if (j->rc != 0) return;
    j->resampled = fc_opus_resamples(o);
    const int16_t *pcm = (const int16_t *)(j->block + FC_FRAME_HEADROOM);
    size_t frames = j->len / (2 * (size_t)j->channels);
    size_t chunk = (size_t)j->rate / 50;
    if (chunk == 0) chunk = 1;
    float buf[2 * 7680]; /* 20 ms of stereo at 384 kHz, the most fc_opus takes */
    if (chunk > sizeof buf / sizeof *buf / 2) chunk = sizeof buf / sizeof *buf / 2;
    for (size_t at = 0; at < frames && j->rc == 0; at += chunk) {
        size_t n = frames - at < chunk ? frames - at : chunk;
        for (size_t i = 0; i < n * (size_t)j->channels; i++)
            buf[i] = (float)pcm[at * (size_t)j->channels + i] / 32768.0f;
        j->rc = fc_opus_encode(o, buf, n, keep_packet, j, j->err, sizeof j->err);
    }
    if (j->rc == 0) j->rc = fc_opus_flush(o, keep_packet, j, j->err, sizeof j->err);
    fc_opus_close(o);
}

static uint64_t audio_delay_ms(const fc_webrtc_avatar *r)
{
    uint64_t due = r->t0_ns + r->next_packet * PACKET_NS, now = fc_now_ns();
    return due > now ? (due - now + 999999) / 1000000 : 0;
}

/* Packet k leaves at t0 + k * 20 ms: the audio clock the frames are on. */
static void on_audio_tick(uv_timer_t *t)
{
    fc_webrtc_avatar *r = t->data;
    const opus_job *j = r->opus;
    uint64_t now = fc_now_ns();
    while (r->next_packet < j->n && r->t0_ns + r->next_packet * PACKET_NS <= now) {
        size_t k = r->next_packet++;
        uint64_t due = r->t0_ns + k * PACKET_NS;
        if (now - due > (uint64_t)AUDIO_LATE_MS * 1000000) {
            r->audio_late++;
            continue;
        }
        size_t start = k ? j->ends[k - 1] : 0;
        char err[200];
        int rc = r->out ? fc_rtp_out_send_audio(r->out, j->bytes + start, j->ends[k] - start,
                                                r->t0_wall + (double)k * 0.020, err, sizeof err)
                        : -ENOTCONN;
        if (rc == 0)
            r->audio_sent++;
        else if (rc != -ENOTCONN)
            send_failed(r, err);
    }
    if (r->next_packet < j->n) uv_timer_start(&r->audio, on_audio_tick, audio_delay_ms(r), 0);
}

static void opus_done(fc_job *job)
{
    opus_job *j = fc_container_of(job, opus_job, job);
    fc_webrtc_avatar *r = j->r;
    free(j->block);
    j->block = NULL;
    if (r->freed || j->rc != 0) {
        if (!r->freed) fc_warn("avatar %s: WebRTC audio: %s", r->client_id, j->err);
        free(j->bytes);
        free(j->ends);
        free(j);
    } else {
        r->opus = j;
        fc_info("avatar %s: WebRTC audio: %zu Opus packets at %d Hz%s", r->client_id, j->n, j->rate,
                j->resampled ? " (resampled to 48 kHz)" : "");
        on_audio_tick(&r->audio);
    }
    unref(r);
}

void fc_webrtc_avatar_audio(fc_webrtc_avatar *r, fc_avatar_audio *a)
{
    /* The session starts its clock right after handing the audio over. */
    if (r->t0_ns == 0) {
        r->t0_ns = fc_now_ns();
        r->t0_wall = fc_wall_seconds();
    }
    opus_job *j = calloc(1, sizeof *j);
    if (!j || r->opus) {
        if (j) fc_warn("avatar %s: WebRTC audio: a second audio block ignored", r->client_id);
        free(j);
        free(a->block);
        return;
    }
    *j = (opus_job){.r = r,
                    .block = a->block,
                    .len = a->len,
                    .rate = a->sample_rate,
                    .channels = a->channels,
                    .job = {.work = opus_work,
                            .done = opus_done,
                            .loop = fc_webrtc_loop(r->w),
                            .role = FC_ROLE_ENCODE,
                            .cls = FC_JOB_SETUP}};
    a->block = NULL;
    r->refs++;
    int rc = fc_pool_submit(r->pool, &j->job);
    if (rc != 0) {
        fc_warn("avatar %s: WebRTC audio: the pool refused its Opus encode (%s)", r->client_id,
                strerror(-rc));
        free(j->block);
        free(j);
        r->refs--;
    }
}

/* ---- the mountpoint ---- */

static void on_key_frame(void *arg)
{
    fc_webrtc_avatar *r = arg;
    if (r->av) fc_avatar_want_key(r->av);
}

static void on_ready(fc_janus_mountpoint *mp, const fc_janus_ports *p, void *arg)
{
    (void)mp;
    fc_webrtc_avatar *r = arg;
    char err[256];
    if (!r->out) {
        fc_rtp_out_config oc = {.host = p->host,
                                .video = FC_RTP_VP8,
                                .audio = true,
                                .video_pt = FC_JANUS_VIDEO_PT,
                                .audio_pt = FC_JANUS_AUDIO_PT,
                                .key_frame = on_key_frame,
                                .arg = r};
        if (fc_rtp_out_open(&fc_webrtc_loop(r->w)->uv, &oc, &r->out, err, sizeof err) != 0)
            goto fail;
    }
    if (fc_rtp_out_target(r->out, p->video, p->video_rtcp, p->audio, err, sizeof err) != 0)
        goto fail;
    if (!r->announced) {
        r->announced = true;
        uv_timer_stop(&r->ready_deadline);
        r->ev.ready(r->ctx, p->id);
    }
    return;
fail:
    if (!r->announced) {
        r->announced = true;
        uv_timer_stop(&r->ready_deadline);
        r->ev.failed(r->ctx, err);
    } else {
        fc_warn("avatar %s: WebRTC: %s", r->client_id, err);
    }
}

static void on_lost(fc_janus_mountpoint *mp, const char *why, void *arg)
{
    (void)mp;
    (void)why;
    fc_webrtc_avatar *r = arg;
    if (r->out) fc_rtp_out_untarget(r->out);
}

static void on_failed(fc_janus_mountpoint *mp, const char *why, void *arg)
{
    (void)mp;
    fc_webrtc_avatar *r = arg;
    if (r->out) fc_rtp_out_untarget(r->out);
    if (r->announced) return;
    r->announced = true;
    uv_timer_stop(&r->ready_deadline);
    r->ev.failed(r->ctx, why);
}

static void on_ready_deadline(uv_timer_t *t)
{
    fc_webrtc_avatar *r = t->data;
    if (r->announced) return;
    r->announced = true;
    const char *why = NULL;
    fc_janus_status(fc_webrtc_janus(r->w), &why);
    char msg[400];
    snprintf(msg, sizeof msg, "Janus did not create the mountpoint within %d s (%s)",
             READY_TIMEOUT_MS / 1000, why && why[0] ? why : "no answer");
    r->ev.failed(r->ctx, msg);
}

int fc_webrtc_avatar_new(fc_webrtc *w, fc_pool *pool, const char *client_id,
                         const fc_webrtc_avatar_events *ev, void *ctx, fc_webrtc_avatar **out,
                         char *err, size_t errlen)
{
    const char *why = NULL;
    if (fc_janus_status(fc_webrtc_janus(w), &why) == FC_JANUS_UNREACHABLE) {
        snprintf(err, errlen, "WebRTC unavailable: %s", why ? why : "Janus unreachable");
        return -EHOSTUNREACH;
    }
    fc_webrtc_avatar *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *r = (fc_webrtc_avatar){.w = w, .pool = pool, .ev = *ev, .ctx = ctx, .refs = 1};
    snprintf(r->client_id, sizeof r->client_id, "%s", client_id);
    char desc[96];
    snprintf(desc, sizeof desc, "framecast avatar %s", client_id);
    fc_janus_mp_config mc = {.description = desc, .video = FC_RTP_VP8, .audio = true};
    fc_janus_mp_events mev = {.ready = on_ready, .lost = on_lost, .failed = on_failed, .arg = r};
    int rc = fc_janus_mountpoint_new(fc_webrtc_janus(w), &mc, &mev, &r->mp, err, errlen);
    if (rc != 0) {
        free(r);
        return rc;
    }
    uv_loop_t *uv = &fc_webrtc_loop(w)->uv;
    uv_timer_init(uv, &r->drain);
    uv_timer_init(uv, &r->audio);
    uv_timer_init(uv, &r->ready_deadline);
    r->drain.data = r->audio.data = r->ready_deadline.data = r;
    r->refs += 3;
    uv_timer_start(&r->ready_deadline, on_ready_deadline, READY_TIMEOUT_MS, 0);
    *out = r;
    return 0;
}

static void teardown(fc_webrtc_avatar *r)
{
    fc_janus_mountpoint_free(r->mp);
    fc_rtp_out_close(r->out);
    r->out = NULL;
    if (r->frames_sent || r->audio_sent)
        fc_info("avatar %s: WebRTC: %llu frames, %llu Opus packets sent (%llu late, skipped)",
                r->client_id, (unsigned long long)r->frames_sent, (unsigned long long)r->audio_sent,
                (unsigned long long)r->audio_late);
    uv_close((uv_handle_t *)&r->drain, handle_closed);
    uv_close((uv_handle_t *)&r->audio, handle_closed);
    uv_close((uv_handle_t *)&r->ready_deadline, handle_closed);
    unref(r);
}

void fc_webrtc_avatar_free(fc_webrtc_avatar *r)
{
    if (!r || r->freed) return;
    r->freed = true;
    r->av = NULL;
    if (!r->draining) teardown(r);
}
