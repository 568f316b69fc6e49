/* Is VP8's low tier better at half size? The low tier is what a viewer on a
 * congested link falls to. This compares, on framecast's two scenes, what
 * such a viewer would get:
 *
 *   JPEG at the low tier's quality (q60), full size: the JPEG low tier;
 *   VP8 at full size, at each --full-kbps;
 *   VP8 at half width and height (libyuv box filter, as the output scales
 *   in its encode job), at each --half-kbps, decoded and drawn back at full
 *   size (bilinear, as a browser's canvas does).
 *
 * Each is compared with the source at full size (PSNR over all planes and
 * SSIM, libyuv's), with bytes per frame and the encode job's CPU per frame
 * (for half size: the scale and the encode; the scale is also shown apart).
 *
 *   build/bench/vp8-tiers [--size 1280x720] [--fps 30] [--frames 330] [--warmup 30]
 *                         [--rounds 3] [--full-kbps 1500] [--half-kbps 500,750,1000]
 *                         [--jpeg 60] [--scenes procedural,face]
 *
 * Timing as bench/vp8-quality.c: one thread, its CPU clock, configurations
 * interleaved per round, the median of the rounds' means; bytes and quality
 * from the first round. VP8 runs at the codec's cpu-used. */
#include <getopt.h>
#include <libyuv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <turbojpeg.h>

#include "avdec.h"
#include "encode/jpeg.h"
#include "encode/vp8.h"
#include "sources/source.h"

#define MAX_LIST 8
#define MAX_ROUNDS 15

typedef struct config {
    bool vp8, half;
    int quality, kbps;
    double bytes, psnr, ssim;
    double ms[MAX_ROUNDS], scale_ms[MAX_ROUNDS];
} config;

typedef struct opts {
    int width, height, frames, warmup, rounds;
    double fps;
    int full[MAX_LIST], n_full, half[MAX_LIST], n_half, jpeg;
    bool procedural, face;
} opts;

static double thread_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "vp8-tiers: %s: %s\n", what, err);
    exit(1);
}

static int parse_list(const char *s, int *out, int lo, int hi)
{
    int n = 0;
    char *end;
    for (;;) {
        long v = strtol(s, &end, 10);
        if (end == s || v < lo || v > hi || n == MAX_LIST) return -1;
        out[n++] = (int)v;
        if (*end == '\0') return n;
        if (*end != ',') return -1;
        s = end + 1;
    }
}

static fc_frame *scaled(const fc_frame *f, int w, int h, enum FilterMode filter)
{
    fc_frame *out = fc_frame_new_i420(w, h);
    if (!out) die("scale", "out of memory");
    I420Scale(f->plane[0], f->stride[0], f->plane[1], f->stride[1], f->plane[2], f->stride[2],
              f->width, f->height, out->plane[0], out->stride[0], out->plane[1], out->stride[1],
              out->plane[2], out->stride[2], w, h, filter);
    out->id = f->id;
    out->timestamp = f->timestamp;
    return out;
}

static void run(const opts *o, fc_source *src, config *c, int round, tjhandle tj)
{
    char err[512];
    int w = c->half ? (o->width / 2) & ~1 : o->width,
        h = c->half ? (o->height / 2) & ~1 : o->height;
    fc_codec_config cfg = {.width = w,
                           .height = h,
                           .fps = o->fps,
                           .quality = c->quality,
                           .bitrate_kbps = c->kbps,
                           .tier = 2};
    const fc_codec_ops *codec = c->vp8 ? &fc_vp8_codec : &fc_jpeg_codec;
    fc_encoder *enc;
    if (codec->open(&cfg, &enc, err, sizeof err) != 0) die(codec->name, err);
    fc_avdec *dec = NULL;
    if (round == 0 && c->vp8 && fc_avdec_open("vp8", &dec, err, sizeof err) != 0)
        die("libavcodec", err);
    int counted = o->frames - o->warmup;
    double ms_sum = 0, scale_sum = 0, psnr_sum = 0, ssim_sum = 0;
    size_t bytes = 0;
    for (int i = 0; i < o->frames; i++) {
        fc_frame *raw, *out = NULL;
        if (src->ops->render(src, (uint32_t)i, 1700000000.0 + i / o->fps, &raw) != 0)
            die("render", "failed");
        double t0 = thread_ms();
        fc_frame *in = c->half ? scaled(raw, w, h, kFilterBox) : fc_frame_ref(raw);
        double t1 = thread_ms();
        if (codec->encode(enc, in, &(fc_encode_args){0}, &out, err, sizeof err) != 0 || !out)
            die("encode", err);
        double t2 = thread_ms();
        if (i >= o->warmup) {
            ms_sum += t2 - t0;
            scale_sum += t1 - t0;
            bytes += out->payload_len;
        }
        if (round == 0) {
            fc_frame *pic = NULL;
            if (c->vp8) {
                if (fc_avdec_decode(dec, out->payload, out->payload_len, &pic, err, sizeof err))
                    die("libavcodec vp8", err);
            } else {
                pic = fc_frame_new_i420(w, h);
                if (tjDecompressToYUVPlanes(tj, out->payload, out->payload_len, pic->plane, w,
                                            pic->stride, h, 0) != 0)
                    die("turbojpeg", tjGetErrorStr2(tj));
            }
            if (c->half) {
                fc_frame *big = scaled(pic, o->width, o->height, kFilterBilinear);
                fc_frame_unref(pic);
                pic = big;
            }
            if (i >= o->warmup) {
                psnr_sum += fc_avdec_psnr(pic, raw);
                ssim_sum += fc_avdec_ssim(pic, raw);
            }
            fc_frame_unref(pic);
        }
        fc_frame_unref(out);
        fc_frame_unref(in);
        fc_frame_unref(raw);
    }
    if (round == 0) {
        c->bytes = (double)bytes / counted;
        c->psnr = psnr_sum / counted;
        c->ssim = ssim_sum / counted;
    }
    c->ms[round] = ms_sum / counted;
    c->scale_ms[round] = scale_sum / counted;
    codec->close(enc);
    fc_avdec_close(dec);
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, by_value);
    return s[n / 2];
}

