/* JPEG against VP8 on framecast's own scenes: bytes per frame, quality of
 * the decoded pictures against the source (PSNR over all planes and SSIM,
 * libyuv's), and encode CPU per frame, for JPEG qualities and for VP8 at
 * each cpu-used and bitrate asked for.
 *
 *   build/bench/vp8-quality [--size 1280x720] [--fps 30] [--frames 330] [--warmup 30]
 *                           [--joins 1] [--rounds 3] [--scenes procedural,face]
 *                           [--cpu-used LIST] [--kbps 500,1000,2000] [--jpeg 85,75,60]
 *
 * --cpu-used defaults to the codec's own (FC_VP8_CPU_USED). bench/vp8-quality
 * runs the set docs/benchmarks.md quotes.
 *
 * Both codecs encode the same rendered frames with the server's own
 * encoders (fc_jpeg_encode; the vp8 codec through fc_vp8_open) on this one
 * thread, timed on the thread's CPU clock, so other work on the machine
 * shows as cache effects, not as waiting. JPEG is decoded with turbojpeg,
 * VP8 with libavcodec's own decoder. The first --warmup frames (VP8's first
 * key frame and the rate control settling) are encoded but not counted;
 * --joins key frames are forced, evenly spread over the counted frames, as
 * viewers joining would, and counted like the rest (the last one's bytes
 * and time are also shown apart). Frames carry capture times 1/fps apart.
 *
 * Timing runs --rounds times, configurations interleaved within a round, and
 * the median of the rounds' means is shown; bytes and quality do not depend
 * on timing (one thread, fixed speed) and come from the first round, and the
 * program checks that later rounds made the same bytes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <turbojpeg.h>

#include "avdec.h"
#include "encode/jpeg.h"
#include "encode/vp8.h"
#include "sources/source.h"

#define MAX_LIST 16
#define MAX_ROUNDS 15

typedef struct config {
    bool vp8;
    int quality;  /* JPEG */
    int cpu_used; /* VP8 */
    int kbps;     /* VP8 */
    /* Results: quality and bytes from round 0, time per round. */
    double bytes, psnr, psnr_min, ssim, key_bytes, key_ms;
    double ms[MAX_ROUNDS];
    size_t total_bytes;
} config;

typedef struct opts {
    int width, height, frames, warmup, rounds, joins;
    double fps;
    int cpu_used[MAX_LIST], n_cpu;
    int kbps[MAX_LIST], n_kbps;
    int jpeg[MAX_LIST], n_jpeg;
    bool procedural, face;
} opts;

static double thread_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
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

static void die(const char *what, const char *err)
{
    fprintf(stderr, "vp8-quality: %s: %s\n", what, err);
    exit(1);
}

/* JPEG goes through turbojpeg's decoder straight into I420 planes. */
static fc_frame *decode_jpeg(tjhandle tj, const fc_frame *enc, int w, int h)
{
    fc_frame *pic = fc_frame_new_i420(w, h);
    if (!pic) die("decode", "out of memory");
    if (tjDecompressToYUVPlanes(tj, enc->payload, enc->payload_len, pic->plane, w, pic->stride, h,
                                0) != 0)
        die("turbojpeg", tjGetErrorStr2(tj));
    return pic;
}

/* Whether frame i is one where a viewer joins: --joins of them, evenly
 * spread over the counted frames. */
static bool joins_at(const opts *o, int i, int every)
{
    int k = i - o->warmup;
    return o->joins > 0 && k > 0 && k % every == 0 && k / every <= o->joins;
}

/* One pass over the frames with one configuration. Round 0 also decodes and
 * measures quality; later rounds only time the encodes. */
