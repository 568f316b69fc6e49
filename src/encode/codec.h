/* fc_codec_ops: every video encoder behind one versioned table of functions,
 * registered by name ("jpeg", "webp"; "vp8" and others the same way).
 *
 * An encoder instance belongs to one (view, tier) of one output: it is opened
 * for one picture size, rate and quality or bitrate, fed raw I420 frames of
 * that size one at a time, and closed. Still-picture codecs (JPEG, WebP) keep
 * no state between frames and every frame they make is a key frame;
 * inter-frame codecs (VP8, H.264) make deltas that depend on earlier frames,
 * so a subscriber must start at a key frame (DESIGN.md rule 9) and the output
 * asks for one through `fc_encode_args.force_key`.
 *
 * Threads: `open` and `close` may run on any thread; `encode` runs on a
 * worker, one call at a time per instance (the output's latest-wins encode
 * stage guarantees it), not always on the same thread. Every request from the
 * loop (a forced key frame, a new bitrate) reaches the encoder as an argument
 * of the next `encode`, so an instance never shares state with the loop.
 *
 * Errors: functions return 0 or a negative errno-style code and write a
 * message naming the codec and what failed into err.
 *
 * The table starts with its ABI version and size, like
 * include/framecast/generator.h: members may be appended later, and a reader
 * uses one only when `struct_size` says the table has it. */
#ifndef FC_ENCODE_CODEC_H
#define FC_ENCODE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

#define FC_CODEC_ABI_VERSION 1u

typedef struct fc_codec_config {
    int width, height; /* every frame given to encode has this size (even) */
    double fps;        /* the most frames per second it is fed (rate control) */
    int quality;       /* still-picture codecs: 1..100 */
    int bitrate_kbps;  /* inter-frame codecs: target; 0 = the codec's default for the size */
    int keyint; /* inter-frame codecs: a key frame at least every keyint frames; 0 = default */
    int tier;   /* stamped on every frame this instance makes */
} fc_codec_config;

/* What the loop asks of one encode, decided when the job is submitted. */
typedef struct fc_encode_args {
    bool force_key;   /* make this frame a key frame */
    int bitrate_kbps; /* 0 = keep; else reconfigure to this target first */
} fc_encode_args;

typedef struct fc_encoder fc_encoder; /* one codec instance; the codec's own type */

typedef struct fc_codec_ops {
    uint32_t abi_version; /* FC_CODEC_ABI_VERSION */
    uint32_t struct_size; /* sizeof(fc_codec_ops) it was built with */
    const char *name;     /* "jpeg": what clients ask for (?codec=, run_kwargs.format) */
    fc_codec id;          /* stamped on its encoded frames */
    bool inter_frame;     /* deltas depend on earlier frames */

    int (*open)(const fc_codec_config *cfg, fc_encoder **out, char *err, size_t errlen);
    /* Encodes `raw` (cfg's size) into a new sealed encoded frame laid out for
     * the wire (frame.h), carrying raw's id and timestamp, cfg's tier, and
     * `key` set when it decodes on its own. *out may be NULL with 0 returned
     * when the codec's rate control chose to skip this frame. */
    int (*encode)(fc_encoder *enc, const fc_frame *raw, const fc_encode_args *args, fc_frame **out,
                  char *err, size_t errlen);
    void (*close)(fc_encoder *enc);

    /* Video codecs: what a browser's WebCodecs VideoDecoder is configured
     * with ("vp8"); NULL for still pictures. */
    const char *codec_string;
} fc_codec_ops;

/* The codec registered under `name`, or NULL. */
const fc_codec_ops *fc_codec_find(const char *name);
/* The codec that makes frames of `id`, or NULL. */
const fc_codec_ops *fc_codec_by_id(fc_codec id);
/* The i-th registered codec (registration order), NULL past the last. */
const fc_codec_ops *fc_codec_at(size_t i);
/* Registered names joined by ", " for error messages ("jpeg, webp"). */
const char *fc_codec_names(void);

#endif
