/* fc_ptz: a virtual pan/tilt/zoom camera that keeps tracked faces framed.
 *
 * The view is a crop rectangle of the source with the source's aspect ratio.
 * Its target frames the union of the live tracks: the faces fill `face_size`
 * of the view's height, their centre sits at `face_y` of the view's height
 * (0.4: a little above the middle, room for the shoulders), zoomed in at most
 * `max_zoom` times, always inside the picture. With no track for `hold_s`
 * the target is the full frame.
 *
 * The view moves towards the target smoothly and only when it must:
 *   - deadband: at rest, it moves only once the target's centre or size is
 *     more than `deadband` (a fraction of the view's size) away; once moving
 *     it continues until it is within a quarter of that, so a face that sits
 *     still gives a view that stands still, not one that twitches with every
 *     detection;
 *   - easing: each step covers a fixed share of the remaining distance per
 *     unit of time (time constant `ease_s`), so it slows down as it arrives;
 *   - speed limit: never faster than `speed` source widths per second.
 *
 * Controller: plain data, one stream's loop thread. fc_ptz_render: any thread
 * (a worker), pure. */
#ifndef FC_ANALYSIS_PTZ_H
#define FC_ANALYSIS_PTZ_H

#include <stdbool.h>

#include "analysis/tracker.h"
#include "core/frame.h"

typedef struct fc_ptz_config {
    double face_size; /* faces' height / view height (0.3) */
    double face_y;    /* faces' centre, from the view's top, / view height (0.4) */
    double max_zoom;  /* smallest view = source / max_zoom (4) */
    double speed;     /* most the view moves, source widths per second (0.5) */
    double ease_s;    /* easing time constant, seconds (0.4) */
    double deadband;  /* fraction of the view size the target may wander at rest (0.05) */
    double hold_s;    /* seconds without a face before going back to full frame (2) */
} fc_ptz_config;

#define FC_PTZ_CONFIG_DEFAULT                                                                      \
    {                                                                                              \
        0.3, 0.4, 4.0, 0.5, 0.4, 0.05, 2.0                                                         \
    }

typedef struct fc_rect {
    double x, y, w, h;
} fc_rect;

typedef struct fc_ptz {
    fc_ptz_config cfg;
    int src_w, src_h;
    fc_rect view, target;
    bool moving;
    double last_face_t, last_step_t; /* seconds; 0 = never */
} fc_ptz;

void fc_ptz_init(fc_ptz *p, const fc_ptz_config *cfg, int src_w, int src_h);
/* New tracking results at time `now` (seconds): recomputes the target. */
void fc_ptz_set_tracks(fc_ptz *p, const fc_tracker *t, double now);
/* Advances the view to time `now` and returns it. Call once per output frame. */
fc_rect fc_ptz_step(fc_ptz *p, double now);

/* Worker: a new I420 frame of src's size showing `view` (snapped to even
 * pixels inside the picture) scaled up, with src's id and timestamp.
 * Returns 0 or -ENOMEM. */
int fc_ptz_render(const fc_frame *src, fc_rect view, fc_frame **out);

#endif
