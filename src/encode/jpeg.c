#include "encode/jpeg.h"

#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <turbojpeg.h>

static pthread_key_t tj_key;
static pthread_once_t tj_once = PTHREAD_ONCE_INIT;

static void destroy_handle(void *h)
{
    tjDestroy(h);
}

static void make_key(void)
{
    pthread_key_create(&tj_key, destroy_handle);
}

/* turbojpeg handles are not thread-safe; one per worker, freed when it exits. */
static tjhandle thread_compressor(void)
{
    pthread_once(&tj_once, make_key);
    tjhandle h = pthread_getspecific(tj_key);
    if (!h) {
        h = tjInitCompress();
        if (h)
            pthread_setspecific(tj_key, h);
    }
    return h;
}

int fc_jpeg_encode(const fc_frame *raw, int quality, int tier, fc_frame **out, char *err,
                   size_t errlen)
{
    tjhandle tj = thread_compressor();
    if (!tj) {
        snprintf(err, errlen, "jpeg: cannot create compressor");
        return -1;
    }
    unsigned long cap = tjBufSize(raw->width, raw->height, TJSAMP_420);
    fc_frame *f = fc_frame_new_encoded(cap);
    if (!f) {
        snprintf(err, errlen, "jpeg: out of memory for a %lu-byte buffer", cap);
        return -1;
    }
    /* Compress straight into the frame's payload area: no copy afterwards. */
    unsigned char *dst = f->payload;
    unsigned long size = cap;
    const unsigned char *planes[3] = {raw->plane[0], raw->plane[1], raw->plane[2]};
    if (tjCompressFromYUVPlanes(tj, planes, raw->width, raw->stride, raw->height, TJSAMP_420, &dst,
                                &size, quality, TJFLAG_NOREALLOC | TJFLAG_FASTDCT) != 0) {
        snprintf(err, errlen, "jpeg: %s", tjGetErrorStr2(tj));
        fc_frame_unref(f);
        return -1;
    }
    f->codec = FC_CODEC_JPEG;
    f->key = true;
    f->tier = tier;
    f->width = raw->width;
    f->height = raw->height;
    f->id = raw->id;
    f->timestamp = raw->timestamp;
    f->payload_len = size;
    f = fc_frame_shrink(f);
    fc_frame_seal(f);
    *out = f;
    return 0;
}

/* Behind the codec table: JPEG keeps no state between frames, so an
 * instance is only its quality and tier. */
struct jpeg_encoder {
    int quality, tier;
};

static int jpeg_open(const fc_codec_config *cfg, fc_encoder **out, char *err, size_t errlen)
{
    if (cfg->quality < 1 || cfg->quality > 100) {
        snprintf(err, errlen, "jpeg: quality %d is not 1..100", cfg->quality);
        return -EINVAL;
    }
    struct jpeg_encoder *e = malloc(sizeof *e);
    if (!e) {
        snprintf(err, errlen, "jpeg: out of memory");
        return -ENOMEM;
    }
    e->quality = cfg->quality;
    e->tier = cfg->tier;
    *out = (fc_encoder *)e;
    return 0;
}

static int jpeg_encode_frame(fc_encoder *enc, const fc_frame *raw, const fc_encode_args *args,
                             fc_frame **out, char *err, size_t errlen)
{
    (void)args; /* every frame is a key frame; there is no bitrate */
    const struct jpeg_encoder *e = (const struct jpeg_encoder *)enc;
    return fc_jpeg_encode(raw, e->quality, e->tier, out, err, errlen) == 0 ? 0 : -EIO;
}

static void jpeg_close(fc_encoder *enc)
{
    free(enc);
}

const fc_codec_ops fc_jpeg_codec = {
    .abi_version = FC_CODEC_ABI_VERSION,
    .struct_size = sizeof(fc_codec_ops),
    .name = "jpeg",
    .id = FC_CODEC_JPEG,
    .inter_frame = false,
    .open = jpeg_open,
    .encode = jpeg_encode_frame,
    .close = jpeg_close,
};
