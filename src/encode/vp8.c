#include "encode/vp8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>

/* VP8 frame headers carry 14-bit sizes; I420 wants even sides. */
#define MAX_SIDE 16382
#define MIN_KBPS 50 /* the ladder's floor for tiny pictures */
#define MAX_KBPS 100000
#define MAX_KEYINT 100000
/* Timestamps in microseconds: fine enough for any frame rate. */
#define TIMEBASE 1000000

struct vp8_encoder {
    vpx_codec_ctx_t ctx;
    vpx_codec_enc_cfg_t cfg; /* kept for vpx_codec_enc_config_set */
    int tier;
    int64_t frame_us; /* one frame interval at cfg.fps */
    double last_ts;   /* capture time of the last frame encoded */
    int64_t last_pts; /* its pts; -1 before the first frame */
};

/* The default ladder, measured (bench/vp8-quality, docs/benchmarks.md): at
 * FC_VP8_CPU_USED and 1280x720, 30 fps, the lowest bitrates at which VP8
 * matches the JPEG tier of the same rank (high q85, medium q75) on both
 * framecast scenes by PSNR, and by SSIM as well on one of them (the face
 * pan's SSIM needs 5000 kbps for high: 30% more bytes for 0.0005, where VP8
 * levels off). Low is the 640x360 low tier's 502 kbps once scaled. */
static const double kbps_720p30[3] = {3500, 2500, 1500};

/* Other sizes scale as pixels^0.79 and other rates as (fps / 30)^0.7: the
 * ladder's points at 640x360 (1171, 836 kbps) and at 15 fps (2154, 1539)
 * match q85 and q75 the same way, measured at those points. Smaller or
 * slower pictures get more bits per pixel and per frame: each pixel is a
 * larger share of the detail, each frame is further from the one before. */
static unsigned default_kbps(int width, int height, double fps, int tier)
{
    double size = (double)width * height / (1280.0 * 720.0);
    double kbps = kbps_720p30[tier] * pow(size, 0.79) * pow(fps / 30.0, 0.7);
    return kbps < MIN_KBPS ? MIN_KBPS : kbps > MAX_KBPS ? MAX_KBPS : (unsigned)lround(kbps);
}

static int check_config(const fc_codec_config *c, int cpu_used, char *err, size_t errlen)
{
    if (c->width <= 0 || c->height <= 0 || c->width > MAX_SIDE || c->height > MAX_SIDE)
        snprintf(err, errlen, "vp8: size %dx%d is not 2x2 to %dx%d", c->width, c->height, MAX_SIDE,
                 MAX_SIDE);
    else if ((c->width | c->height) & 1)
        snprintf(err, errlen, "vp8: size %dx%d has an odd side (I420 needs even ones)", c->width,
                 c->height);
    else if (!(c->fps > 0 && c->fps <= 1000))
        snprintf(err, errlen, "vp8: fps %g is not above 0 and at most 1000", c->fps);
    else if (c->bitrate_kbps < 0 || c->bitrate_kbps > MAX_KBPS)
        snprintf(err, errlen, "vp8: bitrate %d kbps is not 0 (default) or 1..%d", c->bitrate_kbps,
                 MAX_KBPS);
    else if (c->tier < 0 || c->tier > 2)
        snprintf(err, errlen, "vp8: tier %d is not 0 (high), 1 (medium) or 2 (low)", c->tier);
    else if (c->keyint < 0 || c->keyint > MAX_KEYINT)
        snprintf(err, errlen, "vp8: keyint %d is not 0 (default) or 1..%d", c->keyint, MAX_KEYINT);
    else if (cpu_used < -16 || cpu_used > -1)
        snprintf(err, errlen, "vp8: cpu-used %d is not a fixed speed, -16..-1", cpu_used);
    else
        return 0;
    return -EINVAL;
}

static int fail(struct vp8_encoder *e, const char *what, char *err, size_t errlen)
{
    const char *detail = vpx_codec_error_detail(&e->ctx);
    snprintf(err, errlen, "vp8: %s: %s%s%s", what, vpx_codec_error(&e->ctx), detail ? ": " : "",
             detail ? detail : "");
    return -EIO;
}

