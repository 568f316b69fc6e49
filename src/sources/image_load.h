/* Loading a still picture (PNG or JPEG, told apart by content) into an
 * even-sized I420 frame. Start-up path, any thread; the caller owns the frame. */
#ifndef FC_SOURCES_IMAGE_LOAD_H
#define FC_SOURCES_IMAGE_LOAD_H

#include <stddef.h>

#include "core/frame.h"

int fc_image_load_i420(const char *path, fc_frame **out, char *err, size_t errlen);

#endif
