/* The built-in "puppet" generator: the source picture, animated from the
 * audio. The mouth opens with the speech envelope, the eyes blink every few
 * seconds, and the head sways slightly. Deterministic: frame i depends only
 * on the picture, the parameters and the audio up to the end of frame i.
 *
 * It works in I420 (the encoders' format), converting the source once at
 * open, so a frame costs one plane copy plus two small ellipses; render_rgb
 * converts that frame for callers of the plain RGB entry point.
 *
 * Where the face is: setup_kwargs.face = {"mouth":[x,y], "eyes":[[x,y],[x,y]],
 * "width":w} in source pixels (the session fills it in from the face detector
 * when the client does not); without it, the proportions of a centred
 * head-and-shoulders portrait. */
#include <errno.h>
#include <jansson.h>
#include <libyuv.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avatar/generator.h"

#define PUPPET_RATE 24000
#define PUPPET_FPS 25
/* Speech RMS (full scale 1) that opens the mouth fully. */
#define FULL_OPEN_RMS 0.12f
/* A blink every BLINK_PERIOD frames, lasting BLINK_FRAMES. */
#define BLINK_PERIOD 93
#define BLINK_FRAMES 4

typedef struct puppet {
    int w, h;
    uint8_t *src[3];  /* the source picture in I420, one block */
    int cw, ch;       /* chroma plane size */
    uint8_t *scratch; /* an I420 frame for render_rgb */
    float mouth_x, mouth_y, eye_x[2], eye_y, face_w;
    float open;     /* smoothed mouth opening, 0..1 */
    float last_rms; /* of the newest frame's worth of audio */
} puppet;

static int read_point(json_t *a, float *x, float *y)
{
    if (!json_is_array(a) || json_array_size(a) != 2 || !json_is_number(json_array_get(a, 0)) ||
        !json_is_number(json_array_get(a, 1)))
        return -EINVAL;
    *x = (float)json_number_value(json_array_get(a, 0));
    *y = (float)json_number_value(json_array_get(a, 1));
    return 0;
}

static int read_face(puppet *p, const char *setup_json, char *err, size_t errlen)
{
    p->face_w = 0.40f * (float)p->w;
    p->mouth_x = 0.50f * (float)p->w;
    p->mouth_y = 0.70f * (float)p->h;
    p->eye_x[0] = 0.40f * (float)p->w;
    p->eye_x[1] = 0.60f * (float)p->w;
    p->eye_y = 0.47f * (float)p->h;
    json_t *setup = json_loads(setup_json ? setup_json : "{}", 0, NULL);
    json_t *face = json_object_get(setup, "face");
    int rc = 0;
    if (face) {
        float ex0, ey0, ex1, ey1;
        json_t *eyes = json_object_get(face, "eyes");
        json_t *width = json_object_get(face, "width");
        if (read_point(json_object_get(face, "mouth"), &p->mouth_x, &p->mouth_y) != 0 ||
            !json_is_array(eyes) || read_point(json_array_get(eyes, 0), &ex0, &ey0) != 0 ||
            read_point(json_array_get(eyes, 1), &ex1, &ey1) != 0 || !json_is_number(width) ||
            json_number_value(width) < 8) {
            snprintf(err, errlen,
                     "puppet: setup_kwargs.face must be {\"mouth\":[x,y],"
                     "\"eyes\":[[x,y],[x,y]],\"width\":w} in source pixels");
            rc = -1;
        } else {
            p->eye_x[0] = ex0;
            p->eye_x[1] = ex1;
            p->eye_y = (ey0 + ey1) / 2;
            p->face_w = (float)json_number_value(width);
        }
    }
    json_decref(setup);
    return rc;
}

static void puppet_close(void *state)
{
    puppet *p = state;
    if (!p) return;
    free(p->src[0]);
    free(p->scratch);
    free(p);
}

