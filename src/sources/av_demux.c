#include "sources/av_demux.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libavcodec/avcodec.h>

#include "core/clock.h"
#include "sources/backoff.h"
#include "sources/pktq.h"

#define HANDOFF_PACKETS 64
#define HANDOFF_BYTES (32u << 20)
/* A file more than this late (paused, or starved of CPU) is re-anchored to
 * now instead of catching up in a burst. */
#define LATE_NS 1000000000ll
/* A timestamp step beyond this is a discontinuity in the file, not a wait. */
#define MAX_STEP_S 5.0

struct fc_demux {
    fc_demux_cfg cfg;
    char target[FC_SPEC_PATH_MAX];
    char input_format[16];
    fc_loop *loop;
    uv_async_t async;
    fc_demux_notify_fn notify;
    void *ctx;
    void (*closed)(void *ctx);
    void *closed_ctx;
    pthread_t thread;
    bool joined;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    /* Under mu. */
    fc_pktq handoff;
    bool wanted, stop, exited;
    fc_source_status st;
    bool st_changed;
    atomic_bool abort; /* stop, for the watchdog of a blocked FFmpeg call */

    /* Demux thread only. */
    fc_backoff backoff;
    double last_capture;
    int64_t anchor_ns;           /* monotonic time of media time 0 (paced files); 0 = none */
    double seg_base, last_media; /* media time (s) of the segment's start, of the last packet */
    double frame_dur;            /* of the last packet */
    int64_t seg_ts0;             /* first timestamp of the segment; AV_NOPTS_VALUE = none yet */
    uint64_t packets_since_rewind;
    uint64_t corrupt_before; /* corrupt packets of the inputs closed before */
};

/* --- state, under mu ---------------------------------------------------- */

static void wake_loop(fc_demux *d)
{
    uv_async_send(&d->async);
}

static void set_state(fc_demux *d, fc_source_state s, const char *error)
{
    if (error) snprintf(d->st.error, sizeof d->st.error, "%s", error);
    if (d->st.state == s && !error) return;
    d->st.state = s;
    d->st.since_ns = fc_now_ns();
    d->st_changed = true;
    wake_loop(d);
}

static struct timespec abs_mono(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
                             .tv_nsec = (long)(ns % 1000000000ull)};
}

/* Waits until `until_ns` (0 = no deadline) or until stop, or until `wanted`
 * differs from `while_wanted`. Returns true if the deadline passed. */
static bool wait_locked(fc_demux *d, uint64_t until_ns, bool while_wanted)
{
    while (!d->stop && d->wanted == while_wanted) {
        if (until_ns == 0) {
            pthread_cond_wait(&d->cv, &d->mu);
        } else {
            if (fc_now_ns() >= until_ns) return true;
            struct timespec ts = abs_mono(until_ns);
            pthread_cond_timedwait(&d->cv, &d->mu, &ts);
        }
    }
    return false;
}

/* Errors that a retry will not fix, per kind of input. */
static bool permanent(const fc_demux *d, int rc)
{
    switch (d->cfg.input.kind) {
    case FC_INPUT_FILE:
        return true;
    case FC_INPUT_RTSP:
        return rc == -ENOENT || rc == -EACCES || rc == -ENOTSUP;
    case FC_INPUT_V4L2:
        /* A device that is gone may be plugged in again. */
        return rc == -EACCES || rc == -ENOTSUP;
    }
    return true;
}

/* Under mu: RETRYING with the reason, then the backoff. */
static void retry_wait(fc_demux *d, const char *error)
{
    set_state(d, FC_SOURCE_RETRYING, error);
    double delay = fc_backoff_next(&d->backoff, fc_now_ns());
    if (wait_locked(d, fc_now_ns() + (uint64_t)(delay * 1e9), true)) d->st.reconnects++;
}

/* --- handing packets to the loop ---------------------------------------- */

static void hand_off(fc_demux *d, fc_packet *p)
{
    if (!p) return; /* out of memory: the packet is lost like a dropped one */
    pthread_mutex_lock(&d->mu);
    uint64_t before = d->handoff.dropped;
    fc_pktq_push(&d->handoff, p);
    d->st.handoff_dropped += d->handoff.dropped - before;
    pthread_mutex_unlock(&d->mu);
    wake_loop(d);
}

