/* fc_motion: has the picture changed since the last inference?
 *
 * The luma plane is box-scaled to a thumbnail FC_MOTION_THUMB_W cells wide
 * (height by aspect ratio, each cell the mean of a block of pixels) and
 * compared with the thumbnail taken at the last inference. A cell counts as
 * changed when its mean moved by more than FC_MOTION_CELL_DELTA grey levels;
 * the result is the fraction of changed cells. Averaging over blocks (20x20
 * pixels at 720p) absorbs sensor noise and small overlays such as a burned-in
 * clock, which changes under 1% of the cells.
 *
 * Streams hand it the luma the face detector already scaled the frame to
 * (128x72 for 720p with the 128 model), so a detection slot reads the full
 * frame once, whether it then infers or skips.
 *
 * Owned by one stream's analysis stage; the stage runs one job at a time, so
 * the worker running it is the only thread that touches the motion state. */
#ifndef FC_ANALYSIS_MOTION_H
#define FC_ANALYSIS_MOTION_H

#include <stdbool.h>
#include <stdint.h>

#define FC_MOTION_THUMB_W 64
#define FC_MOTION_CELL_DELTA 12

typedef struct fc_motion fc_motion;

/* For pictures of w x h pixels. Returns 0 or -ENOMEM. */
int fc_motion_new(int w, int h, fc_motion **out);
void fc_motion_free(fc_motion *m);

/* Takes the thumbnail of this picture (same size as at creation) and returns
 * the fraction of cells (0..1) that differ from the reference; 1 when there
 * is no reference yet. */
double fc_motion_measure(fc_motion *m, const uint8_t *y, int ystride);
/* The thumbnail last measured becomes the reference (an inference ran on it). */
void fc_motion_commit(fc_motion *m);

#endif
