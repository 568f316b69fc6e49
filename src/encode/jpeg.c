#include "encode/jpeg.h"

#include <pthread.h>
#include <stdio.h>
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