int fc_vp8_open(const fc_codec_config *c, int cpu_used, fc_encoder **out, char *err, size_t errlen)
{
    int rc = check_config(c, cpu_used, err, errlen);
    if (rc < 0) return rc;
    struct vp8_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "vp8: out of memory");
        return -ENOMEM;
    }
    vpx_codec_enc_cfg_t *cfg = &e->cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), cfg, 0) != VPX_CODEC_OK) {
        free(e);
        snprintf(err, errlen, "vp8: libvpx has no default configuration");
        return -EIO;
    }
    cfg->g_w = (unsigned)c->width;
    cfg->g_h = (unsigned)c->height;
    cfg->g_threads = 1;
    cfg->g_timebase = (vpx_rational_t){1, TIMEBASE};
    cfg->g_lag_in_frames = 0;
    cfg->g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg->g_pass = VPX_RC_ONE_PASS;
    cfg->rc_end_usage = VPX_CBR;
    cfg->rc_target_bitrate = c->bitrate_kbps ? (unsigned)c->bitrate_kbps
                                             : default_kbps(c->width, c->height, c->fps, c->tier);
    /* Every frame is encoded: the hub drops per subscriber where a network
     * is slow; an encoder-side drop would take the frame from everybody. */
    cfg->rc_dropframe_thresh = 0;
    cfg->rc_resize_allowed = 0;
    /* A short decoder buffer (ms) so the rate holds over about a second, as
     * a live viewer sees it, instead of libvpx's default of six seconds. It
     * may fall short of the target freely but overshoot by at most 15 %: a
     * burst is what a slow viewer's queue pays for. */
    cfg->rc_buf_initial_sz = 500;
    cfg->rc_buf_optimal_sz = 600;
    cfg->rc_buf_sz = 1000;
    cfg->rc_undershoot_pct = 100;
    cfg->rc_overshoot_pct = 15;
    cfg->kf_mode = VPX_KF_AUTO;
    cfg->kf_min_dist = 0;
    cfg->kf_max_dist = (unsigned)(c->keyint ? c->keyint : (int)lround(c->fps * 10));
    if (cfg->kf_max_dist < 1) cfg->kf_max_dist = 1;
    if (vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), cfg, 0) != VPX_CODEC_OK) {
        rc = fail(e, "cannot open the encoder", err, errlen);
        free(e);
        return rc;
    }
    if (vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, cpu_used) != VPX_CODEC_OK) {
        rc = fail(e, "cannot set cpu-used", err, errlen);
        vpx_codec_destroy(&e->ctx);
        free(e);
        return rc;
    }
    e->tier = c->tier;
    e->frame_us = llround(TIMEBASE / c->fps);
    e->last_pts = -1;
    *out = (fc_encoder *)e;
    return 0;
}

static int vp8_open(const fc_codec_config *cfg, fc_encoder **out, char *err, size_t errlen)
{
    return fc_vp8_open(cfg, FC_VP8_CPU_USED, out, err, errlen);
}

/* The pts advances by the capture time since the last frame, so rate
 * control spends the bitrate over the frames that really come. A clock that
 * does not move forward (a source without timestamps, a repeated frame)
 * counts as one frame interval; a pause (nobody watching, a stalled source)
 * counts as at most a second, which is not bandwidth saved up to spend on
 * the next frame. */
static int64_t next_pts(const struct vp8_encoder *e, double timestamp)
{
    if (e->last_pts < 0) return 0;
    int64_t gap = llround((timestamp - e->last_ts) * TIMEBASE);
    if (gap <= 0) gap = e->frame_us;
    return e->last_pts + (gap < TIMEBASE ? gap : TIMEBASE);
}

static int set_bitrate(struct vp8_encoder *e, int kbps, char *err, size_t errlen)
{
    if (kbps < 0 || kbps > MAX_KBPS) {
        snprintf(err, errlen, "vp8: bitrate %d kbps is not 1..%d", kbps, MAX_KBPS);
        return -EINVAL;
    }
    if (kbps == 0 || (unsigned)kbps == e->cfg.rc_target_bitrate) return 0;
    unsigned before = e->cfg.rc_target_bitrate;
    e->cfg.rc_target_bitrate = (unsigned)kbps;
    /* A new target for the same size: libvpx keeps its references, so the
     * next frame is still a delta. */
    if (vpx_codec_enc_config_set(&e->ctx, &e->cfg) != VPX_CODEC_OK) {
        e->cfg.rc_target_bitrate = before;
        return fail(e, "cannot change the bitrate", err, errlen);
    }
    return 0;
}

