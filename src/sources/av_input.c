#include "sources/av_input.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavcodec/bsf.h>
#include <libavformat/avformat.h>

#include "core/clock.h"
#include "sources/av_log.h"

/* A packet this large is not a video access unit of any picture we take. */
#define MAX_PACKET (16u << 20)
/* How long closing may take to say goodbye (RTSP TEARDOWN). */
#define CLOSE_DEADLINE_NS 1000000000ull

struct fc_av_input {
    fc_av_input_cfg cfg;
    const atomic_bool *abort;
    AVFormatContext *fmt;
    AVBSFContext *bsf; /* H.264/HEVC to Annex-B; NULL for other codecs */
    AVPacket *pkt;     /* read buffer */
    int vi;            /* the video stream's index */
    atomic_uint_fast64_t deadline_ns;
    atomic_bool fired;   /* the watchdog ended the last call */
    atomic_bool closing; /* abort no longer cuts calls short: the close deadline does */
    char av_err[256];    /* FFmpeg's last error line during the last call */
    uint64_t corrupt;    /* packets dropped because they did not parse */
};

static const enum AVCodecID allowed[] = {
    AV_CODEC_ID_H264, AV_CODEC_ID_HEVC,  AV_CODEC_ID_VP8,   AV_CODEC_ID_VP9,
    AV_CODEC_ID_AV1,  AV_CODEC_ID_MJPEG, AV_CODEC_ID_MPEG4, AV_CODEC_ID_RAWVIDEO,
};

static int on_interrupt(void *opaque)
{
    fc_av_input *in = opaque;
    if (!atomic_load(&in->closing) && atomic_load(in->abort)) return 1;
    if (fc_now_ns() > atomic_load(&in->deadline_ns)) {
        atomic_store(&in->fired, true);
        return 1;
    }
    return 0;
}

static void arm(fc_av_input *in)
{
    atomic_store(&in->fired, false);
    atomic_store(&in->deadline_ns, fc_now_ns() + (uint64_t)(in->cfg.timeout * 1e9));
    fc_av_log_capture(in->av_err, sizeof in->av_err);
}

/* Turns what a call returned into our error classes and a message that says
 * what happened (`what` names the step). */
static int fail(fc_av_input *in, const char *what, int averr, char *err, size_t errlen)
{
    if (atomic_load(&in->fired)) {
        snprintf(err, errlen, "%s: no %s within %g s (stalled)", what,
                 strcmp(what, "read") == 0 ? "data" : "answer", in->cfg.timeout);
        return -ETIMEDOUT;
    }
    if (!atomic_load(&in->closing) && atomic_load(in->abort)) {
        snprintf(err, errlen, "%s: stopped", what);
        return -ECANCELED;
    }
    int rc;
    switch (averr) {
    case AVERROR_HTTP_UNAUTHORIZED:
    case AVERROR_HTTP_FORBIDDEN:
        rc = -EACCES;
        break;
    case AVERROR_HTTP_NOT_FOUND:
        rc = -ENOENT;
        break;
    case AVERROR_EOF:
        rc = -ENODATA;
        break;
    case AVERROR_INVALIDDATA:
        rc = -EPROTO;
        break;
    default:
        rc = averr < 0 && averr > -4096 ? averr : -EIO;
    }
    char msg[128];
    if (rc == -ENODATA && in->cfg.kind == FC_INPUT_RTSP)
        snprintf(msg, sizeof msg, "the server closed the session");
    else if (rc == -ENODATA)
        snprintf(msg, sizeof msg, "end of input");
    else
        av_strerror(averr, msg, sizeof msg);
    /* FFmpeg's own line says more when it is not just the code again. */
    if (in->av_err[0] && !strstr(in->av_err, msg))
        snprintf(err, errlen, "%s: %s (%s)", what, msg, in->av_err);
    else
        snprintf(err, errlen, "%s: %s", what, msg);
    return rc;
}

static int allowed_codec(enum AVCodecID id)
{
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        if (allowed[i] == id) return 1;
    return 0;
}

