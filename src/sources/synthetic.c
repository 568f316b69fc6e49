#include "sources/synthetic.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libyuv.h>

#include "sources/image.h"
#include "sources/panzoom.h"

typedef struct synthetic {
    fc_source base;
    fc_frame *image; /* image mode: the picture, I420; NULL for procedural */
    bool still;      /* image mode: hold the first frame's pan and zoom */
    uint8_t *ramp;   /* procedural: one luma line long enough for any row's shift */
} synthetic;

/* 5x7 glyphs, one byte per row, bit 4 = leftmost column. */
static const struct {
    char c;
    uint8_t rows[7];
} font[] = {
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'#', {0x0a, 0x0a, 0x1f, 0x0a, 0x1f, 0x0a, 0x0a}},
    {' ', {0, 0, 0, 0, 0, 0, 0}},
};

static const uint8_t *glyph(char c)
{
    for (size_t i = 0; i < sizeof font / sizeof *font; i++)
        if (font[i].c == c) return font[i].rows;
    return font[sizeof font / sizeof *font - 1].rows;
}

void fc_burn_text(uint8_t *y_plane, int stride, int width, int height, int x, int y, int scale,
                  const char *text)
{
    int n = (int)strlen(text);
    int cell = 6 * scale, pad = scale;
    /* Dark box behind the text so it reads on any background. */
    for (int yy = y - pad; yy < y + 7 * scale + pad; yy++) {
        if (yy < 0 || yy >= height) continue;
        int x0 = x - pad < 0 ? 0 : x - pad;
        int x1 = x + n * cell + pad > width ? width : x + n * cell + pad;
        if (x1 > x0) memset(y_plane + (size_t)yy * (size_t)stride + x0, 16, (size_t)(x1 - x0));
    }
    for (int i = 0; i < n; i++) {
        const uint8_t *rows = glyph(text[i]);
        for (int r = 0; r < 7; r++) {
            for (int c = 0; c < 5; c++) {
                if (!(rows[r] & (0x10 >> c))) continue;
                for (int dy = 0; dy < scale; dy++) {
                    int yy = y + r * scale + dy;
                    if (yy < 0 || yy >= height) continue;
                    for (int dx = 0; dx < scale; dx++) {
                        int xx = x + i * cell + c * scale + dx;
                        if (xx >= 0 && xx < width) y_plane[(size_t)yy * (size_t)stride + xx] = 235;
                    }
                }
            }
        }
    }
}

static void burn_stamp(fc_frame *f, uint32_t index, double t, int scale, int x, int y)
{
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char text[64];
    snprintf(text, sizeof text, "#%06u %02d:%02d:%02d.%03d", index % 1000000u, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)((t - (double)secs) * 1000.0) % 1000);
    fc_burn_text(f->plane[0], f->stride[0], f->width, f->height, x, y, scale, text);
}

/* A diagonal luma ramp that scrolls, colour bands that drift, and a bright
 * square bouncing around: every frame differs from the last everywhere, like
 * a real camera, and motion is easy to judge.
 *
 * Each luma row is the same ramp shifted, so rows are copied out of one
 * precomputed line instead of computed pixel by pixel: a 720p frame costs
 * a few hundred microseconds less, which is the synthetic source's share of
 * every benchmark. */
static void render_procedural(synthetic *s, fc_frame *f, uint32_t index)
{
    int w = f->width, h = f->height;
    uint8_t *yp = f->plane[0];
    for (int y = 0; y < h; y++) {
        unsigned base = (unsigned)(y / 2 + index * 3) & 127;
        memcpy(yp + (size_t)y * (size_t)f->stride[0], s->ramp + 4 * base, (size_t)w);
    }
    for (int y = 0; y < h / 2; y++) {
        uint8_t u = (uint8_t)(128 + 60 * sin((y + index) * 0.02));
        uint8_t v = (uint8_t)(128 + 60 * cos((y - index) * 0.015));
        memset(f->plane[1] + (size_t)y * (size_t)f->stride[1], u, (size_t)w / 2);
        memset(f->plane[2] + (size_t)y * (size_t)f->stride[2], v, (size_t)w / 2);
    }
    int side = h / 6;
    int span_x = w - side, span_y = h - side;
    int px = (int)((index * 7) % (unsigned)(2 * span_x));
    int py = (int)((index * 5) % (unsigned)(2 * span_y));
    if (px > span_x) px = 2 * span_x - px;
    if (py > span_y) py = 2 * span_y - py;
    for (int y = py; y < py + side; y++)
        memset(yp + (size_t)y * (size_t)f->stride[0] + px, 220, (size_t)side);
}

