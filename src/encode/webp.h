/* WebP (lossy) encoding of raw I420 frames with libwebp, from the YUV planes
 * as they are (no colour conversion), into a wire-ready encoded frame.
 * Any worker thread. */
#ifndef FC_ENCODE_WEBP_H
#define FC_ENCODE_WEBP_H

#include <stddef.h>

#include "core/frame.h"
#include "encode/codec.h"

/* Encodes `raw` at `quality` (1-100). The result carries raw's id and
 * timestamp, `tier`, and a sealed 16-byte header. */
int fc_webp_encode(const fc_frame *raw, int quality, int tier, fc_frame **out, char *err,
                   size_t errlen);

/* The same behind the codec interface (codec.h), registered as "webp". */
extern const fc_codec_ops fc_webp_codec;

#endif
