/* webrtc_send: a test sender for the WebRTC path of part 1 of issue 15. It
 * does what `framecast serve` will do per stream, with pre-encoded frames:
 * creates a Streaming mountpoint through fc_janus, sends VP8 frames from an
 * IVF file (or H.264 access units from an Annex-B file) at their rate and
 * Opus-encoded speech through fc_rtp_out, turns PLI/FIR into a jump to the
 * next key frame of the file, and follows Janus going away and coming back.
 *
 *   webrtc_send --janus URL --admin-key K [--id N] (--ivf F | --h264 F)
 *               [--fps 30] [--wav F [--audio-rate 16000]] [--frames-log]
 *               [--timeout MS] [--free-on-lost]
 *
 * It tells the test what happens as JSON lines on stdout:
 *   {"event":"janus","state":"ready|connecting|unreachable","why":"..."}
 *   {"event":"ready","id":N,"host":"...","video":P,"rtcp":P,"audio":P}
 *   {"event":"lost","why":"..."}   {"event":"failed","why":"..."}
 *   {"event":"keyframe","pli":N,"fir":N}   {"event":"remb","bps":N}
 *   {"event":"frame","n":I,"t":CAPTURE}    (--frames-log: file frame I sent,
 *                                           captured at Unix time CAPTURE)
 *   {"event":"audio","rate":R,"packets":N,"resampled":false}  once, with --wav
 *   {"event":"stats",...,"janus":"STATE"}   on SIGUSR1 and at the end
 * --timeout: fc_janus's request deadline. --free-on-lost: free the
 * mountpoint from its lost callback (and print {"event":"freed"}), as a
 * stream that ends while Janus is away would.
 * SIGTERM or SIGINT: destroys the mountpoint, exits 0. */
#include <errno.h>
#include <inttypes.h>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libwebsockets.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "avatar/audio.h"
#include "core/clock.h"
#include "core/frame.h"
#include "core/log.h"
#include "encode/opus.h"
#include "transport/janus.h"
#include "transport/rtp_out.h"

#define MAX_FILE_FRAMES 100000
#define MAX_FILE_BYTES (256u << 20)

typedef struct packet {
    uint8_t *data;
    size_t len;
    bool key;
} packet;

typedef struct packets {
    packet *p;
    size_t n, cap, bytes;
} packets;

typedef struct sender {
    uv_loop_t *loop;
    fc_janus *janus;
    fc_janus_mountpoint *mp;
    fc_rtp_out *out;
    fc_rtp_codec codec;
    packets video, audio;
    double fps;
    bool frames_log, free_on_lost;
    size_t next_video, next_audio;
    uint64_t video_ticks, audio_ticks; /* frames and packets paced so far */
    uint64_t t0_ns;
    double audio_t0;
    bool want_key;
    uint64_t pli_seen, fir_seen;
    uv_timer_t video_timer, audio_timer;
    uv_signal_t sigterm, sigint, sigusr1;
    bool stopping;
} sender;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* A JSON string's inside: the texts we print are our own and Janus's. */
static const char *jsafe(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 2 < cap; s++)
        buf[n++] = (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) ? '\'' : *s;
    buf[n] = '\0';
    return buf;
}

static int push(packets *ps, const uint8_t *data, size_t len, bool key)
{
    if (ps->n >= MAX_FILE_FRAMES || ps->bytes + len > MAX_FILE_BYTES) return -EFBIG;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 256;
        packet *p = realloc(ps->p, cap * sizeof *p);
        if (!p) return -ENOMEM;
        ps->p = p;
        ps->cap = cap;
    }
    uint8_t *copy = malloc(len);
    if (!copy) return -ENOMEM;
    memcpy(copy, data, len);
    ps->p[ps->n++] = (packet){copy, len, key};
    ps->bytes += len;
    return 0;
}

/* Every frame of an IVF (VP8) or raw H.264 file, read with libavformat. */
static int load_video(const char *path, const char *format, packets *out)
{
    AVFormatContext *fmt = NULL;
    const AVInputFormat *in = av_find_input_format(format);
    int rc = avformat_open_input(&fmt, path, in, NULL);
    if (rc < 0) {
        fprintf(stderr, "webrtc_send: cannot open %s: %s\n", path, av_err2str(rc));
        return -1;
    }
    AVPacket *pkt = av_packet_alloc();
    while ((rc = av_read_frame(fmt, pkt)) >= 0) {
        rc = push(out, pkt->data, (size_t)pkt->size, pkt->flags & AV_PKT_FLAG_KEY);
        av_packet_unref(pkt);
        if (rc != 0) {
            fprintf(stderr, "webrtc_send: %s: too large (%s)\n", path, strerror(-rc));
            break;
        }
    }
    av_packet_free(&pkt);
    avformat_close_input(&fmt);
    if (out->n == 0 || !out->p[0].key) {
        fprintf(stderr, "webrtc_send: %s holds no frames, or does not start with a key frame\n",
                path);
        return -1;
    }
    return rc == AVERROR_EOF || rc == 0 ? 0 : -1;
}

