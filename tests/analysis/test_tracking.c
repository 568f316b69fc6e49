/* What detection in streams builds on: motion gating, the tracker and the PTZ
 * controller, without a server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "analysis/motion.h"
#include "analysis/ptz.h"
#include "analysis/tracker.h"
#include "sources/source.h"

static fc_faces one_face(float x, float y, float w, float h)
{
    fc_faces f = {.count = 1};
    f.face[0] = (fc_face){.x = x, .y = y, .w = w, .h = h, .score = 0.9f};
    return f;
}

static void tracker_keeps_ids_through_motion(void **state)
{
    (void)state;
    fc_tracker t;
    fc_tracker_init(&t, &(fc_tracker_config)FC_TRACKER_CONFIG_DEFAULT);
    /* A face drifting 8 px per run (a pan), sometimes with no overlap left
     * after a jump: the centre-distance rule keeps it. */
    for (int i = 0; i < 40; i++) {
        fc_faces f = one_face(100.0f + 8.0f * (float)i, 50, 60, 60);
        fc_tracker_update(&t, &f, i * 0.5);
        assert_int_equal(t.count, 1);
        assert_int_equal(t.track[0].id, 1);
    }
    /* Smoothed: the box lags behind a moving face but stays near it. */
    assert_true(fabsf(t.track[0].x - (100 + 8 * 39)) < 16);
    /* A second face far away is a new track; both keep their ids. */
    fc_faces two = one_face(420, 50, 60, 60);
    two.count = 2;
    two.face[1] = (fc_face){.x = 10, .y = 200, .w = 40, .h = 40, .score = 0.8f};
    fc_tracker_update(&t, &two, 20.0);
    assert_int_equal(t.count, 2);
    assert_int_equal(t.track[0].id, 1);
    assert_int_equal(t.track[1].id, 2);
}

static void tracker_expires_and_holds(void **state)
{
    (void)state;
    fc_tracker t;
    fc_tracker_config cfg = FC_TRACKER_CONFIG_DEFAULT;
    cfg.expiry_s = 1.0;
    fc_tracker_init(&t, &cfg);
    fc_faces f = one_face(10, 10, 50, 50), none = {0};
    fc_tracker_update(&t, &f, 0);
    fc_tracker_update(&t, &none, 0.5); /* one miss: still there */
    assert_int_equal(t.count, 1);
    fc_tracker_update(&t, &none, 1.2);
    assert_int_equal(t.count, 0);
    /* A face that comes back later gets a new id. */
    fc_tracker_update(&t, &f, 2.0);
    assert_int_equal(t.track[0].id, 2);
    /* Gating: a scene that does not change keeps its matched track alive... */
    for (double now = 2.5; now < 30; now += 0.5)
        fc_tracker_hold(&t, now);
    assert_int_equal(t.count, 1);
    /* ...but not a track the last inference had already lost. */
    fc_tracker_update(&t, &none, 30.0);
    for (double now = 30.5; now < 32; now += 0.5)
        fc_tracker_hold(&t, now);
    assert_int_equal(t.count, 0);
}

static void box_iou(void **state)
{
    (void)state;
    assert_float_equal(fc_box_iou(0, 0, 10, 10, 0, 0, 10, 10), 1.0, 1e-6);
    assert_float_equal(fc_box_iou(0, 0, 10, 10, 5, 0, 10, 10), 50.0 / 150.0, 1e-6);
    assert_float_equal(fc_box_iou(0, 0, 10, 10, 20, 20, 5, 5), 0.0, 1e-6);
}

/* Renders frames of the image source the way a stream does. */
static fc_frame *render(fc_source *src, uint32_t index, double t)
{
    fc_frame *f = NULL;
    assert_int_equal(src->ops->render(src, index, t, &f), 0);
    return f;
}

static void motion_gates_a_still_picture_not_a_pan(void **state)
{
    (void)state;
    char err[256], spec_text[1200];
    const char *fixtures = getenv("FC_FIXTURES");
    assert_non_null(fixtures);
    char face[1024];
    snprintf(face, sizeof face, "%s/face-astronaut.png", fixtures);
    for (int still = 0; still <= 1; still++) {
        for (int big = 0; big <= 1; big++) {
            int w = big ? 1280 : 320, h = big ? 720 : 180;
            snprintf(spec_text, sizeof spec_text, "synthetic:image=%s,motion=%d", face, !still);
            fc_source_spec spec;
            assert_int_equal(fc_source_spec_parse(spec_text, &spec, err, sizeof err), 0);
            fc_source *src;
            assert_int_equal(fc_source_create(&spec, w, h, 30, &src, err, sizeof err), 0);
            fc_motion *m;
            assert_int_equal(fc_motion_new(w, h, &m), 0);
            /* Frames half a second apart (2 Hz detection); the burned-in clock
             * changes every time. */
            fc_frame *a = render(src, 0, 1000.0);
            assert_true(fc_motion_measure(m, a->plane[0], a->stride[0]) == 1.0);
            fc_motion_commit(m);
            double worst = 0, least = 1;
            for (int i = 1; i <= 8; i++) {
                fc_frame *b = render(src, (uint32_t)(15 * i), 1000.0 + 0.5 * i + 0.123);
                double changed = fc_motion_measure(m, b->plane[0], b->stride[0]);
                worst = fmax(worst, changed);
                least = fmin(least, changed);
                fc_frame_unref(b);
            }
            if (still)
                assert_true(worst < 0.01 / 2); /* half the default threshold */
            else
                assert_true(least > 0.01 * 2);
            fc_frame_unref(a);
            fc_motion_free(m);
            fc_source_destroy(src);
        }
    }
}

