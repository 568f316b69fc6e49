/* Cross-loop relays (hub/relay.h) over two real loop threads: a frame
 * crosses to the other loop once however many subscribers are there, every
 * subscriber there gets every frame in order, and a mailbox that overflows
 * keeps the inter-frame rule (after a gap, the next frame is a key frame). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/loops.h"
#include "hub/relay.h"

#define SUBS 10
#define FRAMES 300
#define KEY_EVERY 10
#define BURST_FROM 21 /* inter test: frames published while the other loop is stuck */
#define BURST_TO 50

typedef struct test {
    bool inter;
    fc_loop a; /* the source loop: this thread */
    fc_loops set;
    fc_hub *src;
    fc_relay *relay;
    uv_timer_t tick;
    uint32_t next_id;
    uint64_t handoffs, dropped; /* the relay's counters, read before it closes */
    fc_job finished_job, close_job, leave_job;

    /* The other loop's. */
    fc_sub *subs[SUBS];
    uint32_t last[SUBS];
    size_t got[SUBS];
    bool bad_order, delta_after_gap, finished, done;

    /* Inter test: the other loop held still while the burst is published. */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stuck, release;
    fc_job stick_job;
} test;

static test T;

static fc_frame *frame(uint32_t id, bool key)
{
    fc_frame *f = fc_frame_new_encoded(8);
    f->id = id;
    f->tier = FC_TIER_HIGH;
    f->key = key;
    f->payload_len = 8;
    fc_frame_seal(f);
    return f;
}

/* ---- the other loop ---- */

static void on_closed(void *arg)
{
    (void)arg;
    fc_loops_stop(&T.set);
}

static void close_on_a(fc_job *job);

static void leave(fc_job *job)
{
    (void)job;
    for (int i = 0; i < SUBS; i++)
        fc_hub_remove(T.subs[i]);
    fc_relay_sync(T.relay);
    fc_loop_run(&T.a, &T.close_job, close_on_a);
}

static void check_done(void)
{
    if (T.done || !T.finished) return;
    for (int i = 0; i < SUBS; i++)
        if (T.last[i] != FRAMES) return;
    T.done = true;
    /* Not from inside the hub's fan-out, which is walking them. */
    fc_loop_run(T.set.loop[1], &T.leave_job, leave);
}

static void on_local_wake(fc_sub *sub, void *ctx)
{
    int i = (int)(intptr_t)ctx;
    fc_frame *f;
    while ((f = fc_sub_next(sub, 0))) {
        if (T.got[i] && f->id <= T.last[i]) T.bad_order = true;
        if (T.inter && (T.got[i] == 0 || f->id != T.last[i] + 1) && !f->key)
            T.delta_after_gap = true;
        T.last[i] = f->id;
        T.got[i]++;
        fc_frame_unref(f);
    }
    check_done();
}

static void on_ready(fc_relay *relay, void *arg)
{
    (void)arg;
    fc_hub *local = fc_relay_hub(relay);
    assert_non_null(local);
    fc_sub_opts o = {.auto_tier = false, .tier = FC_TIER_HIGH, .queue = 50};
    for (int i = 0; i < SUBS; i++)
        assert_int_equal(fc_hub_add(local, &o, on_local_wake, (void *)(intptr_t)i, &T.subs[i]), 0);
    fc_relay_sync(relay);
}

static void on_finished(fc_job *job)
{
    (void)job;
    T.finished = true;
    check_done();
}

/* Holds the other loop still (a blocking wait, not a spin) until released. */
static void stick(fc_job *job)
{
    (void)job;
    pthread_mutex_lock(&T.mu);
    T.stuck = true;
    pthread_cond_signal(&T.cv);
    while (!T.release)
        pthread_cond_wait(&T.cv, &T.mu);
    pthread_mutex_unlock(&T.mu);
}

/* ---- the source loop ---- */

static void publish(uint32_t id)
{
    fc_frame *f = frame(id, !T.inter || (id - 1) % KEY_EVERY == 0);
    fc_hub_publish(T.src, f, 0, 0);
    fc_frame_unref(f);
}

