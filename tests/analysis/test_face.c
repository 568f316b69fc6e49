/* The face detector end to end on real pictures, plus its decoding pieces.
 *
 * Reference face box on tests/fixtures/face-astronaut.png, annotated by hand
 * (cheek to cheek, hairline to chin): x=178 y=78 w=94 h=88. A detection counts
 * as on the face when its IoU with that box is at least REF_IOU. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libyuv.h>
#include <libyuv/scale_rgb.h>
#include <turbojpeg.h>

#include "analysis/face/decode.h"
#include "analysis/face/face.h"
#include "sources/image.h"
#include "common.h"

#define REF_X 178.0f
#define REF_Y 78.0f
#define REF_W 94.0f
#define REF_H 88.0f
#define REF_IOU 0.6f

static char *front_path, *back_path, *face_png;
static uint8_t *face_rgb;
static int face_w, face_h;

static float iou_with_reference(const fc_face *f, float dx, float dy)
{
    return fc_face_iou(f->x - dx, f->y - dy, f->x - dx + f->w, f->y - dy + f->h, REF_X, REF_Y,
                       REF_X + REF_W, REF_Y + REF_H);
}

/* Exactly one face, on the reference box (shifted by dx, dy), keypoints
 * inside the detected box. The ear keypoints (tragion) sit on the box's side
 * edges by construction, so the box is widened by KP_MARGIN of its size for
 * them. */
#define KP_MARGIN 0.05f
static void expect_astronaut(const fc_faces *faces, float dx, float dy)
{
    assert_int_equal(faces->count, 1);
    const fc_face *f = &faces->face[0];
    float iou = iou_with_reference(f, dx, dy);
    printf("face score %.3f box %.1f %.1f %.1f %.1f IoU %.3f\n", f->score, f->x - dx, f->y - dy,
           f->w, f->h, iou);
    assert_true(f->score >= 0.5f && f->score <= 1.0f);
    assert_true(iou >= REF_IOU);
    float mx = KP_MARGIN * f->w, my = KP_MARGIN * f->h;
    for (int k = 0; k < FC_FACE_KEYPOINTS; k++) {
        assert_true(f->keypoints[k].x >= f->x - mx && f->keypoints[k].x <= f->x + f->w + mx);
        assert_true(f->keypoints[k].y >= f->y - my && f->keypoints[k].y <= f->y + f->h + my);
    }
    /* Eyes above the mouth; the right eye (of the person) left in the picture. */
    assert_true(f->keypoints[FC_FACE_RIGHT_EYE].y < f->keypoints[FC_FACE_MOUTH].y);
    assert_true(f->keypoints[FC_FACE_RIGHT_EYE].x < f->keypoints[FC_FACE_LEFT_EYE].x);
}

static fc_face_detector *open_detector(const char *path)
{
    char err[512];
    fc_face_detector *d;
    int rc = fc_face_detector_open(path, NULL, &d, err, sizeof err);
    if (rc) fail_msg("%s", err);
    return d;
}

static void anchors_follow_mediapipe_layout(void **state)
{
    (void)state;
    assert_int_equal(fc_blazeface_anchor_count(128), 896);
    assert_int_equal(fc_blazeface_anchor_count(256), 896);
    fc_anchor a[896];
    assert_int_equal(fc_blazeface_anchors(128, a, 896), 896);
    assert_int_equal(fc_blazeface_anchors(128, a, 895), -1);
    /* 16x16 grid, 2 per cell, then 8x8 grid, 6 per cell. */
    assert_float_equal(a[0].x, 0.5f / 16, 1e-6);
    assert_float_equal(a[1].x, 0.5f / 16, 1e-6);
    assert_float_equal(a[2].x, 1.5f / 16, 1e-6);
    assert_float_equal(a[32].y, 1.5f / 16, 1e-6);
    assert_float_equal(a[512].x, 0.5f / 8, 1e-6);
    assert_float_equal(a[517].x, 0.5f / 8, 1e-6);
    assert_float_equal(a[518].x, 1.5f / 8, 1e-6);
    assert_float_equal(a[895].x, 7.5f / 8, 1e-6);
    assert_float_equal(a[895].y, 7.5f / 8, 1e-6);
}