static int puppet_open(const fc_generator_image *source, const char *setup_json,
                       const char *run_json, void **state, fc_generator_info *info, char *err,
                       size_t errlen)
{
    (void)run_json;
    int w = source->width & ~1, h = source->height & ~1;
    if (w < 16 || h < 16) {
        snprintf(err, errlen, "puppet: source picture %dx%d is smaller than 16x16", source->width,
                 source->height);
        return -EINVAL;
    }
    puppet *p = calloc(1, sizeof *p);
    size_t ysize = (size_t)w * (size_t)h, csize = ysize / 4;
    if (p) {
        p->src[0] = malloc(ysize + 2 * csize);
        p->scratch = malloc(ysize + 2 * csize);
    }
    if (!p || !p->src[0] || !p->scratch) {
        puppet_close(p);
        snprintf(err, errlen, "puppet: out of memory for a %dx%d picture", w, h);
        return -ENOMEM;
    }
    p->w = w;
    p->h = h;
    p->cw = w / 2;
    p->ch = h / 2;
    p->src[1] = p->src[0] + ysize;
    p->src[2] = p->src[1] + csize;
    if (read_face(p, setup_json, err, errlen) != 0) {
        puppet_close(p);
        return -EINVAL;
    }
    /* libyuv's "RAW" is R, G, B in memory order. */
    RAWToI420(source->rgb, source->stride, p->src[0], w, p->src[1], p->cw, p->src[2], p->cw, w, h);
    *info = (fc_generator_info){.width = w, .height = h, .sample_rate = PUPPET_RATE, .channels = 1};
    *state = p;
    return 0;
}

static int puppet_push_audio(void *state, const float *samples, size_t frames)
{
    puppet *p = state;
    /* The envelope of the newest frame interval is what frame i shows. */
    size_t want = PUPPET_RATE / PUPPET_FPS;
    size_t n = frames < want ? frames : want;
    if (n == 0) return 0;
    const float *s = samples + (frames - n);
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (double)s[i] * s[i];
    p->last_rms = (float)sqrt(acc / (double)n);
    return 0;
}

/* Copies a plane shifted by (dx, dy), repeating the edge pixels. */
static void shift_plane(const uint8_t *src, uint8_t *dst, int stride_dst, int w, int h, int dx,
                        int dy)
{
    for (int y = 0; y < h; y++) {
        int sy = y - dy;
        sy = sy < 0 ? 0 : sy >= h ? h - 1 : sy;
        const uint8_t *s = src + (size_t)sy * (size_t)w;
        uint8_t *d = dst + (size_t)y * (size_t)stride_dst;
        if (dx >= 0) {
            memset(d, s[0], (size_t)dx);
            memcpy(d + dx, s, (size_t)(w - dx));
        } else {
            memcpy(d, s - dx, (size_t)(w + dx));
            memset(d + w + dx, s[w - 1], (size_t)-dx);
        }
    }
}

/* Fills an axis-aligned ellipse in one plane, clipped to it. */
static void fill_ellipse(uint8_t *plane, int stride, int w, int h, float cx, float cy, float rx,
                         float ry, uint8_t value)
{
    if (rx < 0.5f || ry < 0.5f) return;
    int y0 = (int)floorf(cy - ry), y1 = (int)ceilf(cy + ry);
    for (int y = y0 < 0 ? 0 : y0; y <= y1 && y < h; y++) {
        float t = ((float)y + 0.5f - cy) / ry;
        if (t * t > 1) continue;
        float half = rx * sqrtf(1 - t * t);
        int x0 = (int)lroundf(cx - half), x1 = (int)lroundf(cx + half);
        x0 = x0 < 0 ? 0 : x0;
        x1 = x1 > w ? w : x1;
        if (x1 > x0) memset(plane + (size_t)y * (size_t)stride + x0, value, (size_t)(x1 - x0));
    }
}

static uint8_t sample_plane(const uint8_t *plane, int stride, int w, int h, float x, float y)
{
    int ix = (int)x, iy = (int)y;
    ix = ix < 0 ? 0 : ix >= w ? w - 1 : ix;
    iy = iy < 0 ? 0 : iy >= h ? h - 1 : iy;
    return plane[(size_t)iy * (size_t)stride + ix];
}