static void run(const opts *o, fc_source *src, config *c, int round, tjhandle tj)
{
    char err[512];
    fc_encoder *enc = NULL;
    fc_avdec *dec = NULL;
    if (c->vp8) {
        fc_codec_config cfg = {
            .width = o->width, .height = o->height, .fps = o->fps, .bitrate_kbps = c->kbps};
        if (fc_vp8_open(&cfg, c->cpu_used, &enc, err, sizeof err) != 0) die("vp8", err);
        if (round == 0 && fc_avdec_open("vp8", &dec, err, sizeof err) != 0) die("libavcodec", err);
    } else {
        fc_codec_config cfg = {
            .width = o->width, .height = o->height, .fps = o->fps, .quality = c->quality};
        if (fc_jpeg_codec.open(&cfg, &enc, err, sizeof err) != 0) die("jpeg", err);
    }
    int counted = o->frames - o->warmup, every = counted / (o->joins + 1);
    double ms_sum = 0, psnr_sum = 0, ssim_sum = 0, psnr_min = 1000;
    size_t bytes = 0;
    for (int i = 0; i < o->frames; i++) {
        fc_frame *raw, *out = NULL;
        if (src->ops->render(src, (uint32_t)i, 1700000000.0 + i / o->fps, &raw) != 0)
            die("render", "failed");
        double t0 = thread_ms();
        int rc;
        if (c->vp8) {
            fc_encode_args args = {.force_key = joins_at(o, i, every)};
            rc = fc_vp8_codec.encode(enc, raw, &args, &out, err, sizeof err);
        } else {
            rc = fc_jpeg_codec.encode(enc, raw, &(fc_encode_args){0}, &out, err, sizeof err);
        }
        double ms = thread_ms() - t0;
        if (rc != 0 || !out) die("encode", rc ? err : "no frame");
        if (i >= o->warmup) {
            ms_sum += ms;
            bytes += out->payload_len;
            if (c->vp8 && joins_at(o, i, every)) {
                if (!out->key) die("vp8", "a forced key frame is not a key frame");
                c->key_bytes = (double)out->payload_len;
                c->key_ms = ms;
            }
        }
        fc_frame *pic = NULL;
        if (round == 0 && c->vp8) {
            if (fc_avdec_decode(dec, out->payload, out->payload_len, &pic, err, sizeof err))
                die("libavcodec vp8", err);
        } else if (round == 0) {
            pic = decode_jpeg(tj, out, o->width, o->height);
        }
        if (pic && i >= o->warmup) {
            double p = fc_avdec_psnr(pic, raw);
            psnr_sum += p;
            psnr_min = p < psnr_min ? p : psnr_min;
            ssim_sum += fc_avdec_ssim(pic, raw);
        }
        fc_frame_unref(pic);
        fc_frame_unref(out);
        fc_frame_unref(raw);
    }
    if (round == 0) {
        c->bytes = (double)bytes / counted;
        c->psnr = psnr_sum / counted;
        c->psnr_min = psnr_min;
        c->ssim = ssim_sum / counted;
        c->total_bytes = bytes;
    } else if (bytes != c->total_bytes) {
        fprintf(stderr, "vp8-quality: round %d made %zu bytes, round 0 %zu: not deterministic\n",
                round, bytes, c->total_bytes);
    }
    c->ms[round] = ms_sum / counted;
    if (enc) (c->vp8 ? fc_vp8_codec : fc_jpeg_codec).close(enc);
    fc_avdec_close(dec);
}

static double median_ms(const config *c, int rounds)
{
    double v[MAX_ROUNDS];
    memcpy(v, c->ms, sizeof v);
    qsort(v, (size_t)rounds, sizeof *v, by_value);
    return v[rounds / 2];
}

