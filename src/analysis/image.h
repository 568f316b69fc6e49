/* Still pictures from files (PNG, JPEG) as packed RGB, for the detect command
 * and tests. Any thread; the caller owns and frees the returned pixels. */
#ifndef FC_ANALYSIS_IMAGE_H
#define FC_ANALYSIS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

/* Decodes the file at path by its content (not its name) into *rgb, w*3 bytes
 * per row. Returns 0, or negative with err naming the file and the problem. */
int fc_image_load_rgb(const char *path, uint8_t **rgb, int *w, int *h, char *err, size_t errlen);

#endif
