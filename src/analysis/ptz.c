#include "analysis/ptz.h"

#include <errno.h>
#include <math.h>

#include <libyuv.h>

static fc_rect full(const fc_ptz *p)
{
    return (fc_rect){0, 0, p->src_w, p->src_h};
}

void fc_ptz_init(fc_ptz *p, const fc_ptz_config *cfg, int src_w, int src_h)
{
    *p = (fc_ptz){.cfg = *cfg, .src_w = src_w, .src_h = src_h};
    p->view = p->target = full(p);
}

/* A view of width w (height by aspect) centred on (cx, cy), moved inside the
 * picture. */
static fc_rect place(const fc_ptz *p, double cx, double cy, double w)
{
    double aspect = (double)p->src_w / p->src_h;
    double min_w = p->src_w / p->cfg.max_zoom;
    w = fmin(fmax(w, min_w), p->src_w);
    double h = w / aspect;
    double x = fmin(fmax(cx - w / 2, 0), p->src_w - w);
    double y = fmin(fmax(cy - h / 2, 0), p->src_h - h);
    return (fc_rect){x, y, w, h};
}

void fc_ptz_set_tracks(fc_ptz *p, const fc_tracker *t, double now)
{
    if (t->count == 0) {
        if (p->last_face_t == 0 || now - p->last_face_t >= p->cfg.hold_s) p->target = full(p);
        return;
    }
    double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
    for (int i = 0; i < t->count; i++) {
        const fc_track *k = &t->track[i];
        x0 = fmin(x0, k->x);
        y0 = fmin(y0, k->y);
        x1 = fmax(x1, k->x + k->w);
        y1 = fmax(y1, k->y + k->h);
    }
    p->last_face_t = now;
    double aspect = (double)p->src_w / p->src_h;
    /* Tall enough for the faces to fill face_size of it, and wide enough
     * that several faces side by side keep a margin. */
    double h = (y1 - y0) / p->cfg.face_size;
    double w = fmax(h * aspect, (x1 - x0) / 0.8);
    h = fmin(fmax(w, p->src_w / p->cfg.max_zoom), p->src_w) / aspect;
    double cy = (y0 + y1) / 2 + (0.5 - p->cfg.face_y) * h;
    p->target = place(p, (x0 + x1) / 2, cy, w);
}

static double approach(double cur, double target, double share, double max_step)
{
    double step = (target - cur) * share;
    return cur + fmax(-max_step, fmin(max_step, step));
}

fc_rect fc_ptz_step(fc_ptz *p, double now)
{
    if (p->last_face_t > 0 && now - p->last_face_t >= p->cfg.hold_s) p->target = full(p);
    double dt = p->last_step_t > 0 ? fmin(fmax(now - p->last_step_t, 0), 0.5) : 0;
    p->last_step_t = now;
    const fc_rect *v = &p->view, *t = &p->target;
    double dcx = fabs((t->x + t->w / 2) - (v->x + v->w / 2)) / v->w;
    double dcy = fabs((t->y + t->h / 2) - (v->y + v->h / 2)) / v->h;
    double dw = fabs(t->w - v->w) / v->w;
    double off = fmax(dcx, fmax(dcy, dw));
    if (!p->moving && off > p->cfg.deadband)
        p->moving = true;
    else if (p->moving && off <= p->cfg.deadband / 4)
        p->moving = false;
    if (!p->moving || dt == 0) return p->view;
    double share = 1 - exp(-dt / p->cfg.ease_s);
    double max_step = p->cfg.speed * p->src_w * dt;
    double cx = approach(v->x + v->w / 2, t->x + t->w / 2, share, max_step);
    double cy = approach(v->y + v->h / 2, t->y + t->h / 2, share, max_step);
    double w = approach(v->w, t->w, share, max_step);
    p->view = place(p, cx, cy, w);
    return p->view;
}

int fc_ptz_render(const fc_frame *src, fc_rect view, fc_frame **out)
{
    fc_frame *f = fc_frame_new_i420(src->width, src->height);
    if (!f) return -ENOMEM;
    int w = (int)view.w & ~1, h = (int)view.h & ~1;
    if (w < 2) w = 2;
    if (h < 2) h = 2;
    if (w > src->width) w = src->width;
    if (h > src->height) h = src->height;
    int x = (int)view.x & ~1, y = (int)view.y & ~1;
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x + w > src->width) x = (src->width - w) & ~1;
    if (y + h > src->height) y = (src->height - h) & ~1;
    I420Scale(src->plane[0] + (size_t)y * (size_t)src->stride[0] + x, src->stride[0],
              src->plane[1] + (size_t)(y / 2) * (size_t)src->stride[1] + x / 2, src->stride[1],
              src->plane[2] + (size_t)(y / 2) * (size_t)src->stride[2] + x / 2, src->stride[2], w,
              h, f->plane[0], f->stride[0], f->plane[1], f->stride[1], f->plane[2], f->stride[2],
              f->width, f->height, kFilterBilinear);
    f->id = src->id;
    f->timestamp = src->timestamp;
    *out = f;
    return 0;
}
