/* Decode CPU of one H.264 file through framecast's own source module
 * (sources/av_source.h), full decode against key-frame-only decode, both in
 * the same run: two sources on the same file at its own rate, one asking for
 * every frame, one for key frames only. Prints one JSON object.
 *
 *   decode-keyonly FILE SECONDS */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/clock.h"
#include "core/loop.h"
#include "core/pool.h"
#include "sources/av_source.h"

typedef struct run {
    fc_source *src;
    bool stopped;
} run;

static void on_frame(void *ctx, fc_frame *f)
{
    (void)ctx;
    (void)f;
}

static void on_stopped(void *ctx)
{
    ((run *)ctx)->stopped = true;
}

static void on_timer(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static int start(run *r, const char *path, bool key_only, fc_loop *loop, fc_pool *pool)
{
    char spec[1200], err[512];
    fc_source_spec s;
    snprintf(spec, sizeof spec, "file:%s,loop", path);
    if (fc_source_spec_parse(spec, &s, err, sizeof err) != 0 ||
        fc_av_source_create(&s, 0, 0, 0, &r->src, err, sizeof err) != 0) {
        fprintf(stderr, "decode-keyonly: %s\n", err);
        return -1;
    }
    fc_source_sink sink = {.ctx = r, .on_frame = on_frame, .on_stopped = on_stopped};
    if (r->src->ops->start(r->src, loop, pool, &sink, 0, err, sizeof err) != 0) {
        fprintf(stderr, "decode-keyonly: %s\n", err);
        return -1;
    }
    fc_source_demand d = {.pixels = true, .key_only = key_only};
    r->src->ops->set_demand(r->src, &d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: decode-keyonly FILE SECONDS\n");
        return 2;
    }
    /* As framecast serve does: frame-sized blocks come from the heap and are
     * reused, not mapped and faulted in afresh for every frame. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    fc_loop loop;
    fc_pool *pool;
    if (fc_loop_init(&loop) != 0 || fc_pool_create(0, &pool) != 0) return 1;
    run full = {0}, key = {0};
    if (start(&full, argv[1], false, &loop, pool) != 0 || start(&key, argv[1], true, &loop, pool))
        return 1;
    uv_timer_t timer;
    uv_timer_init(&loop.uv, &timer);
    uv_timer_start(&timer, on_timer, (uint64_t)(atof(argv[2]) * 1000), 0);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    fc_source_status a, b;
    full.src->ops->get_status(full.src, &a);
    key.src->ops->get_status(key.src, &b);
    full.src->ops->stop(full.src);
    key.src->ops->stop(key.src);
    while (!full.stopped || !key.stopped)
        uv_run(&loop.uv, UV_RUN_ONCE);
    printf("{\"seconds\": %s, \"full\": {\"decoded\": %llu, \"delivered\": %llu, \"cpu_s\": %.3f}, "
           "\"key_only\": {\"decoded\": %llu, \"delivered\": %llu, \"cpu_s\": %.3f}}\n",
           argv[2], (unsigned long long)a.frames_decoded, (unsigned long long)a.frames_delivered,
           a.decode_cpu_ns / 1e9, (unsigned long long)b.frames_decoded,
           (unsigned long long)b.frames_delivered, b.decode_cpu_ns / 1e9);
    fc_source_destroy(full.src);
    fc_source_destroy(key.src);
    uv_close((uv_handle_t *)&timer, NULL);
    fc_pool_destroy(pool);
    fc_loop_close(&loop);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    uv_loop_close(&loop.uv);
    return 0;
}
