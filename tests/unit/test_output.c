/* fc_output on a real loop and worker pool: tiers encoded only when wanted
 * and once for all, codec instances opened lazily and closed when idle or on
 * a size change, key frames asked for by arrivals (coalesced per frame and
 * to one per interval, carried over a replaced job), the keyint floor, the
 * low tier of an inter-frame codec at half size, late frames for the
 * avatar's one client, close waiting for the running encode. The codec is a
 * recording one behind codec.h, so what the output asked of it is visible;
 * its encode can be held to make a job run long. The JPEG codec runs the
 * same path at the end. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/pool.h"
#include "encode/jpeg.h"
#include "encode/output.h"

/* ---- a recording codec ---- */

#define MAX_ENCODES 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool hold;    /* encode waits while set */
    bool running; /* an encode is inside */
    bool fail;    /* encode fails */
    int opens, closes, encodes;
    uint32_t ids[MAX_ENCODES];
    bool force_key[MAX_ENCODES];
    int quality[MAX_ENCODES];
    int width[MAX_ENCODES];
    uint8_t luma0[MAX_ENCODES]; /* the picture's first luma byte */
} rec = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

struct rec_encoder {
    int quality, tier;
    bool started;
};

static int rec_open(const fc_codec_config *cfg, fc_encoder **out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct rec_encoder *e = calloc(1, sizeof *e);
    e->quality = cfg->quality;
    e->tier = cfg->tier;
    pthread_mutex_lock(&rec.mu);
    rec.opens++;
    pthread_mutex_unlock(&rec.mu);
    *out = (fc_encoder *)e;
    return 0;
}

static int rec_encode(fc_encoder *enc, const fc_frame *raw, const fc_encode_args *args,
                      fc_frame **out, char *err, size_t errlen)
{
    struct rec_encoder *e = (struct rec_encoder *)enc;
    pthread_mutex_lock(&rec.mu);
    rec.running = true;
    pthread_cond_broadcast(&rec.cv);
    while (rec.hold)
        pthread_cond_wait(&rec.cv, &rec.mu);
    rec.running = false;
    bool fail = rec.fail;
    if (!fail && rec.encodes < MAX_ENCODES) {
        rec.ids[rec.encodes] = raw->id;
        rec.force_key[rec.encodes] = args->force_key;
        rec.quality[rec.encodes] = e->quality;
        rec.width[rec.encodes] = raw->width;
        rec.luma0[rec.encodes] = raw->plane[0][0];
        rec.encodes++;
    }
    pthread_mutex_unlock(&rec.mu);
    if (fail) {
        snprintf(err, errlen, "rec: told to fail");
        return -EIO;
    }
    fc_frame *f = fc_frame_new_encoded(4);
    memcpy(f->payload, "rec!", 4);
    f->payload_len = 4;
    f->codec = FC_CODEC_JPEG;
    f->key = args->force_key || !e->started;
    e->started = true;
    f->tier = e->tier;
    f = fc_frame_finish(f, raw);
    *out = f;
    return 0;
}

static void rec_close(fc_encoder *enc)
{
    free(enc);
    pthread_mutex_lock(&rec.mu);
    rec.closes++;
    pthread_mutex_unlock(&rec.mu);
}

static const fc_codec_ops rec_codec = {
    .abi_version = FC_CODEC_ABI_VERSION,
    .struct_size = sizeof(fc_codec_ops),
    .name = "rec",
    .id = FC_CODEC_JPEG,
    .inter_frame = true,
    .open = rec_open,
    .encode = rec_encode,
    .close = rec_close,
};

/* The same, as a still-picture codec: a hub without key-frame rules. */
static const fc_codec_ops rec_still_codec = {
    .abi_version = FC_CODEC_ABI_VERSION,
    .struct_size = sizeof(fc_codec_ops),
    .name = "rec-still",
    .id = FC_CODEC_JPEG,
    .inter_frame = false,
    .open = rec_open,
    .encode = rec_encode,
    .close = rec_close,
};

