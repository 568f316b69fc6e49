/* JPEG behind the codec interface (codec.h), registered as "jpeg": lossy
 * 4:2:0 with libturbojpeg, straight from the raw frame's YUV planes (no
 * colour conversion) into a wire-ready encoded frame. Every frame is a key
 * frame. Each instance owns its own compressor (turbojpeg handles are not
 * thread-safe; the output's stage calls one instance from one worker at a
 * time). */
#ifndef FC_ENCODE_JPEG_H
#define FC_ENCODE_JPEG_H

#include "encode/codec.h"

extern const fc_codec_ops fc_jpeg_codec;

#endif