static void decode_applies_anchor_and_sigmoid(void **state)
{
    (void)state;
    fc_anchor anchors[2] = {{0.25f, 0.5f}, {0.75f, 0.75f}};
    float scores[2] = {0.0f, -3.0f}, boxes[32] = {0};
    boxes[0] = 12.8f, boxes[1] = -12.8f, boxes[2] = 32.0f, boxes[3] = 64.0f;
    boxes[4] = 6.4f, boxes[5] = 0.0f;
    fc_face_candidate c[2];
    assert_int_equal(fc_face_decode(scores, boxes, anchors, 2, 128.0f, 0.4f, c), 1);
    assert_float_equal(c[0].score, 0.5f, 1e-6);
    assert_float_equal(c[0].xmin, 0.35f - 0.125f, 1e-6);
    assert_float_equal(c[0].ymax, 0.4f + 0.25f, 1e-6);
    assert_float_equal(c[0].kp[0], 0.3f, 1e-6);
    assert_float_equal(c[0].kp[1], 0.5f, 1e-6);
}

static void weighted_nms_merges_overlaps(void **state)
{
    (void)state;
    fc_face_candidate c[3] = {
        {.xmin = 0.1f, .ymin = 0.1f, .xmax = 0.3f, .ymax = 0.3f, .score = 0.6f},
        {.xmin = 0.12f, .ymin = 0.1f, .xmax = 0.32f, .ymax = 0.3f, .score = 0.9f},
        {.xmin = 0.6f, .ymin = 0.6f, .xmax = 0.8f, .ymax = 0.8f, .score = 0.7f},
    };
    fc_face_candidate out[3];
    assert_int_equal(fc_face_weighted_nms(c, 3, 0.3f, out, 3), 2);
    assert_float_equal(out[0].score, 0.9f, 1e-6);
    assert_float_equal(out[0].xmin, (0.6f * 0.1f + 0.9f * 0.12f) / 1.5f, 1e-6);
    assert_float_equal(out[1].score, 0.7f, 1e-6);
    assert_float_equal(out[1].xmin, 0.6f, 1e-6);
    assert_int_equal(fc_face_weighted_nms(c, 0, 0.3f, out, 3), 0);
}

static void preprocessing_matches_reference_input(void **state)
{
    (void)state;
    fc_face_detector *d = open_detector(front_path);
    char *ppm = test_path("FC_FIXTURES", "nn/face-blazeface-front-128.ppm");
    int w, h;
    uint8_t *ref = read_ppm(ppm, &w, &h);
    assert_non_null(ref);
    assert_int_equal(w, 128);
    uint8_t got[128 * 128 * 3];
    assert_int_equal(fc_face_letterbox_rgb(d, face_rgb, face_w * 3, face_w, face_h, got), 0);
    /* libyuv may pick other SIMD paths on other CPUs: allow one step. */
    for (size_t i = 0; i < sizeof got; i++)
        assert_true(abs((int)got[i] - (int)ref[i]) <= 1);
    free(ref);
    free(ppm);
    fc_face_detector_close(d);
}

static void astronaut_front_model(void **state)
{
    (void)state;
    fc_face_detector *d = open_detector(front_path);
    assert_int_equal(fc_face_detector_input_size(d), 128);
    fc_faces faces;
    assert_int_equal(fc_face_detect_rgb(d, face_rgb, face_w * 3, face_w, face_h, &faces), 0);
    expect_astronaut(&faces, 0, 0);
    fc_face_detector_close(d);
}

static void astronaut_back_model(void **state)
{
    (void)state;
    fc_face_detector *d = open_detector(back_path);
    assert_int_equal(fc_face_detector_input_size(d), 256);
    fc_faces faces;
    assert_int_equal(fc_face_detect_rgb(d, face_rgb, face_w * 3, face_w, face_h, &faces), 0);
    expect_astronaut(&faces, 0, 0);
    fc_face_detector_close(d);
}

/* The picture on a wider, odd-sized grey canvas as I420: exercises the
 * letterbox offsets and the I420 path. */
