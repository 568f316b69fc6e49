#include "core/frame.h"

#include <stdlib.h>
#include <string.h>

static atomic_long g_live;

static fc_frame *frame_alloc(size_t extra)
{
    /* Not calloc: pixel and payload bytes are always written before use, and
     * zeroing megabytes per frame would cost more than the encode saves. */
    fc_frame *f = malloc(sizeof *f + extra);
    if (!f) return NULL;
    memset(f, 0, sizeof *f);
    atomic_init(&f->refs, 1);
    atomic_fetch_add(&g_live, 1);
    return f;
}

fc_frame *fc_frame_new_i420(int width, int height)
{
    if (width <= 0 || height <= 0 || (width & 1) || (height & 1)) return NULL;
    size_t ysize = (size_t)width * (size_t)height;
    size_t csize = ysize / 4;
    /* Plain malloc'd block after the struct; planes need no extra alignment
     * beyond what libyuv and turbojpeg handle themselves. */
    fc_frame *f = frame_alloc(ysize + 2 * csize);
    if (!f) return NULL;
    f->kind = FC_FRAME_I420;
    f->width = width;
    f->height = height;
    f->plane[0] = (uint8_t *)(f + 1);
    f->plane[1] = f->plane[0] + ysize;
    f->plane[2] = f->plane[1] + csize;
    f->stride[0] = width;
    f->stride[1] = f->stride[2] = width / 2;
    return f;
}

fc_frame *fc_frame_wrap_i420(int width, int height, uint8_t *const plane[3], const int stride[3],
                             void (*release)(void *arg), void *arg)
{
    if (width <= 0 || height <= 0 || (width & 1) || (height & 1)) return NULL;
    fc_frame *f = frame_alloc(0);
    if (!f) return NULL;
    f->kind = FC_FRAME_I420;
    f->width = width;
    f->height = height;
    for (int i = 0; i < 3; i++) {
        f->plane[i] = plane[i];
        f->stride[i] = stride[i];
    }
    f->release = release;
    f->release_arg = arg;
    return f;
}

fc_frame *fc_frame_new_encoded(size_t payload_cap)
{
    fc_frame *f = frame_alloc(FC_FRAME_HEADROOM + FC_HEADER_SIZE + payload_cap);
    if (!f) return NULL;
    f->kind = FC_FRAME_ENCODED;
    f->wire = (uint8_t *)(f + 1) + FC_FRAME_HEADROOM;
    f->payload = f->wire + FC_HEADER_SIZE;
    f->payload_cap = payload_cap;
    return f;
}

fc_frame *fc_frame_shrink(fc_frame *f)
{
    size_t need = sizeof *f + FC_FRAME_HEADROOM + FC_HEADER_SIZE + f->payload_len;
    fc_frame *g = realloc(f, need);
    if (!g) return f; /* still valid, just larger than it needs to be */
    g->wire = (uint8_t *)(g + 1) + FC_FRAME_HEADROOM;
    g->payload = g->wire + FC_HEADER_SIZE;
    g->payload_cap = g->payload_len;
    return g;
}

size_t fc_frame_seal(fc_frame *f)
{
    fc_header_write(f->wire, f->id, f->timestamp, (uint32_t)f->payload_len);
    return fc_frame_wire_len(f);
}

fc_frame *fc_frame_finish(fc_frame *f, const fc_frame *raw)
{
    f->width = raw->width;
    f->height = raw->height;
    f->id = raw->id;
    f->timestamp = raw->timestamp;
    f = fc_frame_shrink(f);
    fc_frame_seal(f);
    return f;
}

fc_frame *fc_frame_ref(fc_frame *f)
{
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    return f;
}

void fc_frame_unref(fc_frame *f)
{
    if (!f) return;
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1) {
        atomic_fetch_sub(&g_live, 1);
        if (f->release) f->release(f->release_arg);
        free(f);
    }
}

long fc_frame_live_count(void)
{
    return atomic_load(&g_live);
}
