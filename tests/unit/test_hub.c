/* Subscriber queues, quality tiers and fan-out; in inter-frame hubs, joins,
 * gaps and tier moves at key frames only (DESIGN.md rule 9). */
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

static fc_frame *inter(uint32_t id, int tier, bool key)
{
    fc_frame *f = encoded(id, tier);
    f->key = key;
    return f;
}

/* Publishes one frame and drops the caller's reference. */
static void publish(fc_hub *hub, uint32_t id, int tier, bool key)
{
    fc_frame *f = inter(id, tier, key);
    fc_hub_publish(hub, f, 0, id);
    fc_frame_unref(f);
}

/* The next frame's id and key flag, or -1 when the queue is empty. */
static long next_id(fc_sub *s, bool *key)
{
    fc_frame *f = fc_sub_next(s, 0);
    if (!f) return -1;
    long id = f->id;
    if (key) *key = f->key;
    fc_frame_unref(f);
    return id;
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
    assert_int_equal(fc_hub_new("t", false, &hub), 0);
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
    assert_int_equal(fc_hub_new("t", false, &hub), 0);
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
    assert_int_equal(fc_hub_new("t", false, &hub), 0);
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

/* A WebRTC viewer's PLI: the subscriber's tier wants a key frame, like a
 * join; a still-picture hub has no use for one. */
static void sub_want_key_asks_its_tier(void **state)
{
    (void)state;
    fc_hub *hub, *still;
    assert_int_equal(fc_hub_new("t", true, &hub), 0);
    assert_int_equal(fc_hub_new("s", false, &still), 0);
    fc_sub *s, *j;
    fc_sub_opts opts = {.auto_tier = false, .tier = FC_TIER_LOW, .queue = 8};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &s), 0);
    assert_int_equal(fc_hub_add(still, &opts, NULL, NULL, &j), 0);
    fc_hub_take_key_wanted(hub);
    fc_hub_take_key_wanted(still);
    publish(hub, 1, FC_TIER_LOW, true);
    assert_int_equal(fc_hub_take_key_wanted(hub), 0);
    fc_sub_want_key(s);
    assert_int_equal(fc_hub_take_key_wanted(hub), 1u << FC_TIER_LOW);
    assert_int_equal(fc_hub_take_key_wanted(hub), 0);
    fc_sub_want_key(j);
    assert_int_equal(fc_hub_take_key_wanted(still), 0);
    fc_hub_free(hub);
    fc_hub_free(still);
}