/* --- time --------------------------------------------------------------- */

static void segment_start(fc_demux *d)
{
    d->seg_base = d->packets_since_rewind || d->last_media > 0 ? d->last_media + d->frame_dur : 0;
    d->seg_ts0 = AV_NOPTS_VALUE;
    d->packets_since_rewind = 0;
}

/* Media time of a packet: continuous across rewinds and discontinuities. */
static double media_time(fc_demux *d, const AVPacket *p, AVRational tb, double fps)
{
    int64_t ts = p->dts != AV_NOPTS_VALUE ? p->dts : p->pts;
    double nominal = fps > 0 ? 1.0 / fps : 1.0 / 30;
    double dur = p->duration > 0 ? p->duration * av_q2d(tb) : nominal;
    double m;
    if (ts == AV_NOPTS_VALUE) {
        m = d->packets_since_rewind ? d->last_media + d->frame_dur : d->seg_base;
    } else if (d->seg_ts0 == AV_NOPTS_VALUE) {
        d->seg_ts0 = ts;
        m = d->seg_base;
    } else {
        m = d->seg_base + (double)(ts - d->seg_ts0) * av_q2d(tb);
        if (m < d->last_media - 0.5 || m > d->last_media + MAX_STEP_S) {
            d->seg_base = d->last_media + d->frame_dur;
            d->seg_ts0 = ts;
            m = d->seg_base;
        }
    }
    d->last_media = m;
    d->frame_dur = dur;
    d->packets_since_rewind++;
    return m;
}

/* Paced files: waits until the packet is due. False if stop or "nothing
 * wanted" came first. */
static bool pace(fc_demux *d, double media)
{
    int64_t now = (int64_t)fc_now_ns();
    int64_t due = d->anchor_ns + (int64_t)(media * 1e9);
    if (d->anchor_ns == 0 || now > due + LATE_NS) {
        d->anchor_ns = now - (int64_t)(media * 1e9);
        return true;
    }
    pthread_mutex_lock(&d->mu);
    wait_locked(d, (uint64_t)due, true);
    bool go = !d->stop && d->wanted;
    pthread_mutex_unlock(&d->mu);
    return go;
}

static double capture_time(fc_demux *d, const AVPacket *p, AVRational tb)
{
    double t = fc_wall_seconds();
    /* A file's B-frames: present at their presentation time, not their
     * decode time. */
    if (d->cfg.paced && p->pts != AV_NOPTS_VALUE && p->dts != AV_NOPTS_VALUE && p->pts > p->dts)
        t += (double)(p->pts - p->dts) * av_q2d(tb);
    if (t <= d->last_capture) t = d->last_capture + 1e-6;
    d->last_capture = t;
    return t;
}

/* --- one open input ----------------------------------------------------- */

/* How a session ended; CONTINUE: it did not (a file rewound). */
typedef enum {
    SESSION_CONTINUE,
    SESSION_STOP,
    SESSION_IDLE,
    SESSION_RETRY,
    SESSION_DONE
} session_end;

/* Under mu on return, but for CONTINUE. */
static session_end end_of_input(fc_demux *d, fc_av_input *in, int rc, const char *error)
{
    if (d->cfg.input.kind != FC_INPUT_FILE) {
        pthread_mutex_lock(&d->mu);
        retry_wait(d, error);
        return SESSION_RETRY;
    }
    if (rc == -ENODATA && d->cfg.loop && d->packets_since_rewind > 0) {
        char err[256];
        if (fc_av_input_rewind(in, err, sizeof err) == 0) {
            hand_off(d, fc_packet_new_drain());
            segment_start(d);
            return SESSION_CONTINUE;
        }
    }
    pthread_mutex_lock(&d->mu);
    if (d->packets_since_rewind == 0 && d->st.packets == 0)
        set_state(d, FC_SOURCE_FAILED, rc == -ENODATA ? "read: no video packets" : error);
    else
        set_state(d, FC_SOURCE_ENDED, rc == -ENODATA ? NULL : error);
    return SESSION_DONE;
}

