#include "analysis/tracker.h"

#include <math.h>
#include <string.h>

void fc_tracker_init(fc_tracker *t, const fc_tracker_config *cfg)
{
    memset(t, 0, sizeof *t);
    t->cfg = *cfg;
    t->next_id = 1;
}

double fc_box_iou(float ax, float ay, float aw, float ah, float bx, float by, float bw, float bh)
{
    float ix = fmaxf(0.0f, fminf(ax + aw, bx + bw) - fmaxf(ax, bx));
    float iy = fmaxf(0.0f, fminf(ay + ah, by + bh) - fmaxf(ay, by));
    float inter = ix * iy, uni = aw * ah + bw * bh - inter;
    return uni > 0 ? (double)(inter / uni) : 0.0;
}

/* How well detection f continues track k: IoU in (0, 1] when they overlap
 * enough; otherwise a score in (-1, 0] for nearby centres; NAN for no match.
 * Overlap always beats distance. */
static double affinity(const fc_tracker_config *cfg, const fc_track *k, const fc_face *f)
{
    double iou = fc_box_iou(k->x, k->y, k->w, k->h, f->x, f->y, f->w, f->h);
    if (iou >= cfg->min_iou) return iou;
    double dx = (k->x + k->w / 2) - (f->x + f->w / 2), dy = (k->y + k->h / 2) - (f->y + f->h / 2);
    double reach = cfg->max_dist * fmax(k->w, k->h);
    double d = sqrt(dx * dx + dy * dy);
    return d < reach ? -d / reach : NAN;
}

int fc_tracker_expire(fc_tracker *t, double now)
{
    int kept = 0, dropped = 0;
    for (int i = 0; i < t->count; i++) {
        if (now - t->track[i].last_seen > t->cfg.expiry_s)
            dropped++;
        else
            t->track[kept++] = t->track[i];
    }
    t->count = kept;
    return dropped;
}

void fc_tracker_update(fc_tracker *t, const fc_faces *faces, double now)
{
    bool track_used[FC_FACES_MAX] = {0}, face_used[FC_FACES_MAX] = {0};
    int n = faces->count < FC_FACES_MAX ? faces->count : FC_FACES_MAX;
    for (int i = 0; i < t->count; i++)
        t->track[i].matched = false;
    /* Greedy assignment, best pair first: at most FC_FACES_MAX squared pairs,
     * a handful in practice. */
    for (;;) {
        int bi = -1, bj = -1;
        double best = -INFINITY;
        for (int i = 0; i < t->count; i++) {
            if (track_used[i]) continue;
            for (int j = 0; j < n; j++) {
                if (face_used[j]) continue;
                double a = affinity(&t->cfg, &t->track[i], &faces->face[j]);
                if (!isnan(a) && a > best) {
                    best = a;
                    bi = i;
                    bj = j;
                }
            }
        }
        if (bi < 0) break;
        track_used[bi] = face_used[bj] = true;
        fc_track *k = &t->track[bi];
        const fc_face *f = &faces->face[bj];
        float a = (float)t->cfg.smoothing;
        k->x += a * (f->x - k->x);
        k->y += a * (f->y - k->y);
        k->w += a * (f->w - k->w);
        k->h += a * (f->h - k->h);
        k->last = *f;
        k->last_seen = now;
        k->hits++;
        k->matched = true;
    }
    fc_tracker_expire(t, now);
    for (int j = 0; j < n && t->count < FC_FACES_MAX; j++) {
        if (face_used[j]) continue;
        const fc_face *f = &faces->face[j];
        t->track[t->count++] = (fc_track){.id = t->next_id++,
                                          .x = f->x,
                                          .y = f->y,
                                          .w = f->w,
                                          .h = f->h,
                                          .last = *f,
                                          .last_seen = now,
                                          .hits = 1,
                                          .matched = true};
    }
}

void fc_tracker_hold(fc_tracker *t, double now)
{
    for (int i = 0; i < t->count; i++)
        if (t->track[i].matched) t->track[i].last_seen = now;
    fc_tracker_expire(t, now);
}
