/* Still pictures from files (PNG, JPEG, WebP, told apart by content): as packed RGB
 * for the detect command, as an I420 frame for the image source. Start-up and
 * command-line paths; any thread; the caller owns what is returned. */
#ifndef FC_SOURCES_IMAGE_H
#define FC_SOURCES_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"

/* Decodes the file at path by its content (not its name) into *rgb, w*3 bytes
 * per row. Returns 0, or negative with err naming the file and the problem. */
int fc_image_load_rgb(const char *path, uint8_t **rgb, int *w, int *h, char *err, size_t errlen);

/* The same picture as an I420 frame; a last odd row or column is dropped
 * because I420 wants even sides. */
int fc_image_load_i420(const char *path, fc_frame **out, char *err, size_t errlen);

#endif
