/* A generator for tests that need a session's set-up to stay on its worker
 * until they let it go: `open` first reads one byte from the FIFO named by
 * FC_TEST_GATE (blocking, as a slow decode would), then draws the source
 * picture as it is. The tests write one byte per set-up they release, so
 * what is queued behind it, refused or cancelled is decided by the test,
 * not by timing. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "framecast/generator.h"

typedef struct gate {
    int w, h;
    uint8_t *rgb;
} gate;

static int wait_gate(char *err, size_t errlen)
{
    const char *path = getenv("FC_TEST_GATE");
    if (!path) return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char b;
    ssize_t n = fd >= 0 ? read(fd, &b, 1) : -1;
    if (fd >= 0) close(fd);
    if (n == 1) return 0;
    snprintf(err, errlen, "gate: cannot read %s", path);
    return -1;
}

static int g_open(const fc_generator_image *src, const char *setup_json, const char *run_json,
                  void **state, fc_generator_info *info, char *err, size_t errlen)
{
    (void)setup_json;
    (void)run_json;
    if (wait_gate(err, errlen) != 0) return -1;
    gate *g = calloc(1, sizeof *g);
    int w = src->width & ~1, h = src->height & ~1;
    if (g) g->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!g || !g->rgb) {
        free(g);
        snprintf(err, errlen, "gate: out of memory");
        return -1;
    }
    for (int y = 0; y < h; y++)
        memcpy(g->rgb + (size_t)y * (size_t)w * 3, src->rgb + (size_t)y * (size_t)src->stride,
               (size_t)w * 3);
    g->w = w;
    g->h = h;
    *info = (fc_generator_info){.width = w, .height = h, .sample_rate = 16000, .channels = 1};
    *state = g;
    return 0;
}

static int g_push_audio(void *state, const float *samples, size_t frames)
{
    (void)state;
    (void)samples;
    (void)frames;
    return 0;
}

static int g_render_rgb(void *state, uint32_t index, uint8_t *rgb, int stride)
{
    (void)index;
    gate *g = state;
    for (int y = 0; y < g->h; y++)
        memcpy(rgb + (size_t)y * (size_t)stride, g->rgb + (size_t)y * (size_t)g->w * 3,
               (size_t)g->w * 3);
    return 0;
}

static void g_close(void *state)
{
    gate *g = state;
    free(g->rgb);
    free(g);
}

static const fc_generator table = {
    .abi_version = FC_GENERATOR_ABI_VERSION,
    .struct_size = sizeof(fc_generator),
    .name = "gate",
    .open = g_open,
    .push_audio = g_push_audio,
    .render_rgb = g_render_rgb,
    .close = g_close,
};

const fc_generator *fc_generator_entry(void)
{
    return &table;
}