static void astronaut_i420_letterboxed(void **state)
{
    (void)state;
    enum { CW = 641, CH = 515, DX = 70, DY = 3 };
    uint8_t *canvas = malloc(CW * CH * 3);
    assert_non_null(canvas);
    memset(canvas, 128, CW * CH * 3);
    for (int y = 0; y < face_h; y++)
        memcpy(canvas + ((size_t)(y + DY) * CW + DX) * 3, face_rgb + (size_t)y * face_w * 3,
               (size_t)face_w * 3);
    int cw = (CW + 1) / 2, ch = (CH + 1) / 2;
    uint8_t *yp = malloc(CW * CH), *up = malloc((size_t)cw * ch), *vp = malloc((size_t)cw * ch);
    assert_true(yp && up && vp);
    assert_int_equal(RAWToI420(canvas, CW * 3, yp, CW, up, cw, vp, cw, CW, CH), 0);
    fc_face_detector *d = open_detector(front_path);
    fc_faces faces;
    assert_int_equal(fc_face_detect_i420(d, yp, CW, up, cw, vp, cw, CW, CH, &faces), 0);
    expect_astronaut(&faces, DX, DY);
    fc_face_detector_close(d);
    free(canvas);
    free(yp);
    free(up);
    free(vp);
}

/* A band's anchors are the square's grid cut to the band and moved to where
 * the band sits; for the whole square they are exactly the square's. */
static void band_anchors_follow_the_band(void **state)
{
    (void)state;
    fc_anchor sq[896], band[896];
    assert_int_equal(fc_blazeface_anchors(128, sq, 896), 896);
    assert_int_equal(fc_blazeface_band_anchors(128, 128, 128, 0, 0, band, 896), 896);
    assert_memory_equal(sq, band, sizeof sq);
    /* 128x80 at y 24: 16x10 cells of 8 px with 2 anchors, 8x5 of 16 px with 6. */
    assert_int_equal(fc_blazeface_band_anchor_count(128, 128, 80), 16 * 10 * 2 + 8 * 5 * 6);
    assert_int_equal(fc_blazeface_band_anchors(128, 128, 80, 0, 24, band, 896), 560);
    assert_float_equal(band[0].x, 4.0f / 128, 1e-6);
    assert_float_equal(band[0].y, (24 + 4.0f) / 128, 1e-6);
    assert_float_equal(band[319].y, (24 + 76.0f) / 128, 1e-6); /* last fine cell */
    assert_float_equal(band[320].y, (24 + 8.0f) / 128, 1e-6);  /* first coarse cell */
    assert_float_equal(band[559].x, 120.0f / 128, 1e-6);
    assert_float_equal(band[559].y, (24 + 72.0f) / 128, 1e-6);
    /* Not a multiple of the coarsest stride: refused. */
    assert_int_equal(fc_blazeface_band_anchor_count(128, 128, 72), -1);
}

static fc_face_detector *open_square(const char *path, bool square)
{
    char err[512];
    fc_face_detector *d;
    fc_face_detector_opts o = {.square_input = square};
    if (fc_face_detector_open(path, &o, &d, err, sizeof err)) fail_msg("%s", err);
    return d;
}

/* The astronaut, 3x, centred on a 1280x720 grey-ramp frame: what a camera
 * stream sees. Run on the band the picture fills and on the whole square,
 * the same face comes out. (Faces cut by the top or bottom edge of the frame
 * differ more; docs/detection.md has the figures.) */