static void rec_reset(void)
{
    pthread_mutex_lock(&rec.mu);
    rec.hold = rec.running = rec.fail = false;
    rec.opens = rec.closes = rec.encodes = 0;
    pthread_mutex_unlock(&rec.mu);
}

static void rec_hold(bool on)
{
    pthread_mutex_lock(&rec.mu);
    rec.hold = on;
    pthread_cond_broadcast(&rec.cv);
    pthread_mutex_unlock(&rec.mu);
}

/* Blocks until an encode is inside rec_encode (held there). */
static void rec_wait_running(void)
{
    pthread_mutex_lock(&rec.mu);
    while (!rec.running)
        pthread_cond_wait(&rec.cv, &rec.mu);
    pthread_mutex_unlock(&rec.mu);
}

static int rec_get(const int *field)
{
    pthread_mutex_lock(&rec.mu);
    int v = *field;
    pthread_mutex_unlock(&rec.mu);
    return v;
}

/* ---- a loop, a pool and an output ---- */

typedef struct world {
    fc_loop loop;
    fc_pool *pool;
    fc_output *out;
    int published, failed, closed;
    char last_error[200];
    uv_timer_t deadline;
    bool timed_out;
} world;

static void on_published(void *arg, const fc_frame *f, uint64_t cpu_ns)
{
    (void)f;
    (void)cpu_ns;
    ((world *)arg)->published++;
}

static void on_failed(void *arg, const char *msg)
{
    world *w = arg;
    w->failed++;
    snprintf(w->last_error, sizeof w->last_error, "%s", msg);
}

static const fc_output_hooks hooks = {.published = on_published, .failed = on_failed};

static void on_deadline(uv_timer_t *t)
{
    ((world *)t->data)->timed_out = true;
}

/* Runs the loop until cond(w) holds; fails the test after 10 s. Each turn
 * blocks in the kernel until a job or timer is back: no polling. */
static void run_until(world *w, bool (*cond)(world *w), const char *what)
{
    w->timed_out = false;
    uv_timer_start(&w->deadline, on_deadline, 10000, 0);
    while (!cond(w) && !w->timed_out)
        uv_run(&w->loop.uv, UV_RUN_ONCE);
    uv_timer_stop(&w->deadline);
    if (!cond(w)) fail_msg("timed out waiting for %s", what);
}

/* An output of `cfg` (name, rate and qualities filled in here). */
static world *world_with(fc_output_config cfg)
{
    rec_reset();
    world *w = calloc(1, sizeof *w);
    assert_int_equal(fc_loop_init(&w->loop), 0);
    assert_int_equal(fc_pool_create(2, &w->pool), 0);
    uv_timer_init(&w->loop.uv, &w->deadline);
    w->deadline.data = w;
    cfg.name = "test";
    memcpy(cfg.quality, (int[3]){90, 70, 50}, sizeof cfg.quality);
    cfg.fps = 30;
    char err[200];
    assert_int_equal(fc_output_create(&w->loop, w->pool, &cfg, &hooks, w, &w->out, err, sizeof err),
                     0);
    return w;
}

/* Every key-frame request is served at the next frame, and every tier is at
 * the pushed size, unless a test says otherwise. */
static world *world_new(const fc_codec_ops *codec, bool deliver_late, unsigned idle_ms)
{
    return world_with((fc_output_config){.codec = codec,
                                         .deliver_late = deliver_late,
                                         .idle_close_ms = idle_ms,
                                         .key_interval_s = -1,
                                         .same_size_tiers = true});
}

static bool waited;
static void on_waited(uv_timer_t *t)
{
    (void)t;
    waited = true;
}

static bool has_waited(world *w)
{
    (void)w;
    return waited;
}

/* Runs the loop for `ms` of wall time: what a time-based rule waits for. */
static void wait_ms(world *w, unsigned ms)
{
    uv_timer_t t;
    uv_timer_init(&w->loop.uv, &t);
    waited = false;
    uv_timer_start(&t, on_waited, ms, 0);
    run_until(w, has_waited, "the time to pass");
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&w->loop.uv, UV_RUN_NOWAIT);
}

static void on_closed(void *arg)
{
    ((world *)arg)->closed++;
}

