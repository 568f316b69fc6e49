/* WebP (lossy) behind the codec interface (codec.h), registered as "webp":
 * libwebp from the raw frame's YUV planes as they are (no colour
 * conversion) into a wire-ready encoded frame. Every frame is a key frame;
 * an instance keeps only its settings. */
#ifndef FC_ENCODE_WEBP_H
#define FC_ENCODE_WEBP_H

#include "encode/codec.h"

extern const fc_codec_ops fc_webp_codec;

#endif
