/* Decoded pictures to framecast frames: an AVFrame in whatever layout the
 * decoder gives (I420, I422, I444, NV12, YUYV, grey, 10-bit I420) becomes an
 * I420 fc_frame with libyuv, scaled to the size asked for, or cropped and
 * scaled along the synthetic pan/zoom (sources/panzoom.h).
 *
 * A picture the decoder already gives as I420 at the size wanted (no
 * scaling, no pan/zoom) is not copied: the frame holds a reference to the
 * decoder's refcounted picture (fc_frame_wrap_i420) and gives it back with
 * its last reference. The copy it saves is 0.28 ms per 720p frame
 * (bench/decode), a tenth of decode + JPEG (docs/benchmarks.md). Such a
 * frame keeps one buffer of the decoder's pool while an encoder, the
 * detector or a joiner's slot holds it; the stream bounds how many do.
 * Every other picture is converted or scaled into a frame of its own.
 *
 * An fc_convert belongs to one decode stage: worker threads, one call at a
 * time. */
#ifndef FC_SOURCES_AV_CONVERT_H
#define FC_SOURCES_AV_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

struct AVFrame;

typedef struct fc_convert_cfg {
    int width, height; /* output size; 0 = the picture's own (made even) */
    bool panzoom;      /* crop along the pan/zoom at the frame's media time */
    bool still;        /* panzoom: hold the window of time 0 */
} fc_convert_cfg;

typedef struct fc_convert {
    fc_convert_cfg cfg;
    uint8_t *scratch; /* I420 at the picture's size, for layouts that need two steps */
    size_t scratch_cap;
} fc_convert;

void fc_convert_init(fc_convert *c, const fc_convert_cfg *cfg);
void fc_convert_free(fc_convert *c);

/* Output size for a picture of w x h. */
void fc_convert_out_size(const fc_convert *c, int w, int h, int *ow, int *oh);

/* Converts `in`; media_s is its media time in seconds (pan/zoom). Returns 0,
 * or a negative errno with err naming the problem (-ENOTSUP: a pixel format
 * we do not take; -ENOMEM). */
int fc_convert_frame(fc_convert *c, const struct AVFrame *in, double media_s, fc_frame **out,
                     char *err, size_t errlen);

#endif