static bool is_closed(world *w)
{
    return w->closed == 1;
}

static void world_free(world *w)
{
    if (!w->closed) {
        fc_output_close(w->out, on_closed, w);
        run_until(w, is_closed, "the output to close");
    }
    uv_close((uv_handle_t *)&w->deadline, NULL);
    fc_loop_close(&w->loop);
    uv_run(&w->loop.uv, UV_RUN_DEFAULT);
    fc_pool_destroy(w->pool);
    assert_int_equal(uv_loop_close(&w->loop.uv), 0);
    free(w);
    assert_int_equal(fc_frame_live_count(), 0);
}

static fc_sub *subscribe(world *w, fc_tier tier)
{
    fc_sub_opts opts = {.auto_tier = false, .tier = tier, .queue = 8};
    fc_sub *s;
    assert_int_equal(fc_output_subscribe(w->out, &opts, NULL, NULL, &s), 0);
    return s;
}

static void push(world *w, uint32_t id, int width, int height)
{
    fc_frame *raw = fc_frame_new_i420(width, height);
    memset(raw->plane[0], 0, (size_t)width * (size_t)height * 3 / 2);
    raw->id = id;
    raw->timestamp = id / 30.0;
    fc_output_push(w->out, raw);
    fc_frame_unref(raw); /* the output holds its own references */
}

static int want_published;
static bool published_enough(world *w)
{
    return w->published >= want_published && !fc_output_busy(w->out);
}

static void push_and_wait(world *w, uint32_t id)
{
    want_published = w->published + 1;
    push(w, id, 64, 48);
    run_until(w, published_enough, "a published frame");
}

/* ---- tests ---- */

static void encodes_wanted_tiers_once_for_all(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    /* Nobody subscribed: nothing is encoded or opened. */
    push(w, 1, 64, 48);
    assert_false(fc_output_busy(w->out));
    fc_sub *a = subscribe(w, FC_TIER_HIGH), *b = subscribe(w, FC_TIER_HIGH);
    push_and_wait(w, 2);
    fc_frame *fa = fc_sub_next(a, 0), *fb = fc_sub_next(b, 0);
    assert_non_null(fa);
    assert_ptr_equal(fa, fb); /* one encode, shared by reference */
    assert_int_equal(fa->id, 2);
    fc_frame_unref(fa);
    fc_frame_unref(fb);
    push_and_wait(w, 3);
    fc_output_stats st;
    fc_output_get_stats(w->out, &st);
    assert_int_equal(st.encoded[FC_TIER_HIGH], 2);
    assert_int_equal(st.encoded[FC_TIER_MEDIUM], 0);
    assert_int_equal(st.encoded[FC_TIER_LOW], 0);
    /* One instance for the tier, opened by its first encode, kept. */
    assert_int_equal(st.encoders_opened, 1);
    assert_int_equal(st.encoders_open, 1);
    assert_int_equal(rec_get(&rec.quality[0]), 90);
    world_free(w);
    assert_int_equal(rec.closes, rec.opens);
}

static void arrivals_ask_one_key_frame(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    subscribe(w, FC_TIER_MEDIUM);
    push_and_wait(w, 1);
    push_and_wait(w, 2);
    /* Two arrivals between frames: one key frame, not two. */
    subscribe(w, FC_TIER_MEDIUM);
    subscribe(w, FC_TIER_MEDIUM);
    push_and_wait(w, 3);
    push_and_wait(w, 4);
    assert_int_equal(rec_get(&rec.encodes), 4);
    assert_true(rec.force_key[0]);
    assert_false(rec.force_key[1]);
    assert_true(rec.force_key[2]);
    assert_false(rec.force_key[3]);
    assert_int_equal(rec.quality[0], 70);
    world_free(w);
}

