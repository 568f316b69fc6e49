/* An example generator plugin, built by the tests to prove the ABI in
 * include/framecast/generator.h from outside the server: it uses nothing but
 * that header. It shows the source picture with a level meter (a bar at the
 * bottom as wide as the speech is loud) and wants 16 kHz mono.
 *
 * Built three times: as is; with EXAMPLE_ABI_VERSION set to a wrong version so
 * the tests can check that framecast refuses it; and with EXAMPLE_RENDER_MS,
 * a generator that holds its worker that long per frame without using the
 * CPU (as one waiting for a GPU does), so the tests can saturate the pool of
 * a shared machine on purpose (admission, tests/integration/capacity). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "framecast/generator.h"

#ifndef EXAMPLE_ABI_VERSION
#define EXAMPLE_ABI_VERSION FC_GENERATOR_ABI_VERSION
#endif

typedef struct example {
    int w, h;
    uint8_t *rgb; /* the source, w * 3 bytes per row */
    float level;
} example;

static int ex_open(const fc_generator_image *src, const char *setup_json, const char *run_json,
                   void **state, fc_generator_info *info, char *err, size_t errlen)
{
    (void)setup_json;
    (void)run_json;
    example *e = calloc(1, sizeof *e);
    int w = src->width & ~1, h = src->height & ~1;
    if (e) e->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!e || !e->rgb) {
        free(e);
        snprintf(err, errlen, "example: out of memory");
        return -1;
    }
    for (int y = 0; y < h; y++)
        memcpy(e->rgb + (size_t)y * (size_t)w * 3, src->rgb + (size_t)y * (size_t)src->stride,
               (size_t)w * 3);
    e->w = w;
    e->h = h;
    *info = (fc_generator_info){.width = w, .height = h, .sample_rate = 16000, .channels = 1};
    *state = e;
    return 0;
}

static int ex_push_audio(void *state, const float *samples, size_t frames)
{
    example *e = state;
    double acc = 0;
    for (size_t i = 0; i < frames; i++)
        acc += (double)samples[i] * samples[i];
    e->level = frames ? (float)sqrt(acc / (double)frames) : 0;
    return 0;
}

static int ex_render_rgb(void *state, uint32_t index, uint8_t *rgb, int stride)
{
    (void)index;
    example *e = state;
#ifdef EXAMPLE_RENDER_MS
    struct timespec hold = {EXAMPLE_RENDER_MS / 1000, (EXAMPLE_RENDER_MS % 1000) * 1000000L};
    nanosleep(&hold, NULL);
#endif
    int bar = (int)(e->level * 8 * (float)e->w);
    bar = bar > e->w ? e->w : bar;
    for (int y = 0; y < e->h; y++) {
        uint8_t *d = rgb + (size_t)y * (size_t)stride;
        memcpy(d, e->rgb + (size_t)y * (size_t)e->w * 3, (size_t)e->w * 3);
        if (y >= e->h - e->h / 16)
            for (int x = 0; x < bar; x++) {
                d[3 * x] = 0;
                d[3 * x + 1] = 220;
                d[3 * x + 2] = 0;
            }
    }
    return 0;
}

static void ex_close(void *state)
{
    example *e = state;
    free(e->rgb);
    free(e);
}

static const fc_generator table = {
    .abi_version = EXAMPLE_ABI_VERSION,
    .struct_size = sizeof(fc_generator),
    .name = "example",
    .open = ex_open,
    .push_audio = ex_push_audio,
    .render_rgb = ex_render_rgb,
    .close = ex_close,
    /* No render_i420: framecast converts the RGB. */
};

const fc_generator *fc_generator_entry(void)
{
    return &table;
}
