/* Subscriber queues, quality tiers and fan-out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hub/hub.h"
#include "hub/queue.h"

static fc_frame *encoded(uint32_t id, int tier)
{
    fc_frame *f = fc_frame_new_encoded(8);
    assert_non_null(f);
    f->id = id;
    f->tier = tier;
    f->payload_len = 8;
    fc_frame_seal(f);
    return f;
}

static void queue_drops_oldest(void **state)
{
    (void)state;
    fc_queue q;
    assert_int_equal(fc_queue_init(&q, 3), 0);
    for (uint32_t id = 1; id <= 3; id++)
        assert_null(fc_queue_push(&q, encoded(id, 0)));
    /* Full: pushing 4 pushes out 1, then 5 pushes out 2. */
    fc_frame *out = fc_queue_push(&q, encoded(4, 0));
    assert_non_null(out);
    assert_int_equal(out->id, 1);
    fc_frame_unref(out);
    out = fc_queue_push(&q, encoded(5, 0));
    assert_int_equal(out->id, 2);
    fc_frame_unref(out);
    assert_int_equal(q.dropped, 2);
    assert_int_equal(fc_queue_len(&q), 3);
    /* What is left is the freshest, oldest first. */
    for (uint32_t id = 3; id <= 5; id++) {
        fc_frame *f = fc_queue_pop(&q);
        assert_int_equal(f->id, id);
        fc_frame_unref(f);
    }
    assert_null(fc_queue_pop(&q));
    fc_queue_destroy(&q);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void tier_moves_down_at_once(void **state)
{
    (void)state;
    const fc_tier_policy *p = &fc_tier_default_policy;
    fc_tier_state st = {FC_TIER_HIGH, 0};
    assert_int_equal(fc_tier_update(&st, p, 15, 1), FC_TIER_HIGH);
    assert_int_equal(fc_tier_update(&st, p, 16, 2), FC_TIER_MEDIUM);
    assert_int_equal(fc_tier_update(&st, p, 30, 3), FC_TIER_MEDIUM);
    assert_int_equal(fc_tier_update(&st, p, 31, 4), FC_TIER_LOW);
    /* Straight from high to low when the queue jumps. */
    fc_tier_state st2 = {FC_TIER_HIGH, 0};
    assert_int_equal(fc_tier_update(&st2, p, 40, 1), FC_TIER_LOW);
}

static void tier_climbs_back_with_hysteresis(void **state)
{
    (void)state;
    const fc_tier_policy *p = &fc_tier_default_policy;
    const uint64_t s = 1000000000ull;
    fc_tier_state st = {FC_TIER_LOW, 0};
    /* Inside the band (16..30) low stays low however long it lasts. */
    assert_int_equal(fc_tier_update(&st, p, 20, 1 * s), FC_TIER_LOW);
    assert_int_equal(fc_tier_update(&st, p, 20, 10 * s), FC_TIER_LOW);
    /* Short queue, but not for a whole hold time yet. */
    assert_int_equal(fc_tier_update(&st, p, 10, 11 * s), FC_TIER_LOW);
    assert_int_equal(fc_tier_update(&st, p, 10, 11 * s + s / 2), FC_TIER_LOW);
    /* A blip above the threshold restarts the calm spell. */
    assert_int_equal(fc_tier_update(&st, p, 16, 11 * s + s * 3 / 4), FC_TIER_LOW);
    assert_int_equal(fc_tier_update(&st, p, 10, 12 * s), FC_TIER_LOW);
    assert_int_equal(fc_tier_update(&st, p, 10, 13 * s), FC_TIER_MEDIUM);
    /* One tier per hold time: medium needs <= 5 for its own second. */
    assert_int_equal(fc_tier_update(&st, p, 6, 13 * s + s / 2), FC_TIER_MEDIUM);
    assert_int_equal(fc_tier_update(&st, p, 6, 15 * s), FC_TIER_MEDIUM);
    assert_int_equal(fc_tier_update(&st, p, 5, 15 * s + 1), FC_TIER_MEDIUM);
    assert_int_equal(fc_tier_update(&st, p, 5, 16 * s + 1), FC_TIER_HIGH);
}

static void tier_does_not_flap(void **state)
{
    (void)state;
    /* A queue oscillating around the first threshold (14..17) makes one
     * move down and then holds, instead of switching on every frame. */
    const fc_tier_policy *p = &fc_tier_default_policy;
    fc_tier_state st = {FC_TIER_HIGH, 0};
    int changes = 0;
    fc_tier last = st.tier;
    for (int i = 0; i < 1000; i++) {
        size_t depth = 14 + (size_t)(i % 4);
        fc_tier t = fc_tier_update(&st, p, depth, (uint64_t)(i + 1) * 33000000ull);
        if (t != last) changes++;
        last = t;
    }
    assert_int_equal(changes, 1);
    assert_int_equal(last, FC_TIER_MEDIUM);
}