static void key_request_survives_a_replaced_job(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    subscribe(w, FC_TIER_HIGH);
    push_and_wait(w, 1); /* the first subscriber's key frame is made */
    rec_hold(true);
    push(w, 2, 64, 48); /* runs, held */
    rec_wait_running();
    subscribe(w, FC_TIER_HIGH);
    push(w, 3, 64, 48); /* waits, owes the newcomer a key frame */
    push(w, 4, 64, 48); /* replaces 3 before it ran */
    want_published = 3;
    rec_hold(false);
    run_until(w, published_enough, "frames 2 and 4");
    assert_int_equal(rec_get(&rec.encodes), 3);
    assert_int_equal(rec.ids[1], 2);
    assert_false(rec.force_key[1]);
    assert_int_equal(rec.ids[2], 4);
    assert_true(rec.force_key[2]); /* taken over from the replaced job */
    fc_output_stats st;
    fc_output_get_stats(w->out, &st);
    assert_int_equal(st.coalesced, 1);
    world_free(w);
}

static bool encoder_closed(world *w)
{
    fc_output_stats st;
    fc_output_get_stats(w->out, &st);
    return rec_get(&rec.closes) == 1 && st.encoders_open == 0;
}

static void idle_encoders_close_and_reopen(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 30);
    fc_sub *a = subscribe(w, FC_TIER_LOW);
    push_and_wait(w, 1);
    assert_int_equal(rec_get(&rec.opens), 1);
    fc_output_unsubscribe(w->out, a);
    /* Nobody is on the tier and nothing more is pushed (a paused stream):
     * the timer alone closes the instance. */
    run_until(w, encoder_closed, "the idle encoder to close");
    subscribe(w, FC_TIER_LOW);
    push_and_wait(w, 2);
    assert_int_equal(rec_get(&rec.opens), 2);
    assert_true(rec.force_key[1]);
    world_free(w);
}

static void size_change_reopens(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    fc_sub *a = subscribe(w, FC_TIER_HIGH);
    push_and_wait(w, 1);
    want_published = 2;
    push(w, 2, 32, 24);
    run_until(w, published_enough, "the smaller frame");
    assert_int_equal(rec_get(&rec.opens), 2);
    assert_int_equal(rec_get(&rec.closes), 1);
    fc_frame *f = fc_sub_next(a, 0);
    fc_frame_unref(f);
    f = fc_sub_next(a, 0);
    assert_int_equal(f->width, 32);
    fc_frame_unref(f);
    world_free(w);
}

/* A frame finishing for a tier its subscriber has just left: lost for a
 * stream (the next frame comes), delivered for an avatar's one client when
 * every frame decodes on its own. An inter-frame subscriber leaves a tier
 * only at the next one's key frame, and a late delta of the old tier would
 * not decode after it: never delivered. */
static void late_frames(const fc_codec_ops *codec, bool deliver_late, bool delivered)
{
    world *w = world_new(codec, deliver_late, 0);
    fc_sub *a = subscribe(w, FC_TIER_HIGH);
    rec_hold(true);
    push(w, 1, 64, 48);
    rec_wait_running();
    fc_output_unsubscribe(w->out, a);
    fc_sub *b = subscribe(w, FC_TIER_LOW);
    want_published = 1;
    rec_hold(false);
    run_until(w, published_enough, "the held frame");
    fc_frame *f = fc_sub_next(b, 0);
    if (delivered) {
        assert_non_null(f);
        assert_int_equal(f->id, 1);
        fc_frame_unref(f);
    } else {
        assert_null(f);
    }
    world_free(w);
}

static void late_frame_lost_for_streams(void **state)
{
    (void)state;
    late_frames(&rec_still_codec, false, false);
}

static void late_frame_delivered_when_every_frame_counts(void **state)
{
    (void)state;
    late_frames(&rec_still_codec, true, true);
    late_frames(&rec_codec, true, false);
}

/* Many arrivals in one interval: one forced key frame. With an interval
 * longer than the test, arrivals after the first key frame get none (they
 * wait, and no frame reaches them); with a short one, the first frame after
 * it serves them all. */