/* Pan and zoom over the picture (sources/panzoom.h), one frame per index. */
static void render_image(const fc_frame *img, fc_frame *f, uint32_t index, double fps)
{
    int x0, y0, iw, ih;
    fc_panzoom_window(img->width, img->height, f->width, f->height, index / (fps > 0 ? fps : 30.0),
                      &x0, &y0, &iw, &ih);
    const uint8_t *sy = img->plane[0] + (size_t)y0 * (size_t)img->stride[0] + x0;
    const uint8_t *su = img->plane[1] + (size_t)(y0 / 2) * (size_t)img->stride[1] + x0 / 2;
    const uint8_t *sv = img->plane[2] + (size_t)(y0 / 2) * (size_t)img->stride[2] + x0 / 2;
    I420Scale(sy, img->stride[0], su, img->stride[1], sv, img->stride[2], iw, ih, f->plane[0],
              f->stride[0], f->plane[1], f->stride[1], f->plane[2], f->stride[2], f->width,
              f->height, kFilterBilinear);
}

static int synthetic_render(fc_source *src, uint32_t index, double t, fc_frame **out)
{
    synthetic *s = (synthetic *)src;
    fc_frame *f = fc_frame_new_i420(src->width, src->height);
    if (!f) return -ENOMEM;
    if (s->image) {
        render_image(s->image, f, s->still ? 0 : index, src->fps);
        int scale = src->height >= 480 ? 2 : 1;
        burn_stamp(f, index, t, scale, 4 * scale, src->height - 12 * scale);
    } else {
        render_procedural(s, f, index);
        /* Large, at the bottom: viewers put their overlays at the top. */
        int scale = src->height / 90 > 1 ? src->height / 90 : 1;
        burn_stamp(f, index, t, scale, 2 * scale, src->height - 9 * scale);
    }
    f->id = index;
    f->timestamp = t;
    *out = f;
    return 0;
}

static void synthetic_destroy(fc_source *src)
{
    synthetic *s = (synthetic *)src;
    fc_frame_unref(s->image);
    free(s->ramp);
    free(s);
}

static const fc_source_ops synthetic_ops = {
    .type = "synthetic",
    .render = synthetic_render,
    .destroy = synthetic_destroy,
};

int fc_synthetic_create(const fc_source_spec *spec, int width, int height, double fps,
                        fc_source **out, char *err, size_t errlen)
{
    synthetic *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "synthetic source: out of memory");
        return -ENOMEM;
    }
    if (strcmp(spec->mode, "image") == 0) {
        if (fc_image_load_i420(spec->path, &s->image, err, errlen) < 0) {
            free(s);
            /* -1 like every failure of fc_source_create (spec.c), which the
             * sources tests pin; the sources work moves it to errno codes. */
            return -1;
        }
        snprintf(s->base.description, sizeof s->base.description, "synthetic:image=%s%s",
                 spec->path, spec->still ? ",motion=0" : "");
        s->still = spec->still;
    } else {
        /* Row y starts 4 * ((y / 2 + 3 * index) & 127) bytes in: 508 + width. */
        size_t len = (size_t)width + 4 * 128;
        s->ramp = malloc(len);
        if (!s->ramp) {
            free(s);
            snprintf(err, errlen, "synthetic source: out of memory");
            return -ENOMEM;
        }
        for (size_t k = 0; k < len; k++)
            s->ramp[k] = (uint8_t)(48 + ((k / 4) & 127));
        snprintf(s->base.description, sizeof s->base.description, "synthetic:procedural");
    }
    s->base.ops = &synthetic_ops;
    s->base.width = width;
    s->base.height = height;
    s->base.fps = fps;
    *out = &s->base;
    return 0;
}