static fc_tracker tracker_with(float x, float y, float w, float h)
{
    fc_tracker t;
    fc_tracker_init(&t, &(fc_tracker_config)FC_TRACKER_CONFIG_DEFAULT);
    fc_faces f = one_face(x, y, w, h);
    fc_tracker_update(&t, &f, 0);
    return t;
}

static void ptz_frames_eases_and_stands_still(void **state)
{
    (void)state;
    fc_ptz p;
    fc_ptz_init(&p, &(fc_ptz_config)FC_PTZ_CONFIG_DEFAULT, 1280, 720);
    fc_rect v = fc_ptz_step(&p, 100.0);
    assert_true(v.x == 0 && v.y == 0 && v.w == 1280 && v.h == 720);
    /* A 90 px face: the view is 300 px tall (face_size 0.3), centred on the
     * face horizontally, the face at 0.4 of its height. */
    fc_tracker t = tracker_with(600, 300, 90, 90);
    fc_ptz_set_tracks(&p, &t, 100.0);
    double prev_w = 1280;
    for (int i = 1; i < 120; i++) {
        double now = 100.0 + i / 30.0;
        if (i % 15 == 0) /* detection at 2 Hz */
            fc_ptz_set_tracks(&p, &t, now);
        v = fc_ptz_step(&p, now);
        /* speed limit: 0.5 widths/s = at most ~21 px per 30 fps frame */
        assert_true(prev_w - v.w <= 0.5 * 1280 / 30.0 + 1e-6);
        prev_w = v.w;
    }
    assert_true(fabs(v.h - 300) < 300 * 0.05);
    assert_true(fabs(v.x + v.w / 2 - 645) < v.w * 0.05);
    assert_true(fabs(v.y + v.h * 0.4 - 345) < v.h * 0.05);
    /* Detector noise of a few pixels moves nothing (deadband). */
    fc_rect rest = v;
    for (int i = 0; i < 60; i++) {
        double now = 104 + i / 30.0;
        if (i % 15 == 0) {
            t = tracker_with(600.0f + (float)(i % 2 ? 4 : -4), 300.0f + (float)(i % 3), 90, 92);
            fc_ptz_set_tracks(&p, &t, now);
        }
        v = fc_ptz_step(&p, now);
        assert_true(v.x == rest.x && v.y == rest.y && v.w == rest.w);
    }
    /* No face for longer than hold_s: back to the full frame. */
    fc_tracker empty;
    fc_tracker_init(&empty, &(fc_tracker_config)FC_TRACKER_CONFIG_DEFAULT);
    for (double now = 106; now < 112; now += 1.0 / 30) {
        fc_ptz_set_tracks(&p, &empty, now);
        v = fc_ptz_step(&p, now);
    }
    assert_true(v.w > 1280 * 0.95 && v.x >= 0 && v.x + v.w <= 1280 + 1e-6);
}

static void ptz_render_crops_to_source_size(void **state)
{
    (void)state;
    fc_frame *src = fc_frame_new_i420(320, 180);
    assert_non_null(src);
    /* Left half dark, right half bright: a crop of the right half is bright. */
    for (int y = 0; y < 180; y++)
        for (int x = 0; x < 320; x++)
            src->plane[0][y * src->stride[0] + x] = x < 160 ? 20 : 220;
    memset(src->plane[1], 128, (size_t)src->stride[1] * 90);
    memset(src->plane[2], 128, (size_t)src->stride[2] * 90);
    src->id = 7;
    src->timestamp = 1.5;
    fc_frame *out;
    assert_int_equal(fc_ptz_render(src, (fc_rect){200, 40, 80, 45}, &out), 0);
    assert_int_equal(out->width, 320);
    assert_int_equal(out->height, 180);
    assert_int_equal(out->id, 7);
    assert_true(out->timestamp == 1.5);
    assert_int_equal(out->plane[0][90 * out->stride[0] + 160], 220);
    fc_frame_unref(out);
    /* A view hanging off the picture is moved inside it. */
    assert_int_equal(fc_ptz_render(src, (fc_rect){300, 170, 81, 45}, &out), 0);
    fc_frame_unref(out);
    fc_frame_unref(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tracker_keeps_ids_through_motion),
        cmocka_unit_test(tracker_expires_and_holds),
        cmocka_unit_test(box_iou),
        cmocka_unit_test(motion_gates_a_still_picture_not_a_pan),
        cmocka_unit_test(ptz_frames_eases_and_stands_still),
        cmocka_unit_test(ptz_render_crops_to_source_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