static void forced_keys_coalesce_to_one_per_interval(void **state)
{
    (void)state;
    world *w = world_with(
        (fc_output_config){.codec = &rec_codec, .key_interval_s = 60, .same_size_tiers = true});
    subscribe(w, FC_TIER_HIGH);
    push_and_wait(w, 1); /* the instance's first frame: a key frame anyway */
    fc_sub *late[3];
    for (int i = 0; i < 3; i++)
        late[i] = subscribe(w, FC_TIER_HIGH);
    push_and_wait(w, 2);
    push_and_wait(w, 3);
    assert_false(rec.force_key[1]);
    assert_false(rec.force_key[2]);
    for (int i = 0; i < 3; i++)
        assert_null(fc_sub_next(late[i], 0));
    fc_output_stats st;
    fc_output_get_stats(w->out, &st);
    assert_int_equal(st.keyframes, 1);
    assert_int_equal(st.keyframes_forced, 0);
    world_free(w);

    w = world_with(
        (fc_output_config){.codec = &rec_codec, .key_interval_s = 0.2, .same_size_tiers = true});
    subscribe(w, FC_TIER_HIGH);
    push_and_wait(w, 1);
    for (int i = 0; i < 3; i++)
        late[i] = subscribe(w, FC_TIER_HIGH);
    wait_ms(w, 250);
    push_and_wait(w, 2);
    push_and_wait(w, 3);
    assert_true(rec.force_key[1]);
    assert_false(rec.force_key[2]); /* nobody is waiting any more */
    for (int i = 0; i < 3; i++) {
        fc_frame *f = fc_sub_next(late[i], 0);
        assert_int_equal(f->id, 2);
        assert_true(f->key);
        fc_frame_unref(f);
    }
    fc_output_get_stats(w->out, &st);
    assert_int_equal(st.keyframes, 2);
    assert_int_equal(st.keyframes_forced, 1);
    assert_int_equal(st.keyframes_periodic, 0);
    world_free(w);
}

static void keyint_floor_makes_a_key_frame(void **state)
{
    (void)state;
    world *w = world_with(
        (fc_output_config){.codec = &rec_codec, .keyint_s = 0.2, .same_size_tiers = true});
    subscribe(w, FC_TIER_MEDIUM);
    push_and_wait(w, 1);
    wait_ms(w, 250);
    push_and_wait(w, 2);
    assert_true(rec.force_key[1]);
    fc_output_stats st;
    fc_output_get_stats(w->out, &st);
    assert_int_equal(st.keyframes_periodic, 1);
    assert_int_equal(st.keyframes_forced, 0); /* nobody asked */
    world_free(w);
}

/* The low tier of an inter-frame codec encodes a half-size picture, box
 * filtered (rows of 0 and 200 become 100); the others the pushed size. */
static void inter_frame_low_tier_is_half_size(void **state)
{
    (void)state;
    world *w = world_with((fc_output_config){.codec = &rec_codec, .key_interval_s = -1});
    fc_sub *lo = subscribe(w, FC_TIER_LOW);
    fc_frame *raw = fc_frame_new_i420(64, 48);
    memset(raw->plane[1], 128, 32 * 24);
    memset(raw->plane[2], 128, 32 * 24);
    for (int y = 0; y < 48; y++)
        memset(raw->plane[0] + y * raw->stride[0], y % 2 ? 200 : 0, 64);
    raw->id = 1;
    want_published = 1;
    fc_output_push(w->out, raw);
    run_until(w, published_enough, "the low frame");
    assert_int_equal(rec_get(&rec.width[0]), 32);
    assert_int_equal(rec.luma0[0], 100);
    fc_frame *f = fc_sub_next(lo, 0);
    assert_int_equal(f->width, 32);
    assert_int_equal(f->height, 24);
    fc_frame_unref(f);
    int tw, th;
    fc_output_config cfg = {.codec = &rec_codec};
    fc_output_tier_size(&cfg, FC_TIER_LOW, 1280, 720, &tw, &th);
    assert_int_equal(tw, 640);
    assert_int_equal(th, 360);
    fc_output_tier_size(&cfg, FC_TIER_HIGH, 1280, 720, &tw, &th);
    assert_int_equal(tw, 1280);
    cfg.codec = &rec_still_codec;
    fc_output_tier_size(&cfg, FC_TIER_LOW, 1280, 720, &tw, &th);
    assert_int_equal(tw, 1280);
    subscribe(w, FC_TIER_HIGH);
    want_published = 3;
    fc_output_push(w->out, raw);
    run_until(w, published_enough, "a high and a low frame");
    assert_true((rec.width[1] == 64 && rec.width[2] == 32) ||
                (rec.width[1] == 32 && rec.width[2] == 64));
    fc_frame_unref(raw);
    world_free(w);
}