static void band_and_square_agree(const char *model, int band_h)
{
    enum { W = 1280, H = 720, F = 3 };
    int sw = face_w * F, sh = face_h * F;
    uint8_t *big = malloc((size_t)sw * sh * 3), *canvas = malloc(W * H * 3);
    uint8_t *yp = malloc(W * H), *up = malloc(W * H / 4), *vp = malloc(W * H / 4);
    assert_true(big && canvas && yp && up && vp);
    assert_int_equal(
        RGBScale(face_rgb, face_w * 3, face_w, face_h, big, sw * 3, sw, sh, kFilterBox), 0);
    for (int i = 0; i < W * H * 3; i++)
        canvas[i] = (uint8_t)(40 + (i / 3 % W) * 60 / W);
    /* The reference face's centre at the frame's centre. */
    int ox = W / 2 - (int)((REF_X + REF_W / 2) * F), oy = H / 2 - (int)((REF_Y + REF_H / 2) * F);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int iy = y - oy, ix = x - ox;
            if (iy >= 0 && iy < sh && ix >= 0 && ix < sw)
                memcpy(canvas + ((size_t)y * W + x) * 3, big + ((size_t)iy * sw + ix) * 3, 3);
        }
    assert_int_equal(RAWToI420(canvas, W * 3, yp, W, up, W / 2, vp, W / 2, W, H), 0);

    fc_face_detector *band = open_square(model, false), *square = open_square(model, true);
    int size = fc_face_detector_input_size(band), iw, ih;
    assert_int_equal(fc_face_detector_input_for(band, W, H, &iw, &ih), 0);
    assert_int_equal(iw, size);
    assert_int_equal(ih, band_h);
    assert_int_equal(fc_face_detector_input_for(square, W, H, &iw, &ih), 0);
    assert_int_equal(ih, size);
    fc_faces a, b;
    assert_int_equal(fc_face_detect_i420(band, yp, W, up, W / 2, vp, W / 2, W, H, &a), 0);
    assert_int_equal(fc_face_detect_i420(square, yp, W, up, W / 2, vp, W / 2, W, H, &b), 0);
    assert_int_equal(a.count, 1);
    assert_int_equal(b.count, 1);
    const fc_face *fa = &a.face[0], *fb = &b.face[0];
    float iou = fc_face_iou(fa->x, fa->y, fa->x + fa->w, fa->y + fa->h, fb->x, fb->y, fb->x + fb->w,
                            fb->y + fb->h);
    float kp = 0;
    for (int k = 0; k < FC_FACE_KEYPOINTS; k++)
        kp = fmaxf(kp, hypotf(fa->keypoints[k].x - fb->keypoints[k].x,
                              fa->keypoints[k].y - fb->keypoints[k].y));
    printf("%s band %dx%d: IoU with square %.4f, scores %.4f / %.4f, keypoints within %.2f px\n",
           model, iw, band_h, iou, fa->score, fb->score, kp);
    assert_true(iou >= 0.95f);
    assert_true(fabsf(fa->score - fb->score) <= 0.03f);
    assert_true(kp <= 0.03f * fb->w);
    /* And it is the astronaut's face, where it was put. */
    assert_true(fc_face_iou(fa->x, fa->y, fa->x + fa->w, fa->y + fa->h, ox + REF_X * F,
                            oy + REF_Y * F, ox + (REF_X + REF_W) * F,
                            oy + (REF_Y + REF_H) * F) >= REF_IOU);
    fc_face_detector_close(band);
    fc_face_detector_close(square);
    free(big);
    free(canvas);
    free(yp);
    free(up);
    free(vp);
}

/* Which boxes send a picture to the square: across or within 5% of the
 * edges the band cuts. */
static void band_edges(void **state)
{
    (void)state;
    fc_face_detector *band = open_square(front_path, false),
                     *square = open_square(front_path, true);
    /* 1280x720: the band cuts top and bottom; 5% is 36 px. */
    assert_true(fc_face_near_band_edge(band, 1280, 720, 500, 30, 200, 200));
    assert_true(fc_face_near_band_edge(band, 1280, 720, 500, -30, 200, 200));
    assert_true(fc_face_near_band_edge(band, 1280, 720, 500, 490, 200, 200));
    assert_false(fc_face_near_band_edge(band, 1280, 720, 500, 40, 200, 200));
    assert_false(fc_face_near_band_edge(band, 1280, 720, 500, 480, 200, 200));
    assert_false(fc_face_near_band_edge(band, 1280, 720, 0, 100, 200, 200)); /* sides: no */
    /* 720x1280: the sides. */
    assert_true(fc_face_near_band_edge(band, 720, 1280, 20, 500, 200, 200));
    assert_false(fc_face_near_band_edge(band, 720, 1280, 40, 0, 200, 200));
    /* Square pictures and the square input have no band edges. */
    assert_false(fc_face_near_band_edge(band, 512, 512, 0, 0, 100, 100));
    assert_false(fc_face_near_band_edge(square, 1280, 720, 500, 0, 200, 200));
    fc_face_detector_close(band);
    fc_face_detector_close(square);
}

