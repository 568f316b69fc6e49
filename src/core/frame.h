/* Frames: raw pictures and encoded pictures, reference-counted, immutable once
 * published.
 *
 * The producer (a worker) fills a frame it has just created, then publishes it
 * by handing references to others; after that nobody writes to it. Every
 * holder owns one reference and drops it with fc_frame_unref(); the last one
 * frees the frame. Refcounts are atomic, so references may be taken and
 * dropped on any thread.
 *
 * An encoded frame is one allocation laid out for the wire:
 *
 *   [FC_FRAME_HEADROOM scratch][16-byte frame header][payload]
 *                              ^ wire                ^ payload
 *
 * The transport may write its own framing (WebSocket header) into the
 * headroom; the bytes from `wire` on are identical for every subscriber, so one
 * encoded frame serves them all without a copy. */
#ifndef FC_CORE_FRAME_H
#define FC_CORE_FRAME_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/protocol.h"

#define FC_FRAME_HEADROOM 32

typedef enum { FC_FRAME_I420 = 1, FC_FRAME_ENCODED = 2 } fc_frame_kind;

/* FC_CODEC_COUNT bounds the ids: tables indexed by codec (a stream's
 * outputs) are that long. */
typedef enum {
    FC_CODEC_NONE = 0,
    FC_CODEC_JPEG = 1,
    FC_CODEC_WEBP = 2,
    FC_CODEC_VP8 = 3,
    FC_CODEC_H264 = 4, /* a camera's own access units, passed through (stream/passthrough.h) */
    FC_CODEC_COUNT
} fc_codec;

typedef struct fc_frame {
    atomic_uint refs;
    fc_frame_kind kind;
    int width, height;
    uint32_t id;      /* source frame number */
    double timestamp; /* capture time, Unix seconds */

    /* FC_FRAME_I420: three planes in one block after the struct, or in
     * memory the frame does not own (fc_frame_wrap_i420): then `release`
     * gives it back with the last reference. */
    uint8_t *plane[3];
    int stride[3];
    void (*release)(void *arg);
    void *release_arg;

    /* FC_FRAME_ENCODED */
    fc_codec codec;
    int tier;         /* quality tier it was encoded for */
    bool key;         /* decodes on its own (every JPEG/WebP frame; VP8/H.264 key frames) */
    uint8_t *wire;    /* header + payload: what goes on the wire */
    uint8_t *payload; /* wire + FC_HEADER_SIZE */
    size_t payload_len;
    size_t payload_cap; /* room the encoder may fill */
} fc_frame;

/* New I420 frame with even width/height; planes uninitialised. NULL on OOM. */
fc_frame *fc_frame_new_i420(int width, int height);
/* A frame over I420 planes someone else owns, such as a decoder's
 * refcounted picture, so that it travels without a copy; it must stay
 * unchanged until `release(arg)`, which runs (on whichever thread drops the
 * last reference) when the frame is freed. Strides may exceed the width.
 * NULL on OOM (release is not called then). */
fc_frame *fc_frame_wrap_i420(int width, int height, uint8_t *const plane[3], const int stride[3],
                             void (*release)(void *arg), void *arg);
/* New encoded frame able to hold `payload_cap` payload bytes. NULL on OOM. */
fc_frame *fc_frame_new_encoded(size_t payload_cap);
/* Before publishing an encoded frame: gives back the room the encoder did not
 * use. The frame may move; use the returned pointer. */
fc_frame *fc_frame_shrink(fc_frame *f);
/* An encoder's last step: `f` (payload_len set) takes the id, capture
 * time and size of the `raw` frame it was made from, gives back unused room
 * (fc_frame_shrink) and gets its header (fc_frame_seal). Use the returned
 * pointer. */
fc_frame *fc_frame_finish(fc_frame *f, const fc_frame *raw);
/* Writes the 16-byte header for payload_len and returns the wire length. */
size_t fc_frame_seal(fc_frame *f);
static inline size_t fc_frame_wire_len(const fc_frame *f)
{
    return FC_HEADER_SIZE + f->payload_len;
}

fc_frame *fc_frame_ref(fc_frame *f);
void fc_frame_unref(fc_frame *f);

/* Frames alive now, for leak checks and metrics. */
long fc_frame_live_count(void);

#endif