static int keep_opus(const uint8_t *pkt, size_t len, uint64_t ticks, void *arg)
{
    (void)ticks; /* packets are 20 ms apart from the first */
    return push(arg, pkt, len, false);
}

static int load_audio(const char *path, int rate, packets *out)
{
    fc_audio a;
    char err[256];
    fc_opus *o = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "webrtc_send: %s: %s\n", path, strerror(errno));
        return -1;
    }
    int lrc = fc_audio_load_fd(fd, rate, 1, &a, err, sizeof err);
    close(fd);
    if (lrc != 0) {
        fprintf(stderr, "webrtc_send: %s\n", err);
        return -1;
    }
    int rc = fc_opus_open(rate, 1, 32000, &o, err, sizeof err);
    if (rc == 0) rc = fc_opus_encode(o, a.samples, a.frames, keep_opus, out, err, sizeof err);
    if (rc == 0) rc = fc_opus_flush(o, keep_opus, out, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "webrtc_send: %s: %s\n", path, err);
    else
        emit("{\"event\":\"audio\",\"rate\":%d,\"packets\":%zu,\"resampled\":%s}", rate, out->n,
             fc_opus_resamples(o) ? "true" : "false");
    fc_opus_close(o);
    fc_audio_free(&a);
    return rc;
}

static void print_stats(sender *s)
{
    if (!s->out) return;
    const fc_rtp_out_stats *st = fc_rtp_out_get_stats(s->out);
    fc_janus_state js = fc_janus_status(s->janus, NULL);
    emit("{\"event\":\"stats\",\"video_frames\":%" PRIu64 ",\"video_packets\":%" PRIu64
         ",\"audio_packets\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"dropped\":%" PRIu64
         ",\"sender_reports\":%" PRIu64 ",\"pli\":%" PRIu64 ",\"fir\":%" PRIu64 ",\"remb\":%" PRIu64
         ",\"rtcp_bad\":%" PRIu64 ",\"video_ssrc\":%" PRIu32 ",\"janus\":\"%s\"}",
         st->video_frames, st->video_packets, st->audio_packets, st->bytes, st->dropped,
         st->sender_reports, st->pli, st->fir, st->remb, st->rtcp_bad, st->video_ssrc,
         fc_janus_state_name(js));
}

/* Absolute deadlines: the k-th tick is due at t0 + k * period. */
static uint64_t delay_ms(uint64_t t0, uint64_t k, double period_s)
{
    uint64_t due = t0 + (uint64_t)llround((double)k * period_s * 1e9), now = fc_now_ns();
    return due > now ? (due - now + 999999) / 1000000 : 0;
}

static void on_video_tick(uv_timer_t *t)
{
    sender *s = t->data;
    if (s->want_key) {
        /* A key frame was asked for: skip the rest of this group of
         * pictures, as an encoder forcing one would. */
        s->want_key = false;
        size_t i = s->next_video;
        while (!s->video.p[i].key)
            i = (i + 1) % s->video.n;
        s->next_video = i;
    }
    const packet *p = &s->video.p[s->next_video];
    fc_frame *f = fc_frame_new_encoded(p->len);
    if (f) {
        memcpy(f->payload, p->data, p->len);
        f->payload_len = p->len;
        f->key = p->key;
        f->id = (uint32_t)s->next_video;
        f->timestamp = fc_wall_seconds();
        char err[200];
        int rc = s->out ? fc_rtp_out_send_video(s->out, f, err, sizeof err) : -ENOTCONN;
        if (rc == 0 && s->frames_log)
            emit("{\"event\":\"frame\",\"n\":%zu,\"t\":%.6f}", s->next_video, f->timestamp);
        else if (rc != 0 && rc != -ENOTCONN)
            fprintf(stderr, "webrtc_send: frame %zu: %s\n", s->next_video, err);
        fc_frame_unref(f);
    }
    s->next_video = (s->next_video + 1) % s->video.n;
    s->video_ticks++;
    uv_timer_start(t, on_video_tick, delay_ms(s->t0_ns, s->video_ticks, 1 / s->fps), 0);
}

