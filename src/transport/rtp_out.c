#include "transport/rtp_out.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "transport/rtcp.h"

#define SR_INTERVAL_NS 1000000000ull
#define CNAME "framecast"

struct fc_rtp_out {
    uv_udp_t udp;
    fc_rtp_out_config cfg;
    char host[48];
    struct sockaddr_storage local; /* family of the host */
    struct sockaddr_storage video, rtcp, audio;
    bool has_video, has_rtcp, has_audio;
    fc_rtp_stream vs, as;
    uint64_t last_sr_ns; /* 0: none since the last target */
    fc_rtp_out_stats st;
    fc_ratelimit bad_log;
    uint8_t rx[1500];
    fc_rtp_packet pkts[FC_RTP_OUT_MAX_PACKETS];
};

static int addr_of(const char *host, int port, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof *out);
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0) return 0;
    return uv_ip6_addr(host, port, (struct sockaddr_in6 *)out);
}

static int port_of(const struct sockaddr *a)
{
    if (a->sa_family == AF_INET) return ntohs(((const struct sockaddr_in *)a)->sin_port);
    if (a->sa_family == AF_INET6) return ntohs(((const struct sockaddr_in6 *)a)->sin6_port);
    return -1;
}

static bool same_host(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family) return false;
    if (a->sa_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    fc_rtp_out *o = h->data;
    *buf = uv_buf_init((char *)o->rx, sizeof o->rx);
}

static void on_rtcp(uv_udp_t *h, ssize_t n, const uv_buf_t *buf, const struct sockaddr *from,
                    unsigned flags)
{
    (void)buf;
    fc_rtp_out *o = h->data;
    if (n <= 0 || !from) return; /* nothing more to read, or an error the next send reports */
    char err[160];
    fc_rtcp_feedback fb;
    /* Only Janus's RTCP port speaks to us; a truncated datagram is refused. */
    bool from_janus =
        o->has_rtcp && same_host(from, &o->rtcp) && port_of(from) == port_of((void *)&o->rtcp);
    if (!from_janus || (flags & UV_UDP_PARTIAL)) {
        snprintf(err, sizeof err, "rtcp: a datagram not from Janus's RTCP port");
        o->st.rtcp_bad++;
    } else if (fc_rtcp_parse(o->rx, (size_t)n, o->vs.ssrc, &fb, err, sizeof err) != 0) {
        o->st.rtcp_bad++;
    } else {
        o->st.pli += fb.pli;
        o->st.fir += fb.fir;
        if (fb.remb_bps) {
            o->st.remb++;
            o->st.remb_bps = fb.remb_bps;
            if (o->cfg.bitrate) o->cfg.bitrate(fb.remb_bps, o->cfg.arg);
        }
        if ((fb.pli || fb.fir) && o->cfg.key_frame) o->cfg.key_frame(o->cfg.arg);
        return;
    }
    uint64_t suppressed;
    if (fc_ratelimit_allow(&o->bad_log, fc_now_ns(), &suppressed))
        fc_warn("rtp out: %s (%" PRIu64 " more since the last line)", err, suppressed);
}

static void free_out(uv_handle_t *h)
{
    free(h->data);
}

static uint32_t random32(void)
{
    uint32_t v = 0;
    /* Blocks only until the kernel's pool is initialised, which it is long
     * before a mountpoint exists. */
    uv_random(NULL, NULL, &v, sizeof v, 0, NULL);
    return v;
}

int fc_rtp_out_open(uv_loop_t *loop, const fc_rtp_out_config *cfg, fc_rtp_out **out, char *err,
                    size_t errlen)
{
    if ((!cfg->video && !cfg->audio) || !cfg->host) {
        snprintf(err, errlen, "rtp out: needs a host and video or audio");
        return -EINVAL;
    }
    size_t mtu = cfg->mtu ? cfg->mtu : FC_RTP_DEFAULT_MTU;
    if (mtu < 200 || mtu > 1500) {
        snprintf(err, errlen, "rtp out: an MTU of %zu bytes is outside 200..1500", mtu);
        return -EINVAL;
    }
    fc_rtp_out *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(err, errlen, "rtp out: out of memory");
        return -ENOMEM;
    }
    o->cfg = *cfg;
    o->cfg.mtu = mtu;
    snprintf(o->host, sizeof o->host, "%s", cfg->host);
    o->cfg.host = o->host;
    o->bad_log = (fc_ratelimit)FC_RATELIMIT_INIT(5);
    int rc = addr_of(o->host, 0, &o->local);
    if (rc != 0) {
        snprintf(err, errlen, "rtp out: %s is not an IP address", o->host);
        free(o);
        return -EINVAL;
    }
    if ((cfg->video &&
         fc_rtp_stream_init(&o->vs, cfg->video, cfg->video_pt, random32(), (uint16_t)random32(),
                            (uint16_t)random32(), random32()) != 0) ||
        (cfg->audio && fc_rtp_stream_init(&o->as, FC_RTP_OPUS, cfg->audio_pt, random32(),
                                          (uint16_t)random32(), 0, random32()) != 0)) {
        snprintf(err, errlen, "rtp out: bad codec or payload type");
        free(o);
        return -EINVAL;
    }
    o->st.video_ssrc = o->vs.ssrc;
    o->st.audio_ssrc = o->as.ssrc;
    uv_udp_init(loop, &o->udp);
    o->udp.data = o;
    rc = uv_udp_bind(&o->udp, (const struct sockaddr *)&o->local, 0);
    if (rc == 0) rc = uv_udp_recv_start(&o->udp, on_alloc, on_rtcp);
    if (rc != 0) {
        snprintf(err, errlen, "rtp out: cannot bind a UDP socket on %s: %s", o->host,
                 uv_strerror(rc));
        uv_close((uv_handle_t *)&o->udp, free_out);
        return rc;
    }
    *out = o;
    return 0;
}