static void inter_subscriber_starts_at_a_key_frame(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", true, &hub), 0);
    fc_sub *s;
    fc_sub_opts opts = {.auto_tier = false, .tier = FC_TIER_MEDIUM, .queue = 8};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &s), 0);
    /* The arrival asks its tier for a key frame, once. */
    assert_int_equal(fc_hub_take_key_wanted(hub), 1u << FC_TIER_MEDIUM);
    assert_int_equal(fc_hub_take_key_wanted(hub), 0);
    publish(hub, 1, FC_TIER_MEDIUM, false);
    publish(hub, 2, FC_TIER_MEDIUM, false);
    fc_sub_stats st;
    fc_sub_get_stats(s, &st);
    assert_int_equal(st.depth, 0);
    assert_true(st.waiting_key);
    assert_int_equal(st.drops_to_key, 0); /* never had them: not a drop */
    publish(hub, 3, FC_TIER_MEDIUM, true);
    publish(hub, 4, FC_TIER_MEDIUM, false);
    bool key;
    assert_int_equal(next_id(s, &key), 3);
    assert_true(key);
    assert_int_equal(next_id(s, &key), 4);
    assert_false(key);
    fc_hub_free(hub);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void inter_full_queue_drops_to_the_next_key_frame(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", true, &hub), 0);
    fc_sub *s;
    fc_sub_opts opts = {.auto_tier = false, .tier = FC_TIER_HIGH, .queue = 4};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &s), 0);
    fc_hub_take_key_wanted(hub);
    publish(hub, 1, FC_TIER_HIGH, true);
    assert_int_equal(next_id(s, NULL), 1); /* sent: the client decodes from here */
    for (uint32_t id = 2; id <= 5; id++)
        publish(hub, id, FC_TIER_HIGH, false);
    /* Full: 6 pushes out 2, and 3..6 depend on it. Nothing decodable is
     * left; the subscriber waits for a key frame and asks for one. */
    publish(hub, 6, FC_TIER_HIGH, false);
    fc_sub_stats st;
    fc_sub_get_stats(s, &st);
    assert_int_equal(st.depth, 0);
    assert_true(st.waiting_key);
    assert_int_equal(st.dropped, 1);
    assert_int_equal(st.drops_to_key, 4);
    assert_int_equal(fc_hub_take_key_wanted(hub), 1u << FC_TIER_HIGH);
    publish(hub, 7, FC_TIER_HIGH, false); /* still waiting: dropped to key */
    publish(hub, 8, FC_TIER_HIGH, true);
    publish(hub, 9, FC_TIER_HIGH, false);
    bool key;
    assert_int_equal(next_id(s, &key), 8);
    assert_true(key);
    assert_int_equal(next_id(s, &key), 9);
    assert_int_equal(next_id(s, &key), -1);

    /* A key frame still queued behind the gap: the subscriber resumes
     * there, without waiting. */
    publish(hub, 10, FC_TIER_HIGH, false);
    publish(hub, 11, FC_TIER_HIGH, true);
    publish(hub, 12, FC_TIER_HIGH, false);
    publish(hub, 13, FC_TIER_HIGH, false);
    publish(hub, 14, FC_TIER_HIGH, false); /* pushes out 10 */
    fc_sub_get_stats(s, &st);
    assert_false(st.waiting_key);
    assert_int_equal(st.depth, 4);
    assert_int_equal(next_id(s, &key), 11);
    assert_true(key);
    fc_hub_stats hs;
    fc_hub_get_stats(hub, &hs);
    assert_int_equal(hs.drops, 2);
    assert_int_equal(hs.drops_to_key, 5);
    fc_hub_free(hub);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void inter_auto_subscriber_moves_at_a_key_frame_of_the_new_tier(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", true, &hub), 0);
    fc_sub *s;
    fc_sub_opts opts = {.auto_tier = true, .queue = 50};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &s), 0);
    fc_hub_take_key_wanted(hub);
    publish(hub, 1, FC_TIER_HIGH, true);
    for (uint32_t id = 2; id <= 16; id++)
        publish(hub, id, FC_TIER_HIGH, false);
    /* 16 queued: it wants medium, asks for its key frame, and until that
     * comes it is still sent high, so both tiers are wanted. */
    assert_int_equal(fc_hub_take_key_wanted(hub), 1u << FC_TIER_MEDIUM);
    assert_int_equal(fc_hub_tier_mask(hub), (1u << FC_TIER_HIGH) | (1u << FC_TIER_MEDIUM));
    fc_sub_stats st;
    fc_sub_get_stats(s, &st);
    assert_int_equal(st.tier, FC_TIER_HIGH);
    publish(hub, 17, FC_TIER_MEDIUM, false); /* a medium delta: no use yet */
    publish(hub, 17, FC_TIER_HIGH, false);
    assert_int_equal(fc_sub_depth(s), 17);
    /* Medium's key frame of picture 18 comes before high's: the move. */
    publish(hub, 18, FC_TIER_MEDIUM, true);
    publish(hub, 18, FC_TIER_HIGH, false);
    fc_sub_get_stats(s, &st);
    assert_int_equal(st.tier, FC_TIER_MEDIUM);
    assert_int_equal(fc_hub_tier_mask(hub), 1u << FC_TIER_MEDIUM);
    assert_int_equal(st.depth, 18);
    for (uint32_t id = 1; id <= 17; id++)
        assert_int_equal(next_id(s, NULL), id);
    bool key;
    assert_int_equal(next_id(s, &key), 18);
    assert_true(key);
    fc_hub_free(hub);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void inter_move_waits_when_the_picture_was_sent(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", true, &hub), 0);
    fc_sub *s;
    fc_sub_opts opts = {.auto_tier = true, .queue = 50};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &s), 0);
    publish(hub, 1, FC_TIER_HIGH, true);
    for (uint32_t id = 2; id <= 16; id++)
        publish(hub, id, FC_TIER_HIGH, false);
    fc_hub_take_key_wanted(hub);
    assert_int_equal(next_id(s, NULL), 1); /* 15 left: still wants medium */
    publish(hub, 17, FC_TIER_HIGH, false);
    /* High's 17 is queued, not sent; medium's key 17 replaces it. Before
     * that, medium's key 1 comes too late: high's 1 was sent. */
    publish(hub, 1, FC_TIER_MEDIUM, true);
    fc_sub_stats st;
    fc_sub_get_stats(s, &st);
    assert_int_equal(st.tier, FC_TIER_HIGH);
    assert_int_equal(fc_hub_take_key_wanted(hub), 1u << FC_TIER_MEDIUM); /* asks again */
    publish(hub, 17, FC_TIER_MEDIUM, true);
    fc_sub_get_stats(s, &st);
    assert_int_equal(st.tier, FC_TIER_MEDIUM);
    assert_int_equal(st.depth, 16);
    for (uint32_t id = 2; id <= 16; id++)
        assert_int_equal(next_id(s, NULL), id);
    bool key;
    assert_int_equal(next_id(s, &key), 17);
    assert_true(key);
    fc_hub_free(hub);
    assert_int_equal(fc_frame_live_count(), 0);
}