static void close_waits_for_the_running_encode(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    subscribe(w, FC_TIER_HIGH);
    rec_hold(true);
    push(w, 1, 64, 48);
    rec_wait_running();
    push(w, 2, 64, 48); /* pending: dropped by the close */
    fc_output_close(w->out, on_closed, w);
    /* The loop runs, but the output cannot go while its job runs. */
    uv_run(&w->loop.uv, UV_RUN_NOWAIT);
    assert_int_equal(w->closed, 0);
    rec_hold(false);
    run_until(w, is_closed, "the output to close");
    assert_int_equal(rec_get(&rec.encodes), 1);
    assert_int_equal(w->published, 0); /* nothing is published after close */
    assert_int_equal(rec_get(&rec.closes), rec_get(&rec.opens));
    world_free(w);
}

static bool failed_once(world *w)
{
    return w->failed == 1 && !fc_output_busy(w->out);
}

static void a_failed_encode_is_reported_and_keeps_the_key_owed(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    subscribe(w, FC_TIER_HIGH);
    pthread_mutex_lock(&rec.mu);
    rec.fail = true;
    pthread_mutex_unlock(&rec.mu);
    push(w, 1, 64, 48);
    run_until(w, failed_once, "the failure");
    assert_string_equal(w->last_error, "rec: told to fail");
    pthread_mutex_lock(&rec.mu);
    rec.fail = false;
    pthread_mutex_unlock(&rec.mu);
    push_and_wait(w, 2);
    assert_true(rec.force_key[0]);
    world_free(w);
}

static fc_frame *raw_frame(uint32_t id)
{
    fc_frame *raw = fc_frame_new_i420(64, 48);
    memset(raw->plane[0], 0, 64 * 48 * 3 / 2);
    raw->id = id;
    return raw;
}

/* A producer's job encoding its own frame: reserved on the loop for the one
 * tier wanted, encoded "in the job" (here, on the test thread), published at
 * done; a push meanwhile waits behind it; an unused reservation gives the
 * tier back with its key frame still owed. */
static void reserved_encode_in_the_producers_job(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    assert_null(fc_output_reserve(w->out)); /* nobody wants a frame */
    fc_sub *a = subscribe(w, FC_TIER_MEDIUM);
    fc_output_slot *s = fc_output_reserve(w->out);
    assert_non_null(s);
    assert_true(fc_output_busy(w->out));
    assert_null(fc_output_reserve(w->out)); /* the tier is taken */
    push(w, 2, 64, 48);                     /* waits behind the reservation */
    fc_frame *raw = raw_frame(1);
    assert_int_equal(fc_output_slot_encode(s, raw), 0);
    fc_frame_unref(raw);
    want_published = 2;
    fc_output_slot_done(s, 1000);
    assert_int_equal(w->published, 1); /* at once, on the loop */
    run_until(w, published_enough, "the pushed frame after the reserved one");
    assert_int_equal(rec_get(&rec.encodes), 2);
    assert_int_equal(rec.ids[0], 1);
    assert_true(rec.force_key[0]); /* the subscriber's arrival */
    assert_int_equal(rec.ids[1], 2);
    fc_frame *f = fc_sub_next(a, 0);
    assert_int_equal(f->id, 1);
    fc_frame_unref(f);
    /* Reserved and not used: nothing published, the key frame still owed. */
    subscribe(w, FC_TIER_MEDIUM);
    s = fc_output_reserve(w->out);
    fc_output_slot_done(s, 0);
    assert_false(fc_output_busy(w->out));
    push_and_wait(w, 3);
    assert_true(rec.force_key[2]);
    /* Two tiers wanted: no reservation, the frame is pushed. */
    subscribe(w, FC_TIER_LOW);
    assert_null(fc_output_reserve(w->out));
    world_free(w);
}

