/* framecast detect: face detection on one still picture, for people and for
 * scripts (--json). Also the benchmark driver (--bench) and the producer of
 * the reference input (--save-input) because both must use exactly the
 * detector's own preprocessing. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analysis/face/face.h"
#include "sources/image.h"
#include "app/commands.h"
#include "app/paths.h"
#include "core/clock.h"

static const char *const keypoint_names[FC_FACE_KEYPOINTS] = {"right_eye", "left_eye",  "nose_tip",
                                                              "mouth",     "right_ear", "left_ear"};

static void usage(FILE *out, const char *model)
{
    fprintf(out,
            "usage: framecast detect IMAGE [OPTIONS]\n\n"
            "Detects faces in a PNG or JPEG picture and prints each face's box, score and six\n"
            "keypoints (eyes, nose tip, mouth, ears) in picture pixels.\n\n"
            "  --model PATH        BlazeFace ONNX model (default %s)\n"
            "  --min-score S       report faces scoring at least S (default 0.5)\n"
            "  --input band|square the model sees the band of its square input the picture\n"
            "                      fills (default; what streams use) or the whole letterbox\n"
            "                      square (MediaPipe's reference)\n"
            "  --json              print JSON instead of text\n"
            "  --bench N           time N detections on one thread and print latency figures\n"
            "  --save-input FILE   write the square letterboxed picture as binary PPM\n"
            "  -h, --help          this text\n\n"
            "Exit status: 0 ok, 1 the picture or model could not be used, 2 usage error.\n",
            model);
}

static void print_text(const char *path, int w, int h, const fc_faces *faces)
{
    printf("%s: %dx%d, %d face%s\n", path, w, h, faces->count, faces->count == 1 ? "" : "s");
    for (int i = 0; i < faces->count; i++) {
        const fc_face *f = &faces->face[i];
        printf("face %d: score %.3f box x=%.1f y=%.1f w=%.1f h=%.1f\n", i + 1, f->score, f->x, f->y,
               f->w, f->h);
        for (int k = 0; k < FC_FACE_KEYPOINTS; k++)
            printf("  %-10s %.1f %.1f\n", keypoint_names[k], f->keypoints[k].x, f->keypoints[k].y);
    }
}

static int print_json(const char *path, int w, int h, const fc_faces *faces)
{
    json_t *arr = json_array();
    json_t *root =
        json_pack("{s:s, s:i, s:i, s:o}", "image", path, "width", w, "height", h, "faces", arr);
    if (!root) return -ENOMEM;
    for (int i = 0; i < faces->count; i++) {
        const fc_face *f = &faces->face[i];
        json_t *kp = json_object();
        for (int k = 0; k < FC_FACE_KEYPOINTS && kp; k++)
            json_object_set_new(kp, keypoint_names[k],
                                json_pack("[f,f]", f->keypoints[k].x, f->keypoints[k].y));
        json_array_append_new(arr, json_pack("{s:f, s:{s:f, s:f, s:f, s:f}, s:o}", "score",
                                             f->score, "box", "x", f->x, "y", f->y, "w", f->w, "h",
                                             f->h, "keypoints", kp));
    }
    int rc = json_dumpf(root, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6));
    putchar('\n');
    json_decref(root);
    return rc < 0 ? -EIO : 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *v, int n, double p)
{
    int i = (int)(p / 100.0 * n + 0.999999) - 1;
    return v[i < 0 ? 0 : i >= n ? n - 1 : i];
}

static int bench(fc_face_detector *d, const uint8_t *rgb, int w, int h, int runs, bool json)
{
    double *infer = malloc((size_t)runs * sizeof *infer);
    double *total = malloc((size_t)runs * sizeof *total);
    if (!infer || !total) {
        free(infer);
        free(total);
        fprintf(stderr, "framecast detect: out of memory\n");
        return 1;
    }
    fc_faces faces;
    int rc = 0;
    /* Warm-up: first runs touch cold caches and page in the weights. */
    for (int i = 0; i < 10 && rc == 0; i++)
        rc = fc_face_detect_rgb(d, rgb, w * 3, w, h, &faces);
    for (int i = 0; i < runs && rc == 0; i++) {
        fc_face_timing t;
        uint64_t t0 = fc_now_ns();
        rc = fc_face_detect_rgb_timed(d, rgb, w * 3, w, h, &faces, &t);
        total[i] = (double)(fc_now_ns() - t0) / 1e6;
        infer[i] = t.inference_s * 1e3;
    }
    if (rc == 0) {
        qsort(infer, (size_t)runs, sizeof *infer, cmp_double);
        qsort(total, (size_t)runs, sizeof *total, cmp_double);
        double im = percentile(infer, runs, 50), i99 = percentile(infer, runs, 99);
        double tm = percentile(total, runs, 50), t99 = percentile(total, runs, 99);
        if (json)
            printf("{\"runs\": %d, \"faces\": %d, \"inference_ms\": {\"median\": %.4f, \"p99\": "
                   "%.4f}, \"end_to_end_ms\": {\"median\": %.4f, \"p99\": %.4f}}\n",
                   runs, faces.count, im, i99, tm, t99);
        else
            printf("%d runs, %d face(s)\ninference   median %.3f ms  p99 %.3f ms\n"
                   "end-to-end  median %.3f ms  p99 %.3f ms\n",
                   runs, faces.count, im, i99, tm, t99);
    } else {
        fprintf(stderr, "framecast detect: detection failed: %s\n", strerror(-rc));
    }
    free(infer);
    free(total);
    return rc == 0 ? 0 : 1;
}

