/* An independent decoder for the tests and benchmarks of our encoders:
 * libavcodec's own decoders (its native "vp8", not libvpx, which encodes), so
 * a frame that decodes here decodes because it follows the format, not
 * because the same library wrote and read it. Also the picture comparison
 * both use (libyuv's PSNR and SSIM).
 *
 * One decoder per stream, used by one thread at a time; the caller owns what
 * it opens. */
#ifndef FC_TESTS_AVDEC_H
#define FC_TESTS_AVDEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

typedef struct fc_avdec fc_avdec;

/* Opens libavcodec's decoder called `name` ("vp8", "h264") on one thread,
 * with every error it can detect treated as fatal. Returns 0 or negative. */
int fc_avdec_open(const char *name, fc_avdec **out, char *err, size_t errlen);
void fc_avdec_close(fc_avdec *d);

/* Decodes one whole compressed frame into *out, a new I420 frame the caller
 * unrefs. Returns 0, or negative with err saying what libavcodec said (a
 * corrupt or concealed picture is an error too). */
int fc_avdec_decode(fc_avdec *d, const uint8_t *data, size_t len, fc_frame **out, char *err,
                    size_t errlen);

/* PSNR in dB over all three planes (128 for identical pictures) and SSIM
 * (luma 0.8, chroma 0.1 each) of two I420 frames of one size. */
double fc_avdec_psnr(const fc_frame *a, const fc_frame *b);
double fc_avdec_ssim(const fc_frame *a, const fc_frame *b);

#endif