/* An auto subscriber that wanted another tier and is back on its own
 * before that tier's key frame came: no move, no key frame asked for. */
static void inter_move_called_off_asks_nothing(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("t", true, &hub), 0);
    fc_sub *s;
    fc_sub_opts opts = {.auto_tier = true, .queue = 50};
    assert_int_equal(fc_hub_add(hub, &opts, NULL, NULL, &s), 0);
    publish(hub, 1, FC_TIER_HIGH, true);
    for (uint32_t id = 2; id <= 16; id++)
        publish(hub, id, FC_TIER_HIGH, false);
    assert_int_equal(fc_hub_take_key_wanted(hub), 1u << FC_TIER_MEDIUM);
    /* Drained and calm for the hold time (1 s): it wants high again. */
    while (fc_sub_depth(s) > 0)
        assert_true(next_id(s, NULL) > 0);
    publish(hub, 17, FC_TIER_HIGH, false);
    fc_frame_unref(fc_sub_next(s, 100));
    publish(hub, 18, FC_TIER_HIGH, false);
    fc_frame_unref(fc_sub_next(s, 2000000000ull));
    assert_int_equal(fc_hub_tier_mask(hub), 1u << FC_TIER_HIGH);
    assert_int_equal(fc_hub_take_key_wanted(hub), 0);
    fc_sub_stats st;
    fc_sub_get_stats(s, &st);
    assert_int_equal(st.tier, FC_TIER_HIGH);
    fc_hub_free(hub);
    assert_int_equal(fc_frame_live_count(), 0);
}

/* A relay's subscribers stand for another loop's viewers (--loops N): the
 * hub's figures count that loop's viewers and drops, each once, and keep
 * its drops when the last of them leaves; the walk lists viewers only. */
static void hub_counts_what_relay_subscribers_stand_for(void **state)
{
    (void)state;
    fc_hub *hub;
    assert_int_equal(fc_hub_new("far", false, &hub), 0);
    static fc_hub_far far;
    atomic_store(&far.on_tier[FC_TIER_HIGH], 3);
    atomic_store(&far.on_tier[FC_TIER_LOW], 2);
    atomic_store(&far.drops, 7);
    fc_sub *viewer, *high, *low;
    fc_sub_opts one = {.tier = FC_TIER_HIGH, .queue = 4};
    fc_sub_opts h = {.tier = FC_TIER_HIGH, .queue = 4, .far = &far};
    fc_sub_opts l = {.tier = FC_TIER_LOW, .queue = 4, .far = &far};
    assert_int_equal(fc_hub_add(hub, &one, NULL, NULL, &viewer), 0);
    assert_int_equal(fc_hub_add(hub, &h, NULL, NULL, &high), 0);
    assert_int_equal(fc_hub_add(hub, &l, NULL, NULL, &low), 0);
    assert_int_equal(fc_hub_count(hub), 3); /* entries: somebody is subscribed */
    fc_hub_stats hs;
    fc_hub_get_stats(hub, &hs);
    assert_int_equal(hs.subscribers, 6); /* one here, five there */
    assert_int_equal(hs.on_tier[FC_TIER_HIGH], 4);
    assert_int_equal(hs.on_tier[FC_TIER_LOW], 2);
    assert_int_equal(hs.drops, 7); /* once, not once per relay subscriber */
    assert_ptr_equal(fc_hub_next_sub(hub, NULL), viewer);
    assert_null(fc_hub_next_sub(hub, viewer));
    /* The other loop's viewers leave; its drops stay counted here. */
    atomic_store(&far.drops, 9);
    fc_hub_remove(high);
    fc_hub_remove(low);
    fc_hub_get_stats(hub, &hs);
    assert_int_equal(hs.subscribers, 1);
    assert_int_equal(hs.drops, 9);
    /* A relay subscriber again: only drops after that are new. */
    atomic_store(&far.drops, 10);
    assert_int_equal(fc_hub_add(hub, &h, NULL, NULL, &high), 0);
    fc_hub_get_stats(hub, &hs);
    assert_int_equal(hs.drops, 10);
    fc_hub_remove(high);
    fc_hub_get_stats(hub, &hs);
    assert_int_equal(hs.drops, 10);
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
        cmocka_unit_test(hub_counts_what_relay_subscribers_stand_for),
        cmocka_unit_test(sub_want_key_asks_its_tier),
        cmocka_unit_test(inter_subscriber_starts_at_a_key_frame),
        cmocka_unit_test(inter_full_queue_drops_to_the_next_key_frame),
        cmocka_unit_test(inter_auto_subscriber_moves_at_a_key_frame_of_the_new_tier),
        cmocka_unit_test(inter_move_waits_when_the_picture_was_sent),
        cmocka_unit_test(inter_move_called_off_asks_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