/* FC_FACE_SQUARE runs a band detector's picture on the square: exactly what a
 * square detector answers. */
static void square_flag_is_the_square(void **state)
{
    (void)state;
    enum { W = 640, H = 360 };
    uint8_t *canvas = malloc(W * H * 3), *yp = malloc(W * H), *up = malloc(W * H / 4),
            *vp = malloc(W * H / 4);
    assert_true(canvas && yp && up && vp);
    memset(canvas, 90, W * H * 3);
    for (int y = 0; y < H; y++) /* the top of the face fixture, cut by the frame's top */
        memcpy(canvas + ((size_t)y * W + 64) * 3, face_rgb + (size_t)(y + 60) * face_w * 3,
               (size_t)face_w * 3);
    assert_int_equal(RAWToI420(canvas, W * 3, yp, W, up, W / 2, vp, W / 2, W, H), 0);
    fc_face_detector *band = open_square(front_path, false),
                     *square = open_square(front_path, true);
    fc_face_input *in;
    fc_faces a, b;
    assert_int_equal(
        fc_face_prepare_i420(band, yp, W, up, W / 2, vp, W / 2, W, H, FC_FACE_SQUARE, &in), 0);
    assert_int_equal(fc_face_input_detect(in, &a), 0);
    assert_int_equal(fc_face_detect_i420(square, yp, W, up, W / 2, vp, W / 2, W, H, &b), 0);
    assert_true(b.count >= 1);
    assert_int_equal(a.count, b.count);
    assert_memory_equal(a.face, b.face, (size_t)a.count * sizeof a.face[0]);
    fc_face_detector_close(band);
    fc_face_detector_close(square);
    free(canvas);
    free(yp);
    free(up);
    free(vp);
}

static void band_and_square_agree_front(void **state)
{
    (void)state;
    band_and_square_agree(front_path, 80);
}

static void band_and_square_agree_back(void **state)
{
    (void)state;
    band_and_square_agree(back_path, 160);
}

/* Gradients, stripes and a checkerboard: structure, but nothing face-like. */
static void no_face_in_generated_picture(void **state)
{
    (void)state;
    enum { W = 320, H = 240 };
    uint8_t *rgb = malloc(W * H * 3);
    assert_non_null(rgb);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + (y * W + x) * 3;
            int check = ((x / 40) + (y / 40)) % 2;
            p[0] = (uint8_t)(x * 255 / W);
            p[1] = (uint8_t)(127 + 100 * sinf((float)x * 0.15f + (float)y * 0.05f));
            p[2] = (uint8_t)(check ? 220 : 30);
        }
    fc_face_detector *d = open_detector(front_path);
    fc_faces faces;
    assert_int_equal(fc_face_detect_rgb(d, rgb, W * 3, W, H, &faces), 0);
    assert_int_equal(faces.count, 0);
    fc_face_detector_close(d);
    free(rgb);
}

static void bad_pictures_are_rejected(void **state)
{
    (void)state;
    fc_face_detector *d = open_detector(front_path);
    fc_faces faces;
    uint8_t px[12] = {0};
    assert_int_equal(fc_face_detect_rgb(d, px, 6, 0, 2, &faces), -EINVAL);
    assert_int_equal(fc_face_detect_rgb(d, NULL, 6, 2, 2, &faces), -EINVAL);
    assert_int_equal(fc_face_detect_rgb(d, px, 3, 2, 2, &faces), -EINVAL); /* stride < row */
    assert_int_equal(fc_face_detect_i420(d, px, 2, NULL, 1, px, 1, 2, 2, &faces), -EINVAL);
    assert_int_equal(faces.count, 0);
    fc_face_detector_close(d);
}