/* The other loop is stuck: the burst overflows the mailbox (5 frames). */
static void burst(void)
{
    fc_loop_run(T.set.loop[1], &T.stick_job, stick);
    pthread_mutex_lock(&T.mu);
    while (!T.stuck)
        pthread_cond_wait(&T.cv, &T.mu);
    pthread_mutex_unlock(&T.mu);
    for (uint32_t id = BURST_FROM; id <= BURST_TO; id++)
        publish(id);
    pthread_mutex_lock(&T.mu);
    T.release = true;
    pthread_cond_signal(&T.cv);
    pthread_mutex_unlock(&T.mu);
    T.next_id = BURST_TO + 1;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    if (T.inter && T.next_id == BURST_FROM) burst();
    publish(T.next_id++);
    if (T.next_id <= FRAMES) return;
    uv_timer_stop(&T.tick);
    fc_loop_run(T.set.loop[1], &T.finished_job, on_finished);
}

/* The relay subscribes once the other loop has subscribers: frames from
 * then on, one a millisecond. */
static int src_add(void *arg, const fc_sub_opts *o, fc_sub_wake_fn wake, void *ctx, fc_sub **out)
{
    int rc = fc_hub_add(arg, o, wake, ctx, out);
    if (rc == 0 && T.next_id == 0) {
        T.next_id = 1;
        uv_timer_start(&T.tick, on_tick, 1, 1);
    }
    return rc;
}

static void src_remove(void *arg, fc_sub *sub)
{
    (void)arg;
    fc_hub_remove(sub);
}

static void close_on_a(fc_job *job)
{
    (void)job;
    T.handoffs = fc_relay_handoffs(T.relay);
    T.dropped = fc_relay_dropped(T.relay);
    fc_relay_close(T.relay, on_closed, NULL);
    fc_hub_free(T.src);
    uv_close((uv_handle_t *)&T.tick, NULL);
    fc_loop_close(&T.a);
}

static void run(bool inter, size_t mailbox)
{
    memset(&T, 0, sizeof T);
    T.inter = inter;
    pthread_mutex_init(&T.mu, NULL);
    pthread_cond_init(&T.cv, NULL);
    assert_int_equal(fc_loop_init(&T.a), 0);
    assert_int_equal(fc_loops_start(&T.set, 2, &T.a), 0);
    assert_int_equal(fc_loops_index(&T.set, T.set.loop[1]), 1);
    assert_int_equal(fc_hub_new("source", inter, &T.src), 0);
    uv_timer_init(&T.a.uv, &T.tick);
    fc_relay_source src = {
        .add = src_add, .remove = src_remove, .arg = T.src, .inter_frame = inter};
    assert_int_equal(fc_relay_open(&src, mailbox, &T.a, T.set.loop[1], on_ready, NULL, &T.relay),
                     0);
    uv_run(&T.a.uv, UV_RUN_DEFAULT);
    fc_loops_join(&T.set);
    uv_loop_close(&T.a.uv);
    assert_false(T.bad_order);
}

static void a_frame_crosses_once_for_all_subscribers_of_a_loop(void **state)
{
    (void)state;
    run(false, 50);
    /* Ten subscribers on the other loop, and each frame crossed once:
     * every subscriber got every frame that crossed (their queues never
     * drop: each takes its frames at once). */
    assert_int_equal(T.handoffs, T.got[0]);
    for (int i = 0; i < SUBS; i++) {
        assert_int_equal(T.got[i], T.got[0]);
        assert_int_equal(T.last[i], FRAMES);
    }
    assert_true(T.got[0] >= FRAMES * 9 / 10);
}

static void an_overflowing_mailbox_drops_to_the_next_key_frame(void **state)
{
    (void)state;
    run(true, 5);
    assert_false(T.delta_after_gap);
    assert_true(T.dropped > 0);
    assert_int_equal(T.handoffs, T.got[0]);
    /* Frames were lost in the burst (30 frames into 5 places). */
    assert_true(T.got[0] < FRAMES - (BURST_TO - BURST_FROM + 1 - 5));
    for (int i = 0; i < SUBS; i++)
        assert_int_equal(T.last[i], FRAMES);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_frame_crosses_once_for_all_subscribers_of_a_loop),
        cmocka_unit_test(an_overflowing_mailbox_drops_to_the_next_key_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
