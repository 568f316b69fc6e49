/* What one detection of a 720p I420 frame costs in thread CPU back to back,
 * after an idle gap, and after other data went through the caches; with the
 * band and the square model input.
 *
 *   build/bench/detect-idle MODEL [RUNS]      (bench/detect-streams explains why)
 *
 * Prints the median and 90th percentile of RUNS (default 300) detections per
 * case. The frame is a fixed pattern: the figure is the cost, not the faces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis/face/face.h"

static double cpu_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: detect-idle MODEL [RUNS]\n");
        return 2;
    }
    int runs = argc == 3 ? atoi(argv[2]) : 300;
    if (runs < 10 || runs > 100000) {
        fprintf(stderr, "RUNS: 10 to 100000\n");
        return 2;
    }
    enum { W = 1280, H = 720 };
    size_t junk_size = 64u << 20;
    uint8_t *f = malloc(W * H * 3 / 2);
    char *junk = malloc(junk_size);
    double *t = malloc((size_t)runs * sizeof *t);
    if (!f || !junk || !t) return 1;
    for (int i = 0; i < W * H * 3 / 2; i++)
        f[i] = (uint8_t)((i * 7 + (i / W) * 3) & 255);
    memset(junk, 1, junk_size);
    static const struct {
        const char *name;
        int sleep_ms;
        size_t touch;
    } cases[] = {{"back to back", 0, 0},
                 {"after 30 ms idle", 30, 0},
                 {"after touching 2 MB", 0, 2u << 20},
                 {"after touching 64 MB", 0, 64u << 20}};
    printf("| model input | case | median (us) | p90 (us) |\n|---|---|---|---|\n");
    for (int square = 0; square < 2; square++) {
        char err[512];
        fc_face_detector *d;
        fc_face_detector_opts o = {.square_input = square};
        if (fc_face_detector_open(argv[1], &o, &d, err, sizeof err) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
            for (int r = 0; r < runs; r++) {
                if (cases[c].sleep_ms) usleep((useconds_t)cases[c].sleep_ms * 1000);
                if (cases[c].touch) memset(junk, r, cases[c].touch);
                fc_faces out;
                double t0 = cpu_us();
                fc_face_detect_i420(d, f, W, f + W * H, W / 2, f + W * H * 5 / 4, W / 2, W, H,
                                    &out);
                t[r] = cpu_us() - t0;
            }
            qsort(t, (size_t)runs, sizeof *t, by_value);
            printf("| %s | %s | %.0f | %.0f |\n", square ? "square" : "band", cases[c].name,
                   t[runs / 2], t[runs * 9 / 10]);
        }
        fc_face_detector_close(d);
    }
    free(f);
    free(junk);
    free(t);
    return 0;
}
