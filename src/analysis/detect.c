#include "analysis/detect.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/motion.h"
#include "core/stage.h"

struct fc_detect {
    fc_loop *loop;
    fc_pool *pool;
    fc_detect_config cfg;
    fc_detect_hooks hooks;
    void *arg;
    int width, height;
    fc_stage stage;
    fc_motion *motion; /* the running job's, with the luma size it was made for */
    int motion_w, motion_h;
    fc_tracker tracker;
    int sent_count; /* the tracks as last sent in an event */
    fc_track sent[FC_FACES_MAX];
    fc_ptz ptz;
    fc_detect_stats stats;
    int inflight;
    bool closing;
    void (*closed)(void *arg);
    void *closed_arg;
};

typedef struct detect_job {
    fc_job job;
    fc_detect *d;
    fc_frame *raw;
    bool skipped; /* motion gating: the scene has not changed */
    bool square;  /* a tracked face near an edge the band input cuts */
    int rc;
    fc_faces faces;
} detect_job;

/* The frame is read once, scaled to the model's size; the motion check
 * looks at that small luma plane. */
static void detect_work(fc_job *job)
{
    detect_job *j = fc_container_of(job, detect_job, job);
    fc_detect *d = j->d;
    const fc_frame *f = j->raw;
    double threshold = d->cfg.motion_threshold;
    fc_face_input *in;
    j->rc = fc_face_prepare_i420(d->cfg.detector, f->plane[0], f->stride[0], f->plane[1],
                                 f->stride[1], f->plane[2], f->stride[2], f->width, f->height,
                                 j->square ? FC_FACE_SQUARE : 0, &in);
    if (j->rc != 0) return;
    if (threshold > 0) {
        int w, h;
        const uint8_t *luma = fc_face_input_luma(in, &w, &h);
        if (!d->motion || d->motion_w != w || d->motion_h != h) {
            /* The first picture, or one of another size: the reference
             * thumbnail was of another picture, so this one counts as
             * changed. */
            fc_motion_free(d->motion);
            d->motion = NULL;
            if (fc_motion_new(w, h, &d->motion) != 0) {
                fc_face_input_drop(in);
                j->rc = -ENOMEM;
                return;
            }
            d->motion_w = w;
            d->motion_h = h;
        }
        if (fc_motion_measure(d->motion, luma, w) < threshold) {
            fc_face_input_drop(in);
            j->skipped = true;
            return;
        }
    }
    j->rc = fc_face_input_detect(in, &j->faces);
    if (threshold > 0 && j->rc == 0) fc_motion_commit(d->motion);
}

static void job_free(detect_job *j)
{
    j->d->inflight--;
    fc_frame_unref(j->raw);
    free(j);
}

static void maybe_finish_close(fc_detect *d)
{
    if (!d->closing || d->inflight > 0) return;
    void (*closed)(void *) = d->closed;
    void *arg = d->closed_arg;
    fc_motion_free(d->motion);
    free(d);
    if (closed) closed(arg);
}

/* Worth telling clients: a track came or went, or a box moved or resized by
 * more than 2% of the picture's larger side. */
static bool tracks_changed(const fc_detect *d)
{
    const fc_tracker *t = &d->tracker;
    if (t->count != d->sent_count) return true;
    float tol = 0.02f * (float)(d->width > d->height ? d->width : d->height);
    for (int i = 0; i < t->count; i++) {
        const fc_track *a = &t->track[i], *b = &d->sent[i];
        if (a->id != b->id || fabsf(a->x - b->x) > tol || fabsf(a->y - b->y) > tol ||
            fabsf(a->w - b->w) > tol || fabsf(a->h - b->h) > tol)
            return true;
    }
    return false;
}

static void tell(fc_detect *d, const fc_frame *f)
{
    if (!d->cfg.event) return;
    fc_event *e = d->cfg.event(f, &d->tracker);
    if (!e) {
        if (d->hooks.failed) d->hooks.failed(d->arg, "out of memory for a detections event");
        return;
    }
    if (d->hooks.changed) d->hooks.changed(d->arg, e);
    fc_event_unref(e);
    d->stats.events++;
    d->sent_count = d->tracker.count;
    memcpy(d->sent, d->tracker.track, sizeof(fc_track) * (size_t)d->tracker.count);
}

/* What a finished job found, into the tracker. A job of a picture size the
 * stage has left since (fc_detect_resize) counts for nothing: its boxes
 * would land in the wrong picture. */