static AVDictionary *open_options(const fc_av_input_cfg *cfg)
{
    AVDictionary *o = NULL;
    char v[64];
    switch (cfg->kind) {
    case FC_INPUT_FILE:
        /* A path is a path: no other protocol (http:, concat:, a playlist's
         * URLs) is opened on a file's behalf. */
        av_dict_set(&o, "protocol_whitelist", "file", 0);
        break;
    case FC_INPUT_RTSP:
        av_dict_set(&o, "protocol_whitelist", "rtsp,rtsps,rtp,udp,tcp,tls", 0);
        av_dict_set(&o, "rtsp_transport", cfg->udp ? "udp" : "tcp", 0);
        av_dict_set(&o, "allowed_media_types", "video", 0);
        snprintf(v, sizeof v, "%lld", (long long)(cfg->timeout * 1e6));
        av_dict_set(&o, "timeout", v, 0);
        break;
    case FC_INPUT_V4L2:
        if (cfg->input_format) av_dict_set(&o, "input_format", cfg->input_format, 0);
        if (cfg->width > 0) {
            snprintf(v, sizeof v, "%dx%d", cfg->width, cfg->height);
            av_dict_set(&o, "video_size", v, 0);
        }
        if (cfg->fps > 0) {
            snprintf(v, sizeof v, "%g", cfg->fps);
            av_dict_set(&o, "framerate", v, 0);
        }
        break;
    }
    return o;
}

/* Whether the demuxer's header already says what the decoder needs. On RTSP
 * the SDP gives codec and parameter sets; probing there would wait about a
 * second for a key frame before the first packet is handed on. */
static int needs_probe(const fc_av_input *in, int vi)
{
    if (vi < 0) return 1;
    const AVCodecParameters *par = in->fmt->streams[vi]->codecpar;
    if (par->codec_id == AV_CODEC_ID_NONE) return 1;
    if (in->cfg.kind == FC_INPUT_RTSP)
        return (par->codec_id == AV_CODEC_ID_H264 || par->codec_id == AV_CODEC_ID_HEVC) &&
               par->extradata_size == 0;
    return par->width == 0 || par->height == 0;
}

static int open_bsf(fc_av_input *in, const AVStream *st, char *err, size_t errlen)
{
    const char *name = st->codecpar->codec_id == AV_CODEC_ID_H264   ? "h264_mp4toannexb"
                       : st->codecpar->codec_id == AV_CODEC_ID_HEVC ? "hevc_mp4toannexb"
                                                                    : NULL;
    if (!name) return 0;
    const AVBitStreamFilter *f = av_bsf_get_by_name(name);
    int rc = f ? av_bsf_alloc(f, &in->bsf) : AVERROR_BSF_NOT_FOUND;
    if (rc >= 0) rc = avcodec_parameters_copy(in->bsf->par_in, st->codecpar);
    if (rc >= 0) {
        in->bsf->time_base_in = st->time_base;
        rc = av_bsf_init(in->bsf);
    }
    if (rc < 0) {
        char msg[128];
        av_strerror(rc, msg, sizeof msg);
        snprintf(err, errlen, "%s: %s", name, msg);
        return rc == AVERROR(ENOMEM) ? -ENOMEM : -EPROTO;
    }
    return 0;
}

