/* JPEG encoding of raw I420 frames with libturbojpeg, straight from the YUV
 * planes (no colour conversion), into a wire-ready encoded frame.
 * Any worker thread; each thread keeps its own compressor. */
#ifndef FC_ENCODE_JPEG_H
#define FC_ENCODE_JPEG_H

#include <stddef.h>

#include "core/frame.h"
#include "encode/codec.h"

/* Encodes `raw` at `quality` (1-100). The result carries raw's id and
 * timestamp, `tier`, and a sealed 16-byte header. */
int fc_jpeg_encode(const fc_frame *raw, int quality, int tier, fc_frame **out, char *err,
                   size_t errlen);

/* The same behind the codec interface (codec.h), registered as "jpeg". */
extern const fc_codec_ops fc_jpeg_codec;

#endif
