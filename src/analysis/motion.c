#include "analysis/motion.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libyuv.h>

struct fc_motion {
    int w, h;   /* picture size */
    int tw, th; /* thumbnail size */
    bool have_ref;
    uint8_t *cur, *ref;
};

int fc_motion_new(int w, int h, fc_motion **out)
{
    fc_motion *m = calloc(1, sizeof *m);
    if (!m) return -ENOMEM;
    m->w = w;
    m->h = h;
    m->tw = w < FC_MOTION_THUMB_W ? w : FC_MOTION_THUMB_W;
    m->th = (int)((long)h * m->tw / w);
    if (m->th < 1) m->th = 1;
    m->cur = malloc((size_t)m->tw * (size_t)m->th);
    m->ref = malloc((size_t)m->tw * (size_t)m->th);
    if (!m->cur || !m->ref) {
        fc_motion_free(m);
        return -ENOMEM;
    }
    *out = m;
    return 0;
}

void fc_motion_free(fc_motion *m)
{
    if (!m) return;
    free(m->cur);
    free(m->ref);
    free(m);
}

double fc_motion_measure(fc_motion *m, const uint8_t *y, int ystride)
{
    ScalePlane(y, ystride, m->w, m->h, m->cur, m->tw, m->tw, m->th, kFilterBox);
    if (!m->have_ref) return 1.0;
    size_t n = (size_t)m->tw * (size_t)m->th, changed = 0;
    for (size_t i = 0; i < n; i++) {
        int d = (int)m->cur[i] - (int)m->ref[i];
        if (d > FC_MOTION_CELL_DELTA || d < -FC_MOTION_CELL_DELTA) changed++;
    }
    return (double)changed / (double)n;
}

void fc_motion_commit(fc_motion *m)
{
    uint8_t *t = m->ref;
    m->ref = m->cur;
    m->cur = t;
    m->have_ref = true;
}