int fc_rtp_out_target(fc_rtp_out *o, int video, int video_rtcp, int audio, char *err, size_t errlen)
{
    if ((video && (video > 65535 || video < 0)) || video_rtcp < 0 || video_rtcp > 65535 ||
        audio < 0 || audio > 65535 || (o->cfg.video && !video) || (o->cfg.audio && !audio)) {
        snprintf(err, errlen, "rtp out: ports %d/%d/%d do not fit %s%s", video, video_rtcp, audio,
                 o->cfg.video ? "video" : "", o->cfg.audio ? " audio" : "");
        return -EINVAL;
    }
    o->has_video = video > 0 && addr_of(o->host, video, &o->video) == 0;
    o->has_rtcp = video_rtcp > 0 && addr_of(o->host, video_rtcp, &o->rtcp) == 0;
    o->has_audio = audio > 0 && addr_of(o->host, audio, &o->audio) == 0;
    o->last_sr_ns = 0;
    return 0;
}

void fc_rtp_out_untarget(fc_rtp_out *o)
{
    o->has_video = o->has_rtcp = o->has_audio = false;
}

/* Returns how many of the n packets the kernel took. */
static int send_packets(fc_rtp_out *o, const struct sockaddr_storage *to, int n)
{
    int sent = 0;
    for (int i = 0; i < n; i++) {
        fc_rtp_packet *p = &o->pkts[i];
        uv_buf_t bufs[2] = {uv_buf_init((char *)p->head, p->head_len),
                            uv_buf_init((char *)p->body, (unsigned)p->body_len)};
        int rc = uv_udp_try_send(&o->udp, bufs, 2, (const struct sockaddr *)to);
        if (rc < 0) {
            o->st.dropped++;
            continue;
        }
        o->st.bytes += (uint64_t)rc;
        sent++;
    }
    return sent;
}

static void send_sr(fc_rtp_out *o, double capture, uint32_t ts)
{
    uint8_t sr[FC_RTCP_SR_MAX];
    int n = fc_rtcp_write_sr(sr, sizeof sr, o->vs.ssrc, capture, ts, o->vs.packets, o->vs.octets,
                             CNAME);
    uv_buf_t buf = uv_buf_init((char *)sr, (unsigned)n);
    if (n > 0 && uv_udp_try_send(&o->udp, &buf, 1, (const struct sockaddr *)&o->rtcp) > 0)
        o->st.sender_reports++;
}

int fc_rtp_out_send_video(fc_rtp_out *o, const fc_frame *f, char *err, size_t errlen)
{
    return fc_rtp_out_send_video_at(o, f, f->timestamp, err, errlen);
}

int fc_rtp_out_send_video_at(fc_rtp_out *o, const fc_frame *f, double capture, char *err,
                             size_t errlen)
{
    if (!o->cfg.video || !o->has_video) {
        snprintf(err, errlen, "rtp out: no video target");
        return -ENOTCONN;
    }
    uint32_t ts = fc_rtp_timestamp(&o->vs, capture);
    int n = fc_rtp_packetize(&o->vs, f->payload, f->payload_len, ts, o->cfg.mtu, o->pkts,
                             FC_RTP_OUT_MAX_PACKETS, err, errlen);
    if (n == -EMSGSIZE) o->st.too_big++;
    if (n < 0) return n;
    o->st.video_frames++;
    o->st.video_packets += (uint64_t)n;
    int sent = send_packets(o, &o->video, n);
    if (sent < n && o->cfg.key_frame) o->cfg.key_frame(o->cfg.arg);
    uint64_t now = fc_now_ns();
    if (o->has_rtcp && (o->last_sr_ns == 0 || now - o->last_sr_ns >= SR_INTERVAL_NS)) {
        o->last_sr_ns = now;
        send_sr(o, capture, ts);
    }
    return 0;
}

int fc_rtp_out_send_audio(fc_rtp_out *o, const uint8_t *pkt, size_t len, double capture, char *err,
                          size_t errlen)
{
    if (!o->cfg.audio || !o->has_audio) {
        snprintf(err, errlen, "rtp out: no audio target");
        return -ENOTCONN;
    }
    int n = fc_rtp_packetize(&o->as, pkt, len, fc_rtp_timestamp(&o->as, capture), o->cfg.mtu,
                             o->pkts, 1, err, errlen);
    if (n < 0) return n;
    o->st.audio_packets++;
    send_packets(o, &o->audio, n);
    return 0;
}

const fc_rtp_out_stats *fc_rtp_out_get_stats(const fc_rtp_out *o)
{
    return &o->st;
}

void fc_rtp_out_close(fc_rtp_out *o)
{
    if (!o) return;
    uv_udp_recv_stop(&o->udp);
    uv_close((uv_handle_t *)&o->udp, free_out);
}
