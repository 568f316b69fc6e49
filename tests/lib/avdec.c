#include "avdec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavutil/error.h>
#include <libyuv.h>

struct fc_avdec {
    AVCodecContext *ctx;
    AVPacket *pkt;
    AVFrame *frame;
};

static void say(char *err, size_t errlen, const char *what, int averr)
{
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(averr, msg, sizeof msg);
    snprintf(err, errlen, "%s: %s", what, msg);
}

int fc_avdec_open(const char *name, fc_avdec **out, char *err, size_t errlen)
{
    const AVCodec *codec = avcodec_find_decoder_by_name(name);
    if (!codec) {
        snprintf(err, errlen, "libavcodec has no decoder '%s'", name);
        return -ENOENT;
    }
    fc_avdec *d = calloc(1, sizeof *d);
    if (!d || !(d->ctx = avcodec_alloc_context3(codec)) || !(d->pkt = av_packet_alloc()) ||
        !(d->frame = av_frame_alloc())) {
        fc_avdec_close(d);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    d->ctx->thread_count = 1;
    d->ctx->err_recognition = AV_EF_CRCCHECK | AV_EF_BITSTREAM | AV_EF_BUFFER | AV_EF_EXPLODE;
    int rc = avcodec_open2(d->ctx, codec, NULL);
    if (rc < 0) {
        say(err, errlen, "avcodec_open2", rc);
        fc_avdec_close(d);
        return rc;
    }
    *out = d;
    return 0;
}

void fc_avdec_close(fc_avdec *d)
{
    if (!d) return;
    avcodec_free_context(&d->ctx);
    av_packet_free(&d->pkt);
    av_frame_free(&d->frame);
    free(d);
}

int fc_avdec_decode(fc_avdec *d, const uint8_t *data, size_t len, fc_frame **out, char *err,
                    size_t errlen)
{
    /* libavcodec may read past a packet's end: it gets a padded copy. */
    int rc = av_new_packet(d->pkt, (int)len);
    if (rc < 0) {
        say(err, errlen, "av_new_packet", rc);
        return rc;
    }
    memcpy(d->pkt->data, data, len);
    rc = avcodec_send_packet(d->ctx, d->pkt);
    av_packet_unref(d->pkt);
    if (rc < 0) {
        say(err, errlen, "avcodec_send_packet", rc);
        return rc;
    }
    rc = avcodec_receive_frame(d->ctx, d->frame);
    if (rc < 0) {
        say(err, errlen, "avcodec_receive_frame", rc);
        return rc;
    }
    AVFrame *f = d->frame;
    if ((f->flags & AV_FRAME_FLAG_CORRUPT) || f->decode_error_flags) {
        snprintf(err, errlen, "decoded picture is corrupt (error flags %#x)",
                 (unsigned)f->decode_error_flags);
        av_frame_unref(f);
        return -EIO;
    }
    if (f->format != AV_PIX_FMT_YUV420P) {
        snprintf(err, errlen, "decoded picture is not I420 (pixel format %d)", f->format);
        av_frame_unref(f);
        return -EINVAL;
    }
    fc_frame *o = fc_frame_new_i420(f->width, f->height);
    if (!o) {
        snprintf(err, errlen, "out of memory for a %dx%d picture", f->width, f->height);
        av_frame_unref(f);
        return -ENOMEM;
    }
    I420Copy(f->data[0], f->linesize[0], f->data[1], f->linesize[1], f->data[2], f->linesize[2],
             o->plane[0], o->stride[0], o->plane[1], o->stride[1], o->plane[2], o->stride[2],
             f->width, f->height);
    av_frame_unref(f);
    *out = o;
    return 0;
}

double fc_avdec_psnr(const fc_frame *a, const fc_frame *b)
{
    return I420Psnr(a->plane[0], a->stride[0], a->plane[1], a->stride[1], a->plane[2], a->stride[2],
                    b->plane[0], b->stride[0], b->plane[1], b->stride[1], b->plane[2], b->stride[2],
                    a->width, a->height);
}

double fc_avdec_ssim(const fc_frame *a, const fc_frame *b)
{
    return I420Ssim(a->plane[0], a->stride[0], a->plane[1], a->stride[1], a->plane[2], a->stride[2],
                    b->plane[0], b->stride[0], b->plane[1], b->stride[1], b->plane[2], b->stride[2],
                    a->width, a->height);
}
