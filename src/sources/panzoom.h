/* The slow pan and zoom that synthetic sources play over a picture
 * (synthetic:image) or a video (synthetic:video), so that detection, tracking
 * and the PTZ view have something moving to follow. Pure, any thread. */
#ifndef FC_SOURCES_PANZOOM_H
#define FC_SOURCES_PANZOOM_H

/* The crop window, in a picture of src_w x src_h, that fills an output of
 * dst_w x dst_h at `seconds` into the motion: the output's aspect ratio,
 * drifting on slow incommensurate sines (periods 7, 11, 13 s), never leaving
 * the picture. x, y, w, h are even. */
void fc_panzoom_window(int src_w, int src_h, int dst_w, int dst_h, double seconds, int *x, int *y,
                       int *w, int *h);

#endif