static int select_stream(fc_av_input *in, char *err, size_t errlen)
{
    int vi = av_find_best_stream(in->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (needs_probe(in, vi)) {
        arm(in);
        int rc = avformat_find_stream_info(in->fmt, NULL);
        if (rc < 0) return fail(in, "probe", rc, err, errlen);
        vi = av_find_best_stream(in->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    }
    if (vi < 0) {
        snprintf(err, errlen, "no video stream");
        return -ENOTSUP;
    }
    for (unsigned i = 0; i < in->fmt->nb_streams; i++)
        if ((int)i != vi) in->fmt->streams[i]->discard = AVDISCARD_ALL;
    const AVCodecParameters *par = in->fmt->streams[vi]->codecpar;
    if (!allowed_codec(par->codec_id) || !avcodec_find_decoder(par->codec_id)) {
        snprintf(err, errlen,
                 "video codec '%s' is not supported (supported: h264, hevc, vp8, vp9, av1, mjpeg, "
                 "mpeg4, rawvideo)",
                 avcodec_get_name(par->codec_id));
        return -ENOTSUP;
    }
    if (par->width > FC_MAX_WIDTH || par->height > FC_MAX_HEIGHT) {
        snprintf(err, errlen, "picture %dx%d is larger than %dx%d", par->width, par->height,
                 FC_MAX_WIDTH, FC_MAX_HEIGHT);
        return -ENOTSUP;
    }
    in->vi = vi;
    return open_bsf(in, in->fmt->streams[vi], err, errlen);
}

int fc_av_input_open(const fc_av_input_cfg *cfg, const atomic_bool *abort, fc_av_input **out,
                     char *err, size_t errlen)
{
    fc_av_init();
    fc_av_input *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    in->cfg = *cfg;
    in->abort = abort;
    in->vi = -1;
    in->pkt = av_packet_alloc();
    in->fmt = avformat_alloc_context();
    if (!in->pkt || !in->fmt) {
        fc_av_input_close(in);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    in->fmt->interrupt_callback.callback = on_interrupt;
    in->fmt->interrupt_callback.opaque = in;

    char url[2048];
    if (cfg->kind == FC_INPUT_FILE)
        snprintf(url, sizeof url, "file:%s", cfg->target); /* never read as another protocol */
    else
        snprintf(url, sizeof url, "%s", cfg->target);
    const AVInputFormat *ifmt = cfg->kind == FC_INPUT_V4L2 ? av_find_input_format("v4l2") : NULL;
    if (cfg->kind == FC_INPUT_V4L2 && !ifmt) {
        fc_av_input_close(in);
        snprintf(err, errlen, "this FFmpeg has no V4L2 input");
        return -ENOTSUP;
    }
    AVDictionary *opts = open_options(cfg);
    arm(in);
    int rc = avformat_open_input(&in->fmt, url, ifmt, &opts);
    av_dict_free(&opts);
    if (rc < 0) {
        rc = fail(in, cfg->kind == FC_INPUT_RTSP ? "connect" : "open", rc, err, errlen);
        fc_av_input_close(in);
        return rc;
    }
    rc = select_stream(in, err, errlen);
    if (rc < 0) {
        fc_av_input_close(in);
        return rc;
    }
    *out = in;
    return 0;
}

/* One packet of the video stream from the demuxer into in->pkt. */
static int read_video(fc_av_input *in, char *err, size_t errlen)
{
    for (;;) {
        arm(in);
        int rc = av_read_frame(in->fmt, in->pkt);
        if (rc < 0) return fail(in, "read", rc, err, errlen);
        if (in->pkt->stream_index == in->vi && in->pkt->size > 0 &&
            (unsigned)in->pkt->size <= MAX_PACKET)
            return 0;
        av_packet_unref(in->pkt);
    }
}

int fc_av_input_read(fc_av_input *in, AVPacket **out, char *err, size_t errlen)
{
    AVPacket *p = av_packet_alloc();
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    for (;;) {
        int rc;
        if (in->bsf) {
            rc = av_bsf_receive_packet(in->bsf, p);
            if (rc == 0) break;
            /* Any other answer than "give me more" is a packet that does
             * not parse: corrupt data, skipped and counted. */
            if (rc != AVERROR(EAGAIN)) in->corrupt++;
        }
        rc = read_video(in, err, errlen);
        if (rc < 0) {
            av_packet_free(&p);
            return rc;
        }
        if (!in->bsf) {
            av_packet_move_ref(p, in->pkt);
            break;
        }
        if (av_bsf_send_packet(in->bsf, in->pkt) < 0) {
            in->corrupt++;
            av_packet_unref(in->pkt);
        }
    }
    *out = p;
    return 0;
}

int fc_av_input_rewind(fc_av_input *in, char *err, size_t errlen)
{
    const AVStream *st = in->fmt->streams[in->vi];
    int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
    arm(in);
    int rc = av_seek_frame(in->fmt, in->vi, start, AVSEEK_FLAG_BACKWARD);
    if (rc < 0) return fail(in, "rewind", rc, err, errlen);
    if (in->bsf) av_bsf_flush(in->bsf);
    return 0;
}

const AVCodecParameters *fc_av_input_params(const fc_av_input *in)
{
    return in->bsf ? in->bsf->par_out : in->fmt->streams[in->vi]->codecpar;
}

void fc_av_input_time_base(const fc_av_input *in, int *num, int *den)
{
    AVRational tb = in->fmt->streams[in->vi]->time_base;
    *num = tb.num;
    *den = tb.den;
}

double fc_av_input_fps(const fc_av_input *in)
{
    const AVStream *st = in->fmt->streams[in->vi];
    AVRational r = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
    return r.num > 0 && r.den > 0 ? av_q2d(r) : 0;
}

uint64_t fc_av_input_corrupt(const fc_av_input *in)
{
    return in->corrupt;
}

void fc_av_input_close(fc_av_input *in)
{
    if (!in) return;
    atomic_store(&in->closing, true);
    atomic_store(&in->fired, false);
    atomic_store(&in->deadline_ns, fc_now_ns() + CLOSE_DEADLINE_NS);
    avformat_close_input(&in->fmt);
    av_bsf_free(&in->bsf);
    av_packet_free(&in->pkt);
    fc_av_log_capture(NULL, 0);
    free(in);
}