static int save_input(fc_face_detector *d, const uint8_t *rgb, int w, int h, const char *path)
{
    int size = fc_face_detector_input_size(d);
    uint8_t *px = malloc((size_t)size * (size_t)size * 3);
    FILE *f = NULL;
    int ok = px && fc_face_letterbox_rgb(d, rgb, w * 3, w, h, px) == 0 && (f = fopen(path, "wb")) &&
             fprintf(f, "P6\n%d %d\n255\n", size, size) > 0 &&
             fwrite(px, 3, (size_t)size * (size_t)size, f) == (size_t)size * (size_t)size;
    if (f && fclose(f) != 0) ok = 0;
    if (!ok) fprintf(stderr, "framecast detect: cannot write %s: %s\n", path, strerror(errno));
    free(px);
    return ok ? 0 : 1;
}

typedef struct detect_args {
    const char *model, *save, *image;
    bool json;
    int runs;
    fc_face_detector_opts opts;
} detect_args;

/* -1 go on, else the exit status (help printed, or a usage error). The
 * messages predate the option table (tests/analysis/test_cli.sh pins them),
 * and the picture is a positional argument the table does not take. */
static int parse_args(int argc, char **argv, const char *default_model, detect_args *a)
{
    static const struct option longopts[] = {
        {"model", required_argument, NULL, 'm'}, {"min-score", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},        {"input", required_argument, NULL, 'I'},
        {"bench", required_argument, NULL, 'b'}, {"save-input", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    *a = (detect_args){.model = default_model};
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        char *end;
        switch (c) {
        case 'm':
            a->model = optarg;
            break;
        case 's':
            a->opts.min_score = strtof(optarg, &end);
            if (*end || a->opts.min_score <= 0 || a->opts.min_score > 1) {
                fprintf(stderr, "framecast detect: --min-score wants a number in (0, 1]\n");
                return 2;
            }
            break;
        case 'j':
            a->json = true;
            break;
        case 'I':
            if (strcmp(optarg, "band") && strcmp(optarg, "square")) {
                fprintf(stderr, "framecast detect: --input wants band or square, not '%s'\n",
                        optarg);
                return 2;
            }
            a->opts.square_input = strcmp(optarg, "square") == 0;
            break;
        case 'b':
            a->runs = (int)strtol(optarg, &end, 10);
            if (*end || a->runs < 1 || a->runs > 1000000) {
                fprintf(stderr, "framecast detect: --bench wants a run count\n");
                return 2;
            }
            break;
        case 'i':
            a->save = optarg;
            break;
        case 'h':
            usage(stdout, default_model);
            return 0;
        default:
            usage(stderr, default_model);
            return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr, default_model);
        return 2;
    }
    a->image = argv[optind];
    return -1;
}

int fc_cmd_detect(int argc, char **argv)
{
    static fc_paths paths;
    fc_paths_get(&paths);
    detect_args a;
    int status = parse_args(argc, argv, paths.model, &a);
    if (status >= 0) return status;
    char err[512];
    uint8_t *rgb;
    int w, h;
    if (fc_image_load_rgb(a.image, &rgb, &w, &h, err, sizeof err) < 0) {
        fprintf(stderr, "framecast detect: %s\n", err);
        return 1;
    }
    fc_face_detector *d;
    if (fc_face_detector_open(a.model, &a.opts, &d, err, sizeof err) < 0) {
        fprintf(stderr, "framecast detect: %s\n", err);
        free(rgb);
        return 1;
    }
    status = 0;
    if (a.save) {
        status = save_input(d, rgb, w, h, a.save);
    } else if (a.runs) {
        status = bench(d, rgb, w, h, a.runs, a.json);
    } else {
        fc_faces faces;
        int rc = fc_face_detect_rgb(d, rgb, w * 3, w, h, &faces);
        if (rc < 0) {
            fprintf(stderr, "framecast detect: %s: detection failed: %s\n", a.image, strerror(-rc));
            status = 1;
        } else if (a.json) {
            status = print_json(a.image, w, h, &faces) < 0;
        } else {
            print_text(a.image, w, h, &faces);
        }
    }
    fc_face_detector_close(d);
    free(rgb);
    return status;
}