static int vp8_encode(fc_encoder *enc, const fc_frame *raw, const fc_encode_args *args,
                      fc_frame **out, char *err, size_t errlen)
{
    struct vp8_encoder *e = (struct vp8_encoder *)enc;
    *out = NULL;
    if (raw->kind != FC_FRAME_I420 || raw->width != (int)e->cfg.g_w ||
        raw->height != (int)e->cfg.g_h) {
        snprintf(err, errlen, "vp8: frame %dx%d is not an I420 frame of the encoder's %ux%u",
                 raw->width, raw->height, e->cfg.g_w, e->cfg.g_h);
        return -EINVAL;
    }
    int rc = set_bitrate(e, args->bitrate_kbps, err, errlen);
    if (rc < 0) return rc;
    /* The image describes the frame's own planes; libvpx reads them in place. */
    vpx_image_t img;
    if (!vpx_img_wrap(&img, VPX_IMG_FMT_I420, e->cfg.g_w, e->cfg.g_h, 1, raw->plane[0])) {
        snprintf(err, errlen, "vp8: cannot describe a %ux%u I420 frame", e->cfg.g_w, e->cfg.g_h);
        return -EINVAL;
    }
    for (int p = 0; p < 3; p++) {
        img.planes[p] = raw->plane[p];
        img.stride[p] = raw->stride[p];
    }
    int64_t pts = next_pts(e, raw->timestamp);
    vpx_enc_frame_flags_t flags = args->force_key ? VPX_EFLAG_FORCE_KF : 0;
    if (vpx_codec_encode(&e->ctx, &img, pts, (unsigned long)e->frame_us, flags, VPX_DL_REALTIME) !=
        VPX_CODEC_OK)
        return fail(e, "encoding failed", err, errlen);
    e->last_pts = pts;
    e->last_ts = raw->timestamp;

    /* Without look-ahead a picture gives at most one frame packet (none
     * when rate control skipped it). libvpx encodes into its own buffer, so
     * the compressed bytes are copied once, into a frame of exactly their
     * size laid out for the wire. */
    vpx_codec_iter_t iter = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    fc_frame *f = NULL;
    while ((pkt = vpx_codec_get_cx_data(&e->ctx, &iter))) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
        if (f) {
            fc_frame_unref(f);
            snprintf(err, errlen, "vp8: more than one frame for one picture");
            return -EIO;
        }
        f = fc_frame_new_encoded(pkt->data.frame.sz);
        if (!f) {
            snprintf(err, errlen, "vp8: out of memory for a %zu-byte frame", pkt->data.frame.sz);
            return -ENOMEM;
        }
        memcpy(f->payload, pkt->data.frame.buf, pkt->data.frame.sz);
        f->payload_len = pkt->data.frame.sz;
        f->key = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
    }
    if (!f) return 0;
    f->codec = FC_CODEC_VP8;
    f->tier = e->tier;
    f->width = raw->width;
    f->height = raw->height;
    f->id = raw->id;
    f->timestamp = raw->timestamp;
    fc_frame_seal(f);
    *out = f;
    return 0;
}

static void vp8_close(fc_encoder *enc)
{
    struct vp8_encoder *e = (struct vp8_encoder *)enc;
    if (!e) return;
    vpx_codec_destroy(&e->ctx);
    free(e);
}

const fc_codec_ops fc_vp8_codec = {
    .abi_version = FC_CODEC_ABI_VERSION,
    .struct_size = sizeof(fc_codec_ops),
    .name = "vp8",
    .id = FC_CODEC_VP8,
    .inter_frame = true,
    .open = vp8_open,
    .encode = vp8_encode,
    .close = vp8_close,
    .codec_string = "vp8",
};
