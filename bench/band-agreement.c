/* How far face detection on the band a wide picture fills strays from the
 * square letterbox run (MediaPipe's reference input), and what it saves.
 *
 *   build/bench/band-agreement MODEL FACE.png W H [FX FY]
 *
 * The face picture is scaled 1x to 4x and pasted on a W x H grey ramp with
 * the face's centre (FX, FY in the picture; default 225 122, the astronaut
 * fixture's) at 15 places: 5 across at 10%, 50% and 90% of the height (the
 * top and bottom rows cut the larger faces). Each frame is converted to I420
 * and detected with both inputs. Prints
 * one Markdown row per row of places: faces found by each, box IoU between the
 * two runs (min and median), the largest score difference and keypoint
 * distance (share of the face's width), and the CPU per detection of each. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libyuv.h>
#include <libyuv/scale_rgb.h>

#include "analysis/face/face.h"
#include "sources/image.h"

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static float iou(const fc_face *a, const fc_face *b)
{
    float x0 = fmaxf(a->x, b->x), y0 = fmaxf(a->y, b->y);
    float x1 = fminf(a->x + a->w, b->x + b->w), y1 = fminf(a->y + a->h, b->y + b->h);
    if (x1 <= x0 || y1 <= y0) return 0;
    float i = (x1 - x0) * (y1 - y0);
    return i / (a->w * a->h + b->w * b->h - i);
}

static int by_value(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 7) {
        fprintf(stderr, "usage: band-agreement MODEL FACE.png W H [FX FY]\n");
        return 2;
    }
    char err[512];
    fc_face_detector *det[2];
    for (int k = 0; k < 2; k++) {
        fc_face_detector_opts o = {.square_input = k == 1};
        if (fc_face_detector_open(argv[1], &o, &det[k], err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    uint8_t *rgb;
    int iw, ih, W = atoi(argv[3]), H = atoi(argv[4]);
    float fx = argc == 7 ? strtof(argv[5], NULL) : 225,
          fy = argc == 7 ? strtof(argv[6], NULL) : 122;
    if (W < 16 || H < 16 || W > 4096 || H > 4096 || W % 2 || H % 2) {
        fprintf(stderr, "W and H: even, 16 to 4096\n");
        return 2;
    }
    if (fc_image_load_rgb(argv[2], &rgb, &iw, &ih, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    uint8_t *canvas = malloc((size_t)W * H * 3), *y = malloc((size_t)W * H);
    uint8_t *u = malloc((size_t)W * H / 4), *v = malloc((size_t)W * H / 4);
    if (!canvas || !y || !u || !v) return 1;
    int bw, bh;
    fc_face_detector_input_for(det[0], W, H, &bw, &bh);
    static const char *const rows[3] = {"10% (top edge)", "50%", "90% (bottom edge)"};
    static const float scales[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    for (int row = 0; row < 3; row++) {
        int found[2] = {0, 0}, both = 0, tries = 0;
        float ious[32], worst_score = 0, worst_kp = 0;
        double cpu[2] = {0, 0};
        for (int si = 0; si < 4; si++) {
            int sw = (int)((float)iw * scales[si]), sh = (int)((float)ih * scales[si]);
            uint8_t *big = malloc((size_t)sw * sh * 3);
            if (!big) return 1;
            RGBScale(rgb, iw * 3, iw, ih, big, sw * 3, sw, sh, kFilterBox);
            for (int col = 0; col < 5; col++, tries++) {
                for (int i = 0; i < W * H * 3; i++)
                    canvas[i] = (uint8_t)(40 + (i / 3 % W) * 60 / W);
                int ox = (int)((float)W * (0.1f + 0.2f * (float)col) - fx * scales[si]);
                int oy = (int)((float)H * (0.1f + 0.4f * (float)row) - fy * scales[si]);
                for (int r = 0; r < H; r++)
                    for (int c = 0; c < W; c++) {
                        int yy = r - oy, xx = c - ox;
                        if (yy >= 0 && yy < sh && xx >= 0 && xx < sw)
                            memcpy(canvas + ((size_t)r * W + c) * 3,
                                   big + ((size_t)yy * sw + xx) * 3, 3);
                    }
                RAWToI420(canvas, W * 3, y, W, u, W / 2, v, W / 2, W, H);
                fc_faces f[2];
                for (int k = 0; k < 2; k++) {
                    double t0 = cpu_us();
                    fc_face_detect_i420(det[k], y, W, u, W / 2, v, W / 2, W, H, &f[k]);
                    cpu[k] += cpu_us() - t0;
                    found[k] += f[k].count > 0;
                }
                if (f[0].count == 0 || f[1].count == 0) continue;
                const fc_face *a = &f[0].face[0], *b = &f[1].face[0];
                ious[both++] = iou(a, b);
                worst_score = fmaxf(worst_score, fabsf(a->score - b->score));
                for (int p = 0; p < FC_FACE_KEYPOINTS; p++)
                    worst_kp = fmaxf(worst_kp, hypotf(a->keypoints[p].x - b->keypoints[p].x,
                                                      a->keypoints[p].y - b->keypoints[p].y) /
                                                   b->w);
            }
            free(big);
        }
        qsort(ious, (size_t)both, sizeof *ious, by_value);
        printf(
            "| %dx%d | %dx%d | %s | %d / %d / %d | %.3f | %.3f | %.3f | %.1f%% | %.0f | %.0f |\n",
            W, H, bw, bh, rows[row], found[0], found[1], tries, both ? ious[0] : 0,
            both ? ious[both / 2] : 0, worst_score, 100 * worst_kp, cpu[0] / tries, cpu[1] / tries);
    }
    free(canvas), free(y), free(u), free(v), free(rgb);
    fc_face_detector_close(det[0]);
    fc_face_detector_close(det[1]);
    return 0;
}