static int wakes;
static void on_wake(fc_sub *sub, void *ctx)
{
    (void)sub;
    (void)ctx;
    wakes++;
}

static void hub_fans_out_by_tier_without_copies(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", &hub), 0);
    fc_sub *a, *b, *c;
    fc_sub_opts auto_opts = {.auto_tier = true, .queue = 4};
    fc_sub_opts low_opts = {.auto_tier = false, .tier = FC_TIER_LOW, .queue = 4};
    assert_int_equal(fc_hub_add(hub, &auto_opts, on_wake, NULL, &a), 0);
    assert_int_equal(fc_hub_add(hub, &auto_opts, on_wake, NULL, &b), 0);
    assert_int_equal(fc_hub_add(hub, &low_opts, on_wake, NULL, &c), 0);
    assert_int_equal(fc_hub_tier_mask(hub), (1u << FC_TIER_HIGH) | (1u << FC_TIER_LOW));

    fc_frame *high = encoded(1, FC_TIER_HIGH);
    wakes = 0;
    fc_hub_publish(hub, high, 0, 1);
    assert_int_equal(wakes, 2);
    /* Both auto subscribers hold the very same frame: references, not copies. */
    fc_frame *fa = fc_sub_next(a, 2), *fb = fc_sub_next(b, 2);
    assert_ptr_equal(fa, high);
    assert_ptr_equal(fb, high);
    assert_null(fc_sub_next(c, 2));
    assert_int_equal(atomic_load(&high->refs), 3);
    fc_frame_unref(fa);
    fc_frame_unref(fb);

    /* Never the same id twice or backwards, even across tiers. */
    fc_frame *low = encoded(1, FC_TIER_LOW);
    fc_hub_publish(hub, low, 0, 3);
    fc_frame *fc = fc_sub_next(c, 3);
    assert_ptr_equal(fc, low);
    fc_frame_unref(fc);
    fc_hub_publish(hub, low, 0, 4);
    assert_null(fc_sub_next(c, 4));

    fc_frame_unref(high);
    fc_frame_unref(low);
    assert_int_equal(fc_hub_count(hub), 3);
    fc_hub_free(hub);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void hub_auto_subscriber_falls_to_cheaper_tier(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", &hub), 0);
    fc_sub *slow;
    fc_sub_opts opts = {.auto_tier = true, .queue = 50};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &slow), 0);
    for (uint32_t id = 1; id <= 16; id++) {
        fc_frame *f = encoded(id, FC_TIER_HIGH);
        fc_hub_publish(hub, f, 0, id);
        fc_frame_unref(f);
    }
    /* 16 queued > 15: it now wants medium, and the hub says so. */
    fc_sub_stats st;
    fc_sub_get_stats(slow, &st);
    assert_int_equal(st.tier, FC_TIER_MEDIUM);
    assert_int_equal(fc_hub_tier_mask(hub), 1u << FC_TIER_MEDIUM);
    fc_frame *f = encoded(17, FC_TIER_HIGH);
    fc_hub_publish(hub, f, 0, 17);
    fc_frame_unref(f);
    assert_int_equal(fc_sub_depth(slow), 16); /* high frames no longer reach it */
    fc_hub_free(hub);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void hub_counts_drops(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", &hub), 0);
    fc_sub *s;
    fc_sub_opts opts = {.auto_tier = false, .tier = FC_TIER_HIGH, .queue = 2};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &s), 0);
    for (uint32_t id = 1; id <= 10; id++) {
        fc_frame *f = encoded(id, FC_TIER_HIGH);
        fc_hub_publish(hub, f, 0, id);
        fc_frame_unref(f);
    }
    fc_hub_stats hs;
    fc_hub_get_stats(hub, &hs);
    assert_int_equal(hs.drops, 8);
    fc_sub_stats ss;
    fc_sub_get_stats(s, &ss);
    assert_int_equal(ss.dropped, 8);
    fc_frame *f = fc_sub_next(s, 11);
    assert_int_equal(f->id, 9);
    fc_frame_unref(f);
    fc_hub_free(hub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_drops_oldest),
        cmocka_unit_test(tier_moves_down_at_once),
        cmocka_unit_test(tier_climbs_back_with_hysteresis),
        cmocka_unit_test(tier_does_not_flap),
        cmocka_unit_test(hub_fans_out_by_tier_without_copies),
        cmocka_unit_test(hub_auto_subscriber_falls_to_cheaper_tier),
        cmocka_unit_test(hub_counts_drops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