static void on_audio_tick(uv_timer_t *t)
{
    sender *s = t->data;
    const packet *p = &s->audio.p[s->next_audio];
    /* The audio clock: packet k was captured 20 ms after packet k-1. */
    double capture = s->audio_t0 + (double)s->audio_ticks * 0.020;
    char err[200];
    int rc = s->out ? fc_rtp_out_send_audio(s->out, p->data, p->len, capture, err, sizeof err)
                    : -ENOTCONN;
    if (rc != 0 && rc != -ENOTCONN) fprintf(stderr, "webrtc_send: audio: %s\n", err);
    s->next_audio = (s->next_audio + 1) % s->audio.n;
    s->audio_ticks++;
    uv_timer_start(t, on_audio_tick, delay_ms(s->t0_ns, s->audio_ticks, 0.020), 0);
}

static void start_pacing(sender *s)
{
    if (uv_is_active((uv_handle_t *)&s->video_timer)) return;
    s->t0_ns = fc_now_ns();
    s->audio_t0 = fc_wall_seconds();
    uv_timer_start(&s->video_timer, on_video_tick, 0, 0);
    if (s->audio.n) uv_timer_start(&s->audio_timer, on_audio_tick, 0, 0);
}

static void on_key_frame(void *arg)
{
    sender *s = arg;
    s->want_key = true;
    const fc_rtp_out_stats *st = fc_rtp_out_get_stats(s->out);
    if (st->pli != s->pli_seen || st->fir != s->fir_seen) {
        s->pli_seen = st->pli;
        s->fir_seen = st->fir;
        emit("{\"event\":\"keyframe\",\"pli\":%" PRIu64 ",\"fir\":%" PRIu64 "}", st->pli, st->fir);
    }
}

static void on_bitrate(uint64_t bps, void *arg)
{
    (void)arg;
    emit("{\"event\":\"remb\",\"bps\":%" PRIu64 "}", bps);
}

static int open_out(sender *s, const char *host, char *err, size_t errlen)
{
    fc_rtp_out_config cfg = {.host = host,
                             .video = s->codec,
                             .audio = s->audio.n > 0,
                             .video_pt = FC_JANUS_VIDEO_PT,
                             .audio_pt = FC_JANUS_AUDIO_PT,
                             .key_frame = on_key_frame,
                             .bitrate = on_bitrate,
                             .arg = s};
    return fc_rtp_out_open(s->loop, &cfg, &s->out, err, errlen);
}

static void on_ready(fc_janus_mountpoint *mp, const fc_janus_ports *p, void *arg)
{
    (void)mp;
    sender *s = arg;
    char err[200];
    if (!s->out && open_out(s, p->host, err, sizeof err) != 0) {
        fprintf(stderr, "webrtc_send: %s\n", err);
        return;
    }
    if (fc_rtp_out_target(s->out, p->video, p->video_rtcp, p->audio, err, sizeof err) != 0) {
        fprintf(stderr, "webrtc_send: %s\n", err);
        return;
    }
    /* A new mountpoint's first viewer needs a key frame first. */
    s->want_key = true;
    emit("{\"event\":\"ready\",\"id\":%" PRIu64 ",\"host\":\"%s\",\"video\":%d,\"rtcp\":%d,"
         "\"audio\":%d}",
         p->id, p->host, p->video, p->video_rtcp, p->audio);
    start_pacing(s);
}

static void on_lost(fc_janus_mountpoint *mp, const char *why, void *arg)
{
    sender *s = arg;
    char buf[400];
    if (s->out) fc_rtp_out_untarget(s->out);
    emit("{\"event\":\"lost\",\"why\":\"%s\"}", jsafe(why, buf, sizeof buf));
    if (s->free_on_lost && s->mp == mp) {
        fc_janus_mountpoint_free(mp);
        s->mp = NULL;
        emit("{\"event\":\"freed\"}");
    }
}

static void on_failed(fc_janus_mountpoint *mp, const char *why, void *arg)
{
    (void)mp;
    (void)arg;
    char buf[400];
    emit("{\"event\":\"failed\",\"why\":\"%s\"}", jsafe(why, buf, sizeof buf));
}

static void on_state(fc_janus_state st, const char *why, void *arg)
{
    (void)arg;
    char buf[400];
    emit("{\"event\":\"janus\",\"state\":\"%s\",\"why\":\"%s\"}", fc_janus_state_name(st),
         jsafe(why, buf, sizeof buf));
}

static void closed(void *arg)
{
    sender *s = arg;
    print_stats(s);
    uv_close((uv_handle_t *)&s->video_timer, NULL);
    uv_close((uv_handle_t *)&s->audio_timer, NULL);
    uv_close((uv_handle_t *)&s->sigterm, NULL);
    uv_close((uv_handle_t *)&s->sigint, NULL);
    uv_close((uv_handle_t *)&s->sigusr1, NULL);
    fc_rtp_out_close(s->out);
    s->out = NULL;
}

