#include "encode/jpeg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

/* JPEG keeps no state between frames: an instance is its settings and the
 * compressor it reuses. */
struct jpeg_encoder {
    tjhandle tj;
    int quality, tier;
};

static int jpeg_open(const fc_codec_config *cfg, fc_encoder **out, char *err, size_t errlen)
{
    if (cfg->quality < 1 || cfg->quality > 100) {
        snprintf(err, errlen, "jpeg: quality %d is not 1..100", cfg->quality);
        return -EINVAL;
    }
    struct jpeg_encoder *e = malloc(sizeof *e);
    if (!e || !(e->tj = tjInitCompress())) {
        free(e);
        snprintf(err, errlen, "jpeg: cannot create a compressor (out of memory)");
        return -ENOMEM;
    }
    e->quality = cfg->quality;
    e->tier = cfg->tier;
    *out = (fc_encoder *)e;
    return 0;
}

static int jpeg_encode(fc_encoder *enc, const fc_frame *raw, const fc_encode_args *args,
                       fc_frame **out, char *err, size_t errlen)
{
    (void)args; /* every frame is a key frame; there is no bitrate */
    struct jpeg_encoder *e = (struct jpeg_encoder *)enc;
    unsigned long cap = tjBufSize(raw->width, raw->height, TJSAMP_420);
    fc_frame *f = fc_frame_new_encoded(cap);
    if (!f) {
        snprintf(err, errlen, "jpeg: out of memory for a %lu-byte buffer", cap);
        return -ENOMEM;
    }
    /* Compress straight into the frame's payload area: no copy afterwards. */
    unsigned char *dst = f->payload;
    unsigned long size = cap;
    const unsigned char *planes[3] = {raw->plane[0], raw->plane[1], raw->plane[2]};
    if (tjCompressFromYUVPlanes(e->tj, planes, raw->width, raw->stride, raw->height, TJSAMP_420,
                                &dst, &size, e->quality, TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0) {
        snprintf(err, errlen, "jpeg: %s", tjGetErrorStr2(e->tj));
        fc_frame_unref(f);
        return -EIO;
    }
    f->codec = FC_CODEC_JPEG;
    f->key = true;
    f->tier = e->tier;
    f->payload_len = size;
    f = fc_frame_finish(f, raw);
    *out = f;
    return 0;
}

static void jpeg_close(fc_encoder *enc)
{
    struct jpeg_encoder *e = (struct jpeg_encoder *)enc;
    tjDestroy(e->tj);
    free(e);
}

const fc_codec_ops fc_jpeg_codec = {
    .abi_version = FC_CODEC_ABI_VERSION,
    .struct_size = sizeof(fc_codec_ops),
    .name = "jpeg",
    .id = FC_CODEC_JPEG,
    .inter_frame = false,
    .open = jpeg_open,
    .encode = jpeg_encode,
    .close = jpeg_close,
};
