#include "sources/panzoom.h"

#include <math.h>

void fc_panzoom_window(int src_w, int src_h, int dst_w, int dst_h, double seconds, int *x, int *y,
                       int *w, int *h)
{
    double s = seconds;
    double aspect = (double)dst_w / dst_h;
    double cw = src_w, ch = cw / aspect;
    if (ch > src_h) {
        ch = src_h;
        cw = ch * aspect;
    }
    double zoom = 1.15 + 0.15 * sin(2 * M_PI * s / 11.0);
    cw /= zoom;
    ch /= zoom;
    double cx = src_w / 2.0 + (src_w - cw) / 2 * 0.6 * sin(2 * M_PI * s / 13.0);
    /* Vertically it stays in the upper part of the picture, where a
     * portrait's face is: the window's top moves within the first fifth of
     * the room it has. */
    double cy = ch / 2 + (src_h - ch) * 0.1 * (1 + sin(2 * M_PI * s / 7.0));
    int x0 = (int)(cx - cw / 2) & ~1, y0 = (int)(cy - ch / 2) & ~1;
    int iw = (int)cw & ~1, ih = (int)ch & ~1;
    if (iw < 2) iw = 2;
    if (ih < 2) ih = 2;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x0 + iw > src_w) x0 = (src_w - iw) & ~1;
    if (y0 + ih > src_h) y0 = (src_h - ih) & ~1;
    *x = x0, *y = y0, *w = iw, *h = ih;
}