static void on_signal(uv_signal_t *h, int signum)
{
    sender *s = h->data;
    if (signum == SIGUSR1) {
        print_stats(s);
        return;
    }
    if (s->stopping) return;
    s->stopping = true;
    uv_timer_stop(&s->video_timer);
    uv_timer_stop(&s->audio_timer);
    fc_janus_close(s->janus, closed, s); /* destroys the mountpoint first */
}

static int usage(const char *why)
{
    fprintf(stderr,
            "webrtc_send: %s\nusage: webrtc_send --janus URL --admin-key K [--id N]\n"
            "       (--ivf FILE | --h264 FILE) [--fps 30] [--wav FILE [--audio-rate 16000]] "
            "[--frames-log]\n       [--timeout MS] [--free-on-lost]\n",
            why);
    return 2;
}

/* Option parsing, loading and set-up in order; long only by its list of
 * options. */
int main(int argc, char **argv)
{
    const char *url = NULL, *key = NULL, *ivf = NULL, *h264 = NULL, *wav = NULL;
    uint64_t id = 0;
    int audio_rate = 16000;
    unsigned timeout_ms = 0;
    sender s = {.fps = 30};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--frames-log") == 0) {
            s.frames_log = true;
            continue;
        }
        if (strcmp(a, "--free-on-lost") == 0) {
            s.free_on_lost = true;
            continue;
        }
        if (!v) return usage("an option needs a value");
        i++;
        if (strcmp(a, "--janus") == 0)
            url = v;
        else if (strcmp(a, "--admin-key") == 0)
            key = v;
        else if (strcmp(a, "--id") == 0)
            id = strtoull(v, NULL, 10);
        else if (strcmp(a, "--ivf") == 0)
            ivf = v;
        else if (strcmp(a, "--h264") == 0)
            h264 = v;
        else if (strcmp(a, "--fps") == 0)
            s.fps = atof(v);
        else if (strcmp(a, "--wav") == 0)
            wav = v;
        else if (strcmp(a, "--audio-rate") == 0)
            audio_rate = atoi(v);
        else if (strcmp(a, "--timeout") == 0)
            timeout_ms = (unsigned)atoi(v);
        else
            return usage("unknown option");
    }
    if (!(ivf || h264) || (ivf && h264) || !url || !key || !(s.fps > 0) || s.fps > 120)
        return usage("give one video file, --janus and --admin-key, and fps 0..120");

    fc_log_set_level(FC_LOG_INFO);
    lws_set_log_level(LLL_ERR, NULL);
    s.codec = ivf ? FC_RTP_VP8 : FC_RTP_H264;
    if (load_video(ivf ? ivf : h264, ivf ? "ivf" : "h264", &s.video) != 0) return 1;
    if (wav && load_audio(wav, audio_rate, &s.audio) != 0) return 1;

    uv_loop_t loop;
    uv_loop_init(&loop);
    s.loop = &loop;
    uv_timer_init(&loop, &s.video_timer);
    uv_timer_init(&loop, &s.audio_timer);
    s.video_timer.data = s.audio_timer.data = &s;
    uv_signal_t *sigs[] = {&s.sigterm, &s.sigint, &s.sigusr1};
    int signums[] = {SIGTERM, SIGINT, SIGUSR1};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(&loop, sigs[i]);
        sigs[i]->data = &s;
        uv_signal_start(sigs[i], on_signal, signums[i]);
    }

    char err[300];
    fc_janus_config jc = {
        .url = url, .admin_key = key, .timeout_ms = timeout_ms, .on_state = on_state, .arg = &s};
    if (fc_janus_open(&loop, &jc, &s.janus, err, sizeof err) != 0) {
        fprintf(stderr, "webrtc_send: %s\n", err);
        return 1;
    }
    fc_janus_mp_config mc = {.id = id,
                             .description = "webrtc_send",
                             .video = s.codec,
                             .video_fmtp = h264 ? "profile-level-id=42e01f;packetization-"
                                                  "mode=1"
                                                : NULL,
                             .audio = s.audio.n > 0};
    fc_janus_mp_events ev = {.ready = on_ready, .lost = on_lost, .failed = on_failed, .arg = &s};
    if (fc_janus_mountpoint_new(s.janus, &mc, &ev, &s.mp, err, sizeof err) != 0) {
        fprintf(stderr, "webrtc_send: %s\n", err);
        return 1;
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    fc_janus_free(s.janus);
    uv_loop_close(&loop);
    for (size_t i = 0; i < s.video.n; i++)
        free(s.video.p[i].data);
    for (size_t i = 0; i < s.audio.n; i++)
        free(s.audio.p[i].data);
    free(s.video.p);
    free(s.audio.p);
    return 0;
}
