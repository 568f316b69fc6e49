/* Still pictures from files (PNG, JPEG, WebP, told apart by content): as packed RGB
 * for the detect command and avatar sessions, as an I420 frame for the image
 * source.
 *
 * Every load is bounded before anything is decoded: the file by its size, the
 * picture by its total pixels as its header states them (a 242-byte JPEG can
 * claim 16384x16384, 800 MB of RGB). Pictures over the cap are refused, not
 * scaled: scaling would still decode them whole. Damaged data is an error,
 * never a half-grey picture: JPEG decoder warnings (truncated file, bad
 * Huffman codes, stray bytes) stop the decode.
 *
 * Any thread; the caller owns what is returned. The cap is process-wide: set
 * it once at start-up, before the first load. */
#ifndef FC_SOURCES_IMAGE_H
#define FC_SOURCES_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/frame.h"
#include "core/metrics.h"

/* Default for --max-picture-pixels: 4 megapixels (2048x2048, 2560x1600).
 * A picture costs 3 bytes a pixel as RGB while it is prepared, and an avatar
 * generator renders and encodes at its size 25 times a second. */
#define FC_IMAGE_MAX_PIXELS_DEFAULT (4u << 20)
/* The flag's range: a 256x256 picture at least, 16384x16384 at most. */
#define FC_IMAGE_MAX_PIXELS_MIN (256u * 256u)
#define FC_IMAGE_MAX_PIXELS_MAX (16384ull * 16384ull)

/* Sets the total-pixel cap (width x height) for every later load. */
void fc_image_set_max_pixels(uint64_t pixels);

/* Decodes the file at path by its content (not its name) into *rgb, w*3 bytes
 * per row. Returns 0, or a negative errno-style code with err naming the file
 * and the problem (-E2BIG: over the pixel cap). */
int fc_image_load_rgb(const char *path, uint8_t **rgb, int *w, int *h, char *err, size_t errlen);

/* The same from an open file descriptor, read from its current offset; the
 * caller keeps and closes fd. `name` names the file in err. */
int fc_image_load_rgb_fd(int fd, const char *name, uint8_t **rgb, int *w, int *h, char *err,
                         size_t errlen);

/* The same picture as an I420 frame; a last odd row or column is dropped
 * because I420 wants even sides. */
int fc_image_load_i420(const char *path, fc_frame **out, char *err, size_t errlen);

/* fc_pictures_refused_total{reason="pixels"|"damaged"|"type"}: loads refused
 * since start. Loop thread (a collector). */
int fc_image_metrics_register(fc_metrics *m);

#endif