static session_end run_session(fc_demux *d, fc_av_input *in)
{
    int tb_num, tb_den;
    fc_av_input_time_base(in, &tb_num, &tb_den);
    AVRational tb = {tb_num, tb_den};
    double fps = fc_av_input_fps(in);
    hand_off(d, fc_packet_new_segment(fc_av_input_params(in), tb_num, tb_den, fps));
    segment_start(d);
    d->anchor_ns = 0;
    bool live = false;
    uint64_t unwanted_since = 0;
    char err[256];
    for (;;) {
        pthread_mutex_lock(&d->mu);
        if (d->stop) return SESSION_STOP;
        if (!d->wanted) {
            if (d->cfg.paced) {
                set_state(d, FC_SOURCE_IDLE, NULL);
                wait_locked(d, 0, false);
                if (d->stop) return SESSION_STOP;
                set_state(d, FC_SOURCE_LIVE, NULL);
                d->anchor_ns = 0; /* resume at once, no catching up */
            } else {
                uint64_t now = fc_now_ns();
                if (!unwanted_since) unwanted_since = now;
                if (now - unwanted_since >= (uint64_t)(d->cfg.idle_close * 1e9))
                    return SESSION_IDLE;
            }
        } else {
            unwanted_since = 0;
        }
        pthread_mutex_unlock(&d->mu);

        AVPacket *p;
        int rc = fc_av_input_read(in, &p, err, sizeof err);
        if (rc == -ECANCELED) {
            pthread_mutex_lock(&d->mu);
            return SESSION_STOP;
        }
        if (rc < 0) {
            hand_off(d, fc_packet_new_drain());
            session_end e = end_of_input(d, in, rc, err);
            if (e != SESSION_CONTINUE) return e;
            continue;
        }
        double media = media_time(d, p, tb, fps);
        if (d->cfg.paced && !pace(d, media)) {
            av_packet_free(&p);
            continue;
        }
        if (!live) {
            live = true;
            fc_backoff_live(&d->backoff, fc_now_ns());
            pthread_mutex_lock(&d->mu);
            set_state(d, FC_SOURCE_LIVE, NULL);
            pthread_mutex_unlock(&d->mu);
        }
        pthread_mutex_lock(&d->mu);
        d->st.packets++;
        d->st.bytes += (uint64_t)p->size;
        d->st.decode_errors = d->corrupt_before + fc_av_input_corrupt(in);
        bool wanted = d->wanted;
        pthread_mutex_unlock(&d->mu);
        if (wanted)
            hand_off(d, fc_packet_new_data(p, capture_time(d, p, tb)));
        else
            av_packet_free(&p);
    }
}

static void *demux_main(void *arg)
{
    fc_demux *d = arg;
    char err[256];
    pthread_mutex_lock(&d->mu);
    bool terminal = false;
    while (!d->stop) {
        if (terminal) {
            wait_locked(d, 0, d->wanted); /* until stop */
            continue;
        }
        /* A file is opened at once, wanted or not, and then waits paused in
         * place: opening one costs a descriptor and no network, and a
         * missing or broken file says so before anybody asks for it. A
         * camera or device is connected only while wanted. */
        if (!d->wanted && !d->cfg.paced) {
            set_state(d, FC_SOURCE_IDLE, NULL);
            wait_locked(d, 0, false);
            continue;
        }
        set_state(d, FC_SOURCE_CONNECTING, NULL);
        pthread_mutex_unlock(&d->mu);
        fc_av_input *in = NULL;
        int rc = fc_av_input_open(&d->cfg.input, &d->abort, &in, err, sizeof err);
        if (rc < 0) {
            pthread_mutex_lock(&d->mu);
            if (rc == -ECANCELED) continue;
            if (permanent(d, rc)) {
                set_state(d, FC_SOURCE_FAILED, err);
                terminal = true;
            } else {
                retry_wait(d, err);
            }
            continue;
        }
        session_end e = run_session(d, in); /* returns with mu held */
        d->corrupt_before += fc_av_input_corrupt(in);
        d->st.decode_errors = d->corrupt_before;
        pthread_mutex_unlock(&d->mu);
        fc_av_input_close(in);
        pthread_mutex_lock(&d->mu);
        if (e == SESSION_DONE)
            terminal = true;
        else if (e == SESSION_IDLE)
            set_state(d, FC_SOURCE_IDLE, NULL);
    }
    d->exited = true;
    pthread_mutex_unlock(&d->mu);
    wake_loop(d);
    return NULL;
}