static void scene(const opts *o, const char *name, const char *spec)
{
    char err[512];
    fc_source_spec s;
    fc_source *src;
    if (fc_source_spec_parse(spec, &s, err, sizeof err) != 0 ||
        fc_source_create(&s, o->width, o->height, o->fps, &src, err, sizeof err) != 0)
        die(spec, err);
    int n = 1 + o->n_full + o->n_half;
    config cs[1 + 2 * MAX_LIST] = {{.quality = o->jpeg}};
    for (int i = 0; i < o->n_full; i++)
        cs[1 + i] = (config){.vp8 = true, .kbps = o->full[i]};
    for (int i = 0; i < o->n_half; i++)
        cs[1 + o->n_full + i] = (config){.vp8 = true, .half = true, .kbps = o->half[i]};
    tjhandle tj = tjInitDecompress();
    for (int r = 0; r < o->rounds; r++)
        for (int i = 0; i < n; i++) {
            fprintf(stderr, "\rvp8-tiers: %s: round %d/%d, run %d/%d   ", name, r + 1, o->rounds,
                    i + 1, n);
            run(o, src, &cs[i], r, tj);
        }
    fprintf(stderr, "\n");
    tjDestroy(tj);
    printf("\n**%s, %dx%d, %g fps** (%d frames counted after %d; quality against the source at "
           "full size)\n\n",
           name, o->width, o->height, o->fps, o->frames - o->warmup, o->warmup);
    printf("| low tier | bytes/frame | x JPEG q%d | PSNR dB | SSIM | encode job ms/frame | of "
           "which scaling |\n|---|---|---|---|---|---|---|\n",
           o->jpeg);
    for (int i = 0; i < n; i++) {
        const config *c = &cs[i];
        char label[64];
        if (!c->vp8)
            snprintf(label, sizeof label, "JPEG q%d, %dx%d", c->quality, o->width, o->height);
        else
            snprintf(label, sizeof label, "VP8 %d kbps, %dx%d", c->kbps,
                     c->half ? (o->width / 2) & ~1 : o->width,
                     c->half ? (o->height / 2) & ~1 : o->height);
        printf("| %s | %.0f | %.3f | %.2f | %.4f | %.2f | %.2f |\n", label, c->bytes,
               c->bytes / cs[0].bytes, c->psnr, c->ssim, median(c->ms, o->rounds),
               median(c->scale_ms, o->rounds));
    }
    fc_source_destroy(src);
}

static void usage(void)
{
    fprintf(stderr, "usage: vp8-tiers [--size WxH] [--fps F] [--frames N] [--warmup N] "
                    "[--rounds N] [--full-kbps LIST] [--half-kbps LIST] [--jpeg Q] "
                    "[--scenes procedural,face]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    opts o = {.width = 1280,
              .height = 720,
              .fps = 30,
              .frames = 330,
              .warmup = 30,
              .rounds = 3,
              .jpeg = 60,
              .procedural = true,
              .face = true};
    o.n_full = parse_list("1500", o.full, 1, 100000);
    o.n_half = parse_list("500,750,1000", o.half, 1, 100000);
    static const struct option longs[] = {{"size", 1, 0, 's'},   {"fps", 1, 0, 'f'},
                                          {"frames", 1, 0, 'n'}, {"warmup", 1, 0, 'w'},
                                          {"rounds", 1, 0, 'r'}, {"full-kbps", 1, 0, 'F'},
                                          {"jpeg", 1, 0, 'j'},   {"half-kbps", 1, 0, 'H'},
                                          {"scenes", 1, 0, 'S'}, {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (ch) {
        case 's':
            if (fc_size_parse(optarg, &o.width, &o.height) != 0) usage();
            break;
        case 'f':
            o.fps = strtod(optarg, NULL);
            break;
        case 'n':
            o.frames = atoi(optarg);
            break;
        case 'w':
            o.warmup = atoi(optarg);
            break;
        case 'r':
            o.rounds = atoi(optarg);
            break;
        case 'F':
            o.n_full = parse_list(optarg, o.full, 1, 100000);
            break;
        case 'H':
            o.n_half = parse_list(optarg, o.half, 1, 100000);
            break;
        case 'j':
            o.jpeg = atoi(optarg);
            break;
        case 'S':
            o.procedural = strstr(optarg, "procedural") != NULL;
            o.face = strstr(optarg, "face") != NULL;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || o.n_full < 0 || o.n_half < 0 || !(o.fps > 0) || o.warmup < 0 ||
        o.frames <= o.warmup || o.rounds < 1 || o.rounds > MAX_ROUNDS || o.jpeg < 1 ||
        o.jpeg > 100 || !(o.procedural || o.face))
        usage();
    if (o.procedural) scene(&o, "procedural scene", "synthetic:procedural");
    if (o.face) scene(&o, "face pan", "synthetic:image=" FC_BENCH_FIXTURES "/face-astronaut.png");
    return 0;
}
