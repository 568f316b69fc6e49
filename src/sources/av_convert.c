#include "sources/av_convert.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libyuv.h>

#include "sources/panzoom.h"

void fc_convert_init(fc_convert *c, const fc_convert_cfg *cfg)
{
    c->cfg = *cfg;
    c->scratch = NULL;
    c->scratch_cap = 0;
}

void fc_convert_free(fc_convert *c)
{
    free(c->scratch);
    c->scratch = NULL;
    c->scratch_cap = 0;
}

void fc_convert_out_size(const fc_convert *c, int w, int h, int *ow, int *oh)
{
    if (c->cfg.width > 0) {
        *ow = c->cfg.width;
        *oh = c->cfg.height;
    } else {
        *ow = w & ~1;
        *oh = h & ~1;
    }
}

typedef struct planes {
    uint8_t *p[3];
    int s[3];
} planes;

/* Writes the picture (w x h, even) as I420 into dst. -ENOTSUP for a layout
 * we do not take. */
static int to_i420(const AVFrame *f, int w, int h, const planes *dst)
{
    uint8_t *const *d = f->data;
    const int *l = f->linesize;
    switch (f->format) {
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUVJ420P:
        return I420Copy(d[0], l[0], d[1], l[1], d[2], l[2], dst->p[0], dst->s[0], dst->p[1],
                        dst->s[1], dst->p[2], dst->s[2], w, h);
    case AV_PIX_FMT_YUV422P:
    case AV_PIX_FMT_YUVJ422P:
        return I422ToI420(d[0], l[0], d[1], l[1], d[2], l[2], dst->p[0], dst->s[0], dst->p[1],
                          dst->s[1], dst->p[2], dst->s[2], w, h);
    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUVJ444P:
        return I444ToI420(d[0], l[0], d[1], l[1], d[2], l[2], dst->p[0], dst->s[0], dst->p[1],
                          dst->s[1], dst->p[2], dst->s[2], w, h);
    case AV_PIX_FMT_NV12:
        return NV12ToI420(d[0], l[0], d[1], l[1], dst->p[0], dst->s[0], dst->p[1], dst->s[1],
                          dst->p[2], dst->s[2], w, h);
    case AV_PIX_FMT_NV21:
        return NV21ToI420(d[0], l[0], d[1], l[1], dst->p[0], dst->s[0], dst->p[1], dst->s[1],
                          dst->p[2], dst->s[2], w, h);
    case AV_PIX_FMT_YUYV422:
        return YUY2ToI420(d[0], l[0], dst->p[0], dst->s[0], dst->p[1], dst->s[1], dst->p[2],
                          dst->s[2], w, h);
    case AV_PIX_FMT_UYVY422:
        return UYVYToI420(d[0], l[0], dst->p[0], dst->s[0], dst->p[1], dst->s[1], dst->p[2],
                          dst->s[2], w, h);
    case AV_PIX_FMT_GRAY8:
        return I400ToI420(d[0], l[0], dst->p[0], dst->s[0], dst->p[1], dst->s[1], dst->p[2],
                          dst->s[2], w, h);
    case AV_PIX_FMT_YUV420P10LE:
        return I010ToI420((const uint16_t *)d[0], l[0] / 2, (const uint16_t *)d[1], l[1] / 2,
                          (const uint16_t *)d[2], l[2] / 2, dst->p[0], dst->s[0], dst->p[1],
                          dst->s[1], dst->p[2], dst->s[2], w, h);
    default:
        return -ENOTSUP;
    }
}

static planes frame_planes(fc_frame *f)
{
    return (planes){{f->plane[0], f->plane[1], f->plane[2]},
                    {f->stride[0], f->stride[1], f->stride[2]}};
}

/* The picture as I420 planes without a copy where the decoder already gives
 * I420, else converted into the scratch buffer. */
static int source_planes(fc_convert *c, const AVFrame *f, int w, int h, planes *src)
{
    if (f->format == AV_PIX_FMT_YUV420P || f->format == AV_PIX_FMT_YUVJ420P) {
        for (int i = 0; i < 3; i++) {
            src->p[i] = f->data[i];
            src->s[i] = f->linesize[i];
        }
        return 0;
    }
    size_t need = (size_t)w * (size_t)h * 3 / 2;
    if (need > c->scratch_cap) {
        uint8_t *p = realloc(c->scratch, need);
        if (!p) return -ENOMEM;
        c->scratch = p;
        c->scratch_cap = need;
    }
    *src = (planes){{c->scratch, c->scratch + (size_t)w * h, c->scratch + (size_t)w * h * 5 / 4},
                    {w, w / 2, w / 2}};
    return to_i420(f, w, h, src) == 0 ? 0 : -ENOTSUP;
}

static void release_picture(void *arg)
{
    AVFrame *f = arg;
    av_frame_free(&f);
}

/* The decoder's picture is already I420 at the size wanted: the frame holds
 * a reference to it (the decoder never writes to a picture it gave out)
 * instead of a copy. */
static int wrap(const AVFrame *in, int w, int h, fc_frame **out, char *err, size_t errlen)
{
    AVFrame *ref = av_frame_clone(in);
    fc_frame *f =
        ref ? fc_frame_wrap_i420(w, h, ref->data, ref->linesize, release_picture, ref) : NULL;
    if (!f) {
        av_frame_free(&ref);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    *out = f;
    return 0;
}

int fc_convert_frame(fc_convert *c, const AVFrame *in, double media_s, fc_frame **out, char *err,
                     size_t errlen)
{
    int w = in->width & ~1, h = in->height & ~1;
    if (w < 2 || h < 2) {
        snprintf(err, errlen, "picture %dx%d is too small", in->width, in->height);
        return -ENOTSUP;
    }
    int ow, oh;
    fc_convert_out_size(c, w, h, &ow, &oh);
    int x = 0, y = 0, cw = w, ch = h;
    if (c->cfg.panzoom)
        fc_panzoom_window(w, h, ow, oh, c->cfg.still ? 0 : media_s, &x, &y, &cw, &ch);
    bool whole = x == 0 && y == 0 && cw == ow && ch == oh;
    if (whole && (in->format == AV_PIX_FMT_YUV420P || in->format == AV_PIX_FMT_YUVJ420P))
        return wrap(in, ow, oh, out, err, errlen);
    fc_frame *f = fc_frame_new_i420(ow, oh);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    planes dst = frame_planes(f);
    int rc;
    if (whole) {
        /* Same size, whole picture: one pass straight into the frame. */
        rc = to_i420(in, ow, oh, &dst);
    } else {
        planes src;
        rc = source_planes(c, in, w, h, &src);
        if (rc == 0) {
            const uint8_t *sy = src.p[0] + (size_t)y * src.s[0] + x;
            const uint8_t *su = src.p[1] + (size_t)(y / 2) * src.s[1] + x / 2;
            const uint8_t *sv = src.p[2] + (size_t)(y / 2) * src.s[2] + x / 2;
            rc = I420Scale(sy, src.s[0], su, src.s[1], sv, src.s[2], cw, ch, dst.p[0], dst.s[0],
                           dst.p[1], dst.s[1], dst.p[2], dst.s[2], ow, oh, kFilterBilinear);
        }
    }
    if (rc != 0) {
        fc_frame_unref(f);
        const char *name = av_get_pix_fmt_name(in->format);
        if (rc == -ENOMEM)
            snprintf(err, errlen, "out of memory");
        else
            snprintf(err, errlen, "pixel format %s is not supported", name ? name : "unknown");
        return rc == -ENOMEM ? -ENOMEM : -ENOTSUP;
    }
    *out = f;
    return 0;
}
