/* The synthetic source: the test camera every feature and benchmark uses.
 *
 *   procedural   a moving scene with the frame number and capture time burned
 *                in, so freezes, drops and latency are visible by eye;
 *   image=PATH   slow pan and zoom across a still picture (PNG/JPEG), so
 *                detection, tracking and PTZ have something real to follow.
 *
 * Rendering is a pure function of (frame number, capture time): the same
 * frame number always gives the same picture apart from the burned-in time. */
#ifndef FC_SOURCES_SYNTHETIC_H
#define FC_SOURCES_SYNTHETIC_H

#include "sources/source.h"

int fc_synthetic_create(const fc_source_spec *spec, int width, int height, double fps,
                        fc_source **out, char *err, size_t errlen);

/* Burns `text` (digits, ':', '.', '#', '-', ' ') into the luma plane with its
 * top-left corner at (x, y), each font pixel `scale` pixels wide, white on a
 * dark box. Clipped to the plane. */
void fc_burn_text(uint8_t *y_plane, int stride, int width, int height, int x, int y, int scale,
                  const char *text);

#endif