static int puppet_render_i420(void *state, uint32_t index, uint8_t *y, int y_stride, uint8_t *u,
                              int u_stride, uint8_t *v, int v_stride)
{
    puppet *p = state;
    /* Fast attack, slower release, like a jaw. */
    float target = p->last_rms / FULL_OPEN_RMS;
    target = target > 1 ? 1 : target;
    p->open = target > p->open ? 0.3f * p->open + 0.7f * target : 0.6f * p->open + 0.4f * target;

    /* Sway in whole chroma pixels (even luma shifts) so the planes agree. */
    double t = (double)index / PUPPET_FPS;
    int cdx = (int)lround(1.5 * sin(2 * M_PI * t / 3.3));
    int cdy = (int)lround(1.0 * sin(2 * M_PI * t / 4.7 + 1.0));
    shift_plane(p->src[0], y, y_stride, p->w, p->h, 2 * cdx, 2 * cdy);
    shift_plane(p->src[1], u, u_stride, p->cw, p->ch, cdx, cdy);
    shift_plane(p->src[2], v, v_stride, p->cw, p->ch, cdx, cdy);
    float dx = (float)(2 * cdx), dy = (float)(2 * cdy);

    float mw = 0.22f * p->face_w, mh = 0.16f * p->face_w * p->open;
    if (mh >= 1) {
        float mx = p->mouth_x + dx, my = p->mouth_y + dy;
        /* Lips (darker skin tone), then the dark inside of the mouth. */
        fill_ellipse(y, y_stride, p->w, p->h, mx, my, mw / 2 + 2, mh / 2 + 2, 70);
        fill_ellipse(u, u_stride, p->cw, p->ch, mx / 2, my / 2, mw / 4 + 1, mh / 4 + 1, 112);
        fill_ellipse(v, v_stride, p->cw, p->ch, mx / 2, my / 2, mw / 4 + 1, mh / 4 + 1, 168);
        fill_ellipse(y, y_stride, p->w, p->h, mx, my, mw / 2, mh / 2, 25);
    }
    if (index % BLINK_PERIOD < BLINK_FRAMES) {
        /* Closed lids take the skin tone from just above the eyes. */
        float ew = 0.14f * p->face_w, eh = 0.07f * p->face_w;
        for (int e = 0; e < 2; e++) {
            float ex = p->eye_x[e], ey = p->eye_y - 1.6f * eh;
            uint8_t sy = sample_plane(p->src[0], p->w, p->w, p->h, ex, ey);
            uint8_t su = sample_plane(p->src[1], p->cw, p->cw, p->ch, ex / 2, ey / 2);
            uint8_t sv = sample_plane(p->src[2], p->cw, p->cw, p->ch, ex / 2, ey / 2);
            float cx = p->eye_x[e] + dx, cy = p->eye_y + dy;
            fill_ellipse(y, y_stride, p->w, p->h, cx, cy, ew / 2, eh / 2, sy);
            fill_ellipse(u, u_stride, p->cw, p->ch, cx / 2, cy / 2, ew / 4, eh / 4, su);
            fill_ellipse(v, v_stride, p->cw, p->ch, cx / 2, cy / 2, ew / 4, eh / 4, sv);
            fill_ellipse(y, y_stride, p->w, p->h, cx, cy + eh / 4, ew / 2, 1.0f, (uint8_t)(sy / 2));
        }
    }
    return 0;
}

static int puppet_render_rgb(void *state, uint32_t index, uint8_t *rgb, int stride)
{
    puppet *p = state;
    uint8_t *y = p->scratch, *u = y + (size_t)p->w * (size_t)p->h,
            *v = u + (size_t)p->cw * (size_t)p->ch;
    puppet_render_i420(p, index, y, p->w, u, p->cw, v, p->cw);
    I420ToRAW(y, p->w, u, p->cw, v, p->cw, rgb, stride, p->w, p->h);
    return 0;
}

static const fc_generator puppet_table = {
    .abi_version = FC_GENERATOR_ABI_VERSION,
    .struct_size = sizeof(fc_generator),
    .name = "puppet",
    .open = puppet_open,
    .push_audio = puppet_push_audio,
    .render_rgb = puppet_render_rgb,
    .close = puppet_close,
    .render_i420 = puppet_render_i420,
};

const fc_generator *fc_puppet_generator(void)
{
    return &puppet_table;
}
