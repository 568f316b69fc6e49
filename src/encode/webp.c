#include "encode/webp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <webp/encode.h>

/* libwebp hands its output in pieces; they go straight into the frame's
 * payload area, so nothing is copied afterwards. */
static int write_into_frame(const uint8_t *data, size_t size, const WebPPicture *pic)
{
    fc_frame *f = pic->custom_ptr;
    if (f->payload_len + size > f->payload_cap) return 0;
    memcpy(f->payload + f->payload_len, data, size);
    f->payload_len += size;
    return 1;
}

/* WebP keeps no state between frames: an instance is its settings. */
struct webp_encoder {
    int quality, tier;
};

static int webp_open(const fc_codec_config *cfg, fc_encoder **out, char *err, size_t errlen)
{
    if (cfg->quality < 1 || cfg->quality > 100) {
        snprintf(err, errlen, "webp: quality %d is not 1..100", cfg->quality);
        return -EINVAL;
    }
    struct webp_encoder *e = malloc(sizeof *e);
    if (!e) {
        snprintf(err, errlen, "webp: out of memory");
        return -ENOMEM;
    }
    e->quality = cfg->quality;
    e->tier = cfg->tier;
    *out = (fc_encoder *)e;
    return 0;
}

static int webp_encode(fc_encoder *enc, const fc_frame *raw, const fc_encode_args *args,
                       fc_frame **out, char *err, size_t errlen)
{
    (void)args; /* every frame is a key frame; there is no bitrate */
    const struct webp_encoder *e = (const struct webp_encoder *)enc;
    WebPConfig cfg;
    WebPPicture pic;
    if (!WebPConfigPreset(&cfg, WEBP_PRESET_PHOTO, (float)e->quality) || !WebPPictureInit(&pic)) {
        snprintf(err, errlen, "webp: libwebp version mismatch");
        return -EINVAL;
    }
    /* Real-time: the fastest method; quality still follows the tier. */
    cfg.method = 0;
    cfg.segments = 1;
    cfg.partitions = 0;
    /* A lossy WebP is smaller than the raw planes; a frame this big would be
     * a broken encoder, and write_into_frame refuses it. */
    size_t cap = (size_t)raw->width * (size_t)raw->height * 3 / 2 + 4096;
    fc_frame *f = fc_frame_new_encoded(cap);
    if (!f) {
        snprintf(err, errlen, "webp: out of memory for a %zu-byte buffer", cap);
        return -ENOMEM;
    }
    pic.use_argb = 0;
    pic.colorspace = WEBP_YUV420;
    pic.width = raw->width;
    pic.height = raw->height;
    /* libwebp only reads the planes of a picture it did not allocate. */
    pic.y = raw->plane[0];
    pic.u = raw->plane[1];
    pic.v = raw->plane[2];
    pic.y_stride = raw->stride[0];
    pic.uv_stride = raw->stride[1];
    pic.writer = write_into_frame;
    pic.custom_ptr = f;
    if (!WebPEncode(&cfg, &pic)) {
        snprintf(err, errlen, "webp: encoding failed (libwebp error %d)", pic.error_code);
        fc_frame_unref(f);
        return -EIO;
    }
    f->codec = FC_CODEC_WEBP;
    f->key = true;
    f->tier = e->tier;
    f = fc_frame_finish(f, raw);
    *out = f;
    return 0;
}

static void webp_close(fc_encoder *enc)
{
    free(enc);
}

const fc_codec_ops fc_webp_codec = {
    .abi_version = FC_CODEC_ABI_VERSION,
    .struct_size = sizeof(fc_codec_ops),
    .name = "webp",
    .id = FC_CODEC_WEBP,
    .inter_frame = false,
    .open = webp_open,
    .encode = webp_encode,
    .close = webp_close,
};