static void close_waits_for_a_reservation(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    subscribe(w, FC_TIER_HIGH);
    fc_output_slot *s = fc_output_reserve(w->out);
    fc_output_close(w->out, on_closed, w);
    uv_run(&w->loop.uv, UV_RUN_NOWAIT);
    assert_int_equal(w->closed, 0);
    fc_frame *raw = raw_frame(1);
    assert_int_equal(fc_output_slot_encode(s, raw), 0);
    fc_frame_unref(raw);
    fc_output_slot_done(s, 0);
    run_until(w, is_closed, "the output to close");
    assert_int_equal(w->published, 0);
    world_free(w);
}

/* New values reach the encoders without a new output: the next encode of
 * each tier reopens its instance with them, once; a reopen asked of a job
 * that was replaced before it ran is made by its replacement. */
static void reconfigure_reopens_the_encoders(void **state)
{
    (void)state;
    world *w = world_new(&rec_codec, false, 0);
    subscribe(w, FC_TIER_HIGH);
    push_and_wait(w, 1);
    fc_output_reconfigure(w->out, 10, (const int[FC_TIER_COUNT]){40, 30, 20});
    push_and_wait(w, 2);
    push_and_wait(w, 3);
    assert_int_equal(rec_get(&rec.opens), 2);
    assert_int_equal(rec.quality[0], 90);
    assert_int_equal(rec.quality[1], 40);
    assert_int_equal(rec.quality[2], 40);
    /* Frame 4 runs (held) with those values; 5 waits with the new ones and
     * is replaced by 6, which must still reopen. */
    rec_hold(true);
    push(w, 4, 64, 48);
    rec_wait_running();
    fc_output_reconfigure(w->out, 10, (const int[FC_TIER_COUNT]){35, 30, 20});
    push(w, 5, 64, 48);
    push(w, 6, 64, 48);
    want_published = w->published + 2;
    rec_hold(false);
    run_until(w, published_enough, "frames 4 and 6");
    assert_int_equal(rec_get(&rec.encodes), 5);
    assert_int_equal(rec.ids[4], 6);
    assert_int_equal(rec.quality[3], 40);
    assert_int_equal(rec.quality[4], 35);
    assert_int_equal(rec.opens, 3);
    world_free(w);
    assert_int_equal(rec.closes, rec.opens);
}

static void jpeg_through_the_output(void **state)
{
    (void)state;
    world *w = world_new(&fc_jpeg_codec, false, 0);
    fc_sub *a = subscribe(w, FC_TIER_LOW);
    push_and_wait(w, 9);
    fc_frame *f = fc_sub_next(a, 0);
    assert_non_null(f);
    assert_int_equal(f->codec, FC_CODEC_JPEG);
    assert_int_equal(f->tier, FC_TIER_LOW);
    assert_int_equal(f->id, 9);
    assert_true(f->payload[0] == 0xff && f->payload[1] == 0xd8);
    fc_frame_unref(f);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encodes_wanted_tiers_once_for_all),
        cmocka_unit_test(arrivals_ask_one_key_frame),
        cmocka_unit_test(key_request_survives_a_replaced_job),
        cmocka_unit_test(idle_encoders_close_and_reopen),
        cmocka_unit_test(size_change_reopens),
        cmocka_unit_test(late_frame_lost_for_streams),
        cmocka_unit_test(late_frame_delivered_when_every_frame_counts),
        cmocka_unit_test(forced_keys_coalesce_to_one_per_interval),
        cmocka_unit_test(keyint_floor_makes_a_key_frame),
        cmocka_unit_test(inter_frame_low_tier_is_half_size),
        cmocka_unit_test(close_waits_for_the_running_encode),
        cmocka_unit_test(a_failed_encode_is_reported_and_keeps_the_key_owed),
        cmocka_unit_test(reserved_encode_in_the_producers_job),
        cmocka_unit_test(close_waits_for_a_reservation),
        cmocka_unit_test(reconfigure_reopens_the_encoders),
        cmocka_unit_test(jpeg_through_the_output),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