static void non_blazeface_model_is_rejected(void **state)
{
    (void)state;
    char err[512];
    fc_face_detector *d;
    assert_true(fc_face_detector_open("/nonexistent.onnx", NULL, &d, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent.onnx"));
    assert_true(fc_face_detector_open(face_png, NULL, &d, err, sizeof err) < 0);
    assert_non_null(strstr(err, "not an ONNX model"));
}

typedef struct worker_arg {
    fc_face_detector *d;
    fc_faces first;
    int mismatches, failures;
} worker_arg;

/* Only the first count entries of fc_faces are written. */
static bool same_faces(const fc_faces *a, const fc_faces *b)
{
    return a->count == b->count &&
           memcmp(a->face, b->face, (size_t)a->count * sizeof a->face[0]) == 0;
}

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < 15; i++) {
        fc_faces f;
        if (fc_face_detect_rgb(a->d, face_rgb, face_w * 3, face_w, face_h, &f) != 0)
            a->failures++;
        else if (i == 0)
            a->first = f;
        else if (!same_faces(&f, &a->first))
            a->mismatches++;
    }
    return NULL;
}

/* Concurrent callers share one detector and get identical answers. */
static void concurrent_detections_agree(void **state)
{
    (void)state;
    fc_face_detector *d = open_detector(front_path);
    worker_arg args[3] = {{.d = d}, {.d = d}, {.d = d}};
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(args[i].failures, 0);
        assert_int_equal(args[i].mismatches, 0);
        assert_true(same_faces(&args[i].first, &args[0].first));
        expect_astronaut(&args[i].first, 0, 0);
    }
    fc_face_detector_close(d);
}

static void jpeg_input_decodes_and_detects(void **state)
{
    (void)state;
    tjhandle tj = tjInitCompress();
    assert_non_null(tj);
    unsigned char *jpeg = NULL;
    unsigned long jlen = 0;
    assert_int_equal(tjCompress2(tj, face_rgb, face_w, face_w * 3, face_h, TJPF_RGB, &jpeg, &jlen,
                                 TJSAMP_420, 90, 0),
                     0);
    char path[] = "/tmp/fc-test-face-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, jpeg, jlen), (ssize_t)jlen);
    close(fd);
    tjFree(jpeg);
    tjDestroy(tj);

    char err[512];
    uint8_t *rgb;
    int w, h;
    assert_int_equal(fc_image_load_rgb(path, &rgb, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, face_w);
    assert_int_equal(h, face_h);
    fc_face_detector *d = open_detector(front_path);
    fc_faces faces;
    assert_int_equal(fc_face_detect_rgb(d, rgb, w * 3, w, h, &faces), 0);
    expect_astronaut(&faces, 0, 0);
    fc_face_detector_close(d);
    free(rgb);

    /* Cut short, it is an error, not a crash. */
    assert_int_equal(truncate(path, 200), 0);
    assert_true(fc_image_load_rgb(path, &rgb, &w, &h, err, sizeof err) < 0);
    assert_non_null(strstr(err, path));
    unlink(path);
}

int main(void)
{
    front_path = require_model("blazeface-front-128.onnx");
    back_path = require_model("blazeface-back-256.onnx");
    face_png = test_path("FC_FIXTURES", "face-astronaut.png");
    char err[512];
    if (fc_image_load_rgb(face_png, &face_rgb, &face_w, &face_h, err, sizeof err) != 0) {
        fprintf(stderr, "FAIL: %s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(anchors_follow_mediapipe_layout),
        cmocka_unit_test(decode_applies_anchor_and_sigmoid),
        cmocka_unit_test(weighted_nms_merges_overlaps),
        cmocka_unit_test(preprocessing_matches_reference_input),
        cmocka_unit_test(astronaut_front_model),
        cmocka_unit_test(astronaut_back_model),
        cmocka_unit_test(astronaut_i420_letterboxed),
        cmocka_unit_test(band_anchors_follow_the_band),
        cmocka_unit_test(band_and_square_agree_front),
        cmocka_unit_test(band_and_square_agree_back),
        cmocka_unit_test(band_edges),
        cmocka_unit_test(square_flag_is_the_square),
        cmocka_unit_test(no_face_in_generated_picture),
        cmocka_unit_test(bad_pictures_are_rejected),
        cmocka_unit_test(non_blazeface_model_is_rejected),
        cmocka_unit_test(concurrent_detections_agree),
        cmocka_unit_test(jpeg_input_decodes_and_detects),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(face_rgb);
    free(front_path);
    free(back_path);
    free(face_png);
    return rc;
}