/* --- loop side ---------------------------------------------------------- */

static void free_demux(fc_demux *d)
{
    fc_pktq_free(&d->handoff);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static void on_closed(uv_handle_t *h)
{
    fc_demux *d = h->data;
    void (*closed)(void *) = d->closed;
    void *ctx = d->closed_ctx;
    free_demux(d);
    if (closed) closed(ctx);
}

static void on_async(uv_async_t *h)
{
    fc_demux *d = h->data;
    d->notify(d->ctx);
}

int fc_demux_start(fc_loop *loop, const fc_demux_cfg *cfg, fc_demux_notify_fn notify, void *ctx,
                   fc_demux **out, char *err, size_t errlen)
{
    fc_demux *d = calloc(1, sizeof *d);
    if (!d || fc_pktq_init(&d->handoff, HANDOFF_PACKETS, HANDOFF_BYTES) != 0) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->cfg = *cfg;
    snprintf(d->target, sizeof d->target, "%s", cfg->input.target);
    d->cfg.input.target = d->target;
    if (cfg->input.input_format) {
        snprintf(d->input_format, sizeof d->input_format, "%s", cfg->input.input_format);
        d->cfg.input.input_format = d->input_format;
    }
    d->loop = loop;
    d->notify = notify;
    d->ctx = ctx;
    d->st.state = FC_SOURCE_IDLE;
    d->st.since_ns = fc_now_ns();
    atomic_init(&d->abort, false);
    fc_backoff_init(&d->backoff, fc_now_ns() ^ (uint64_t)(uintptr_t)d);
    pthread_mutex_init(&d->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    int rc = uv_async_init(&loop->uv, &d->async, on_async);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the demux: %s", uv_strerror(rc));
        free_demux(d);
        return rc;
    }
    d->async.data = d;
    rc = pthread_create(&d->thread, NULL, demux_main, d);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the demux thread: %s", strerror(rc));
        d->joined = true;
        uv_close((uv_handle_t *)&d->async, on_closed); /* frees d on the next loop turn */
        return -rc;
    }
    pthread_setname_np(d->thread, "fc-demux");
    *out = d;
    return 0;
}

void fc_demux_set_wanted(fc_demux *d, bool wanted)
{
    pthread_mutex_lock(&d->mu);
    if (d->wanted != wanted) {
        d->wanted = wanted;
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
}

int fc_demux_take(fc_demux *d, fc_packet **out, int max)
{
    int n = 0;
    pthread_mutex_lock(&d->mu);
    while (n < max && (out[n] = fc_pktq_pop(&d->handoff)))
        n++;
    pthread_mutex_unlock(&d->mu);
    return n;
}

void fc_demux_status(fc_demux *d, fc_source_status *st)
{
    pthread_mutex_lock(&d->mu);
    *st = d->st;
    pthread_mutex_unlock(&d->mu);
}

bool fc_demux_state_changed(fc_demux *d, fc_source_status *st)
{
    pthread_mutex_lock(&d->mu);
    *st = d->st;
    bool changed = d->st_changed;
    d->st_changed = false;
    pthread_mutex_unlock(&d->mu);
    return changed;
}

void fc_demux_stop(fc_demux *d)
{
    pthread_mutex_lock(&d->mu);
    d->stop = true;
    atomic_store(&d->abort, true);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

bool fc_demux_exited(fc_demux *d)
{
    pthread_mutex_lock(&d->mu);
    bool e = d->exited;
    pthread_mutex_unlock(&d->mu);
    return e;
}

void fc_demux_close(fc_demux *d, void (*closed)(void *ctx), void *ctx)
{
    if (!d->joined) {
        pthread_join(d->thread, NULL);
        d->joined = true;
    }
    d->closed = closed;
    d->closed_ctx = ctx;
    uv_close((uv_handle_t *)&d->async, on_closed);
}