static void take_result(fc_detect *d, const detect_job *j, double now)
{
    if (j->raw->width != d->width || j->raw->height != d->height) return;
    if (j->skipped) {
        d->stats.inferences_skipped++;
        fc_tracker_hold(&d->tracker, now);
    } else if (j->rc != 0) {
        if (d->hooks.failed && !d->closing) d->hooks.failed(d->arg, "face detection failed");
    } else {
        d->stats.inferences++;
        if (j->square) d->stats.inferences_square++;
        if (j->faces.count > 0) d->stats.inferences_with_faces++;
        fc_tracker_update(&d->tracker, &j->faces, now);
    }
}

static void detect_done(fc_job *job)
{
    detect_job *j = fc_container_of(job, detect_job, job);
    fc_detect *d = j->d;
    fc_stage_finish(&d->stage, d->pool);
    d->stats.cpu_ns += job->cpu_ns;
    double now = j->raw->timestamp;
    take_result(d, j, now);
    if (!d->closing) {
        fc_ptz_set_tracks(&d->ptz, &d->tracker, now);
        if (tracks_changed(d)) tell(d, j->raw);
    }
    job_free(j);
    maybe_finish_close(d);
}

void fc_detect_submit(fc_detect *d, fc_frame *raw)
{
    detect_job *j = calloc(1, sizeof *j);
    if (!j) {
        if (d->hooks.failed) d->hooks.failed(d->arg, "out of memory for a detect job");
        return;
    }
    j->job = (fc_job){
        .work = detect_work, .done = detect_done, .loop = d->loop, .role = FC_ROLE_ANALYSIS};
    j->d = d;
    j->raw = fc_frame_ref(raw);
    /* Faces the band input would see differently run on the whole square. */
    for (int i = 0; i < d->tracker.count && !j->square; i++) {
        const fc_track *k = &d->tracker.track[i];
        j->square = fc_face_near_band_edge(d->cfg.detector, raw->width, raw->height, k->x, k->y,
                                           k->w, k->h);
    }
    d->inflight++;
    fc_job *replaced = fc_stage_submit(&d->stage, d->pool, &j->job);
    if (replaced) job_free(fc_container_of(replaced, detect_job, job));
}

int fc_detect_create(fc_loop *loop, fc_pool *pool, const fc_detect_config *cfg, int width,
                     int height, const fc_detect_hooks *hooks, void *arg, fc_detect **out,
                     char *err, size_t errlen)
{
    int lw, lh;
    if (width > 0 && fc_face_detector_scaled_size(cfg->detector, width, height, &lw, &lh) != 0) {
        snprintf(err, errlen, "face detection: a %dx%d picture does not fit the model", width,
                 height);
        return -EINVAL;
    }
    fc_detect *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "face detection: out of memory");
        return -ENOMEM;
    }
    d->loop = loop;
    d->pool = pool;
    d->cfg = *cfg;
    if (hooks) d->hooks = *hooks;
    d->arg = arg;
    d->width = width;
    d->height = height;
    fc_tracker_init(&d->tracker, &d->cfg.tracker);
    fc_ptz_init(&d->ptz, &d->cfg.ptz, width, height);
    *out = d;
    return 0;
}

void fc_detect_close(fc_detect *d, void (*done)(void *arg), void *arg)
{
    d->closing = true;
    d->closed = done;
    d->closed_arg = arg;
    fc_job *j = fc_stage_cancel_pending(&d->stage);
    if (j) job_free(fc_container_of(j, detect_job, job));
    maybe_finish_close(d);
}

void fc_detect_resize(fc_detect *d, int width, int height)
{
    if (width == d->width && height == d->height) return;
    d->width = width;
    d->height = height;
    /* Boxes of the old picture mean nothing in the new one: the faces are
     * found again (new ids; ids are never reused) and the PTZ view starts
     * from the whole new picture. The motion gate follows in the next job. */
    d->tracker.count = 0;
    fc_ptz_init(&d->ptz, &d->cfg.ptz, width, height);
}

fc_rect fc_detect_ptz_step(fc_detect *d, double t)
{
    return fc_ptz_step(&d->ptz, t);
}

const fc_detect_config *fc_detect_config_of(const fc_detect *d)
{
    return &d->cfg;
}

const fc_tracker *fc_detect_tracker(const fc_detect *d)
{
    return &d->tracker;
}

fc_rect fc_detect_ptz_view(const fc_detect *d)
{
    return d->ptz.view;
}

void fc_detect_get_stats(const fc_detect *d, fc_detect_stats *out)
{
    *out = d->stats;
    out->coalesced = d->stage.coalesced;
}