static void scene(const opts *o, const char *name, const char *spec)
{
    char err[512];
    fc_source_spec s;
    fc_source *src;
    if (fc_source_spec_parse(spec, &s, err, sizeof err) != 0 ||
        fc_source_create(&s, o->width, o->height, o->fps, &src, err, sizeof err) != 0)
        die(spec, err);
    int n = o->n_jpeg + o->n_cpu * o->n_kbps;
    config *cs = calloc((size_t)n, sizeof *cs);
    if (!cs) die("configs", "out of memory");
    for (int j = 0; j < o->n_jpeg; j++)
        cs[j] = (config){.quality = o->jpeg[j]};
    for (int a = 0; a < o->n_cpu; a++)
        for (int b = 0; b < o->n_kbps; b++)
            cs[o->n_jpeg + a * o->n_kbps + b] =
                (config){.vp8 = true, .cpu_used = o->cpu_used[a], .kbps = o->kbps[b]};
    tjhandle tj = tjInitDecompress();
    for (int r = 0; r < o->rounds; r++)
        for (int i = 0; i < n; i++) {
            fprintf(stderr, "\rvp8-quality: %s: round %d/%d, run %d/%d   ", name, r + 1, o->rounds,
                    i + 1, n);
            run(o, src, &cs[i], r, tj);
        }
    fprintf(stderr, "\n");
    tjDestroy(tj);

    /* The reference is the first JPEG quality (q85, the high tier). */
    const config *ref = &cs[0];
    double ref_ms = median_ms(ref, o->rounds);
    printf("\n**%s, %dx%d, %g fps** (%d frames counted after %d)\n\n", name, o->width, o->height,
           o->fps, o->frames - o->warmup, o->warmup);
    printf("| encoder | bytes/frame | x JPEG q%d | PSNR dB mean / min | SSIM | quality >= "
           "| encode ms/frame | x JPEG q%d | key frame bytes / ms |\n",
           ref->quality, ref->quality);
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const config *c = &cs[i];
        double ms = median_ms(c, o->rounds);
        /* The best JPEG quality this one matches on both measures. */
        char equal[16] = "";
        for (int j = 0; c->vp8 && j < o->n_jpeg && !equal[0]; j++)
            if (c->psnr >= cs[j].psnr && c->ssim >= cs[j].ssim)
                snprintf(equal, sizeof equal, "q%d", cs[j].quality);
        char label[64], key[48] = "(every frame)";
        if (c->vp8) {
            snprintf(label, sizeof label, "VP8 %d kbps, cpu-used %d", c->kbps, c->cpu_used);
            if (o->joins)
                snprintf(key, sizeof key, "%.0f / %.2f", c->key_bytes, c->key_ms);
            else
                snprintf(key, sizeof key, "(no join)");
        } else {
            snprintf(label, sizeof label, "JPEG q%d", c->quality);
        }
        printf("| %s | %.0f | %.3f | %.2f / %.2f | %.4f | %s | %.2f | %.2f | %s |\n", label,
               c->bytes, c->bytes / ref->bytes, c->psnr, c->psnr_min, c->ssim,
               c->vp8 ? (equal[0] ? equal : "none") : "", ms, ms / ref_ms, key);
    }
    free(cs);
    fc_source_destroy(src);
}

static void usage(void)
{
    fprintf(stderr, "usage: vp8-quality [--size WxH] [--fps F] [--frames N] [--warmup N] "
                    "[--joins N] [--rounds N] [--scenes procedural,face] [--cpu-used LIST] "
                    "[--kbps LIST] [--jpeg LIST]\n");
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
              .joins = 1,
              .procedural = true,
              .face = true};
    o.cpu_used[0] = FC_VP8_CPU_USED;
    o.n_cpu = 1;
    o.n_kbps = parse_list("500,1000,2000", o.kbps, 1, 100000);
    o.n_jpeg = parse_list("85,75,60", o.jpeg, 1, 100);
    static const struct option longs[] = {
        {"size", 1, 0, 's'},     {"fps", 1, 0, 'f'},    {"frames", 1, 0, 'n'},
        {"warmup", 1, 0, 'w'},   {"rounds", 1, 0, 'r'}, {"scenes", 1, 0, 'S'},
        {"cpu-used", 1, 0, 'c'}, {"kbps", 1, 0, 'k'},   {"jpeg", 1, 0, 'j'},
        {"joins", 1, 0, 'J'},    {0, 0, 0, 0}};
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
        case 'S':
            o.procedural = strstr(optarg, "procedural") != NULL;
            o.face = strstr(optarg, "face") != NULL;
            break;
        case 'c':
            o.n_cpu = parse_list(optarg, o.cpu_used, -16, -1);
            break;
        case 'k':
            o.n_kbps = parse_list(optarg, o.kbps, 1, 100000);
            break;
        case 'j':
            o.n_jpeg = parse_list(optarg, o.jpeg, 1, 100);
            break;
        case 'J':
            o.joins = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (optind != argc || o.n_cpu < 1 || o.n_kbps < 1 || o.n_jpeg < 1 || !(o.fps > 0) ||
        o.warmup < 0 || o.joins < 0 || o.frames < o.warmup + 2 * (o.joins + 1) || o.rounds < 1 ||
        o.rounds > MAX_ROUNDS || !(o.procedural || o.face))
        usage();
    if (o.procedural) scene(&o, "procedural scene", "synthetic:procedural");
    if (o.face) scene(&o, "face pan", "synthetic:image=" FC_BENCH_FIXTURES "/face-astronaut.png");
    return 0;
}
