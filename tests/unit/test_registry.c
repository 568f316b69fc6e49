/* The stream set (stream/registry.h) with real streams on a real loop and
 * pool: where streams come from, users told before a stream leaves (while it
 * is still whole, so they can unsubscribe), replacement in place, and close
 * waiting for every stream that ever left. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/pool.h"
#include "stream/registry.h"

typedef struct world {
    fc_loop loop;
    fc_pool *pool;
    fc_stream_set set;
    fc_stream_defaults defaults;
    int closed;
} world;

static world *world_new(void)
{
    world *w = calloc(1, sizeof *w);
    assert_int_equal(fc_loop_init(&w->loop), 0);
    assert_int_equal(fc_pool_create(2, &w->pool), 0);
    w->defaults = (fc_stream_defaults){
        .width = 64, .height = 48, .fps = 10, .quality = {90, 70, 50}, .detect_fps = 2};
    return w;
}

static fc_stream *make(world *w, const char *id)
{
    fc_source_spec spec;
    char err[300];
    assert_int_equal(fc_source_spec_parse("synthetic:procedural", &spec, err, sizeof err), 0);
    fc_stream_plan plan;
    fc_stream_settings set = FC_STREAM_SETTINGS_UNSET;
    assert_int_equal(
        fc_stream_plan_make(&w->defaults, id, &spec, &set, false, &plan, err, sizeof err), 0);
    fc_source *src;
    assert_int_equal(fc_stream_plan_source(&plan, &src, err, sizeof err), 0);
    fc_stream *s;
    assert_int_equal(
        fc_stream_plan_build(&plan, &w->defaults, &w->loop, w->pool, src, &s, err, sizeof err), 0);
    return s;
}

static void on_closed(void *arg)
{
    ((world *)arg)->closed++;
}

static void world_free(world *w)
{
    if (!w->set.closing) fc_stream_set_close(&w->set, on_closed, w);
    fc_loop_close(&w->loop);
    uv_run(&w->loop.uv, UV_RUN_DEFAULT);
    assert_int_equal(w->closed, 1);
    assert_int_equal(w->set.retiring, 0);
    fc_stream_set_clear(&w->set);
    fc_pool_destroy(w->pool);
    assert_int_equal(uv_loop_close(&w->loop.uv), 0);
    free(w);
    assert_int_equal(fc_frame_live_count(), 0);
}

/* A subscriber as the stream endpoint is one: subscribed, and a user. */
typedef struct viewer {
    fc_stream_user user;
    fc_stream *stream;
    fc_sub *sub;
    int gone;
    fc_stream_end why;
    bool found_during_gone; /* could the set still find its id meanwhile */
    fc_stream_set *set;
} viewer;

static void on_gone(fc_stream_user *u, fc_stream_end why)
{
    viewer *v = (viewer *)u;
    v->gone++;
    v->why = why;
    v->found_during_gone = fc_stream_set_find(v->set, fc_stream_id(v->stream)) == v->stream;
    /* The stream is whole: unsubscribing must work. */
    fc_stream_unsubscribe(v->stream, FC_VIEW_FULL, NULL, v->sub);
    v->sub = NULL;
}

static void watch(world *w, viewer *v, fc_stream *s)
{
    memset(v, 0, sizeof *v);
    v->stream = s;
    v->set = &w->set;
    fc_sub_opts opts = {.auto_tier = true, .queue = 4};
    char err[200];
    assert_int_equal(
        fc_stream_subscribe(s, FC_VIEW_FULL, NULL, &opts, NULL, NULL, &v->sub, err, sizeof err), 0);
    v->user.gone = on_gone;
    fc_stream_set_use(&w->set, s, &v->user);
}

static void origins_and_ids(void **state)
{
    (void)state;
    world *w = world_new();
    fc_stream *a = make(w, "a"), *b = make(w, "b"), *dup = make(w, "a");
    fc_stream_info cli = {.origin = FC_ORIGIN_CLI, .settings = FC_STREAM_SETTINGS_UNSET};
    fc_stream_info api = {.origin = FC_ORIGIN_API,
                          .settings = {.encode_fps = 5, .detect = -1},
                          .spec = "synthetic:procedural",
                          .created = 1,
                          .updated = 2};
    assert_int_equal(fc_stream_set_add(&w->set, a, &cli), 0);
    assert_int_equal(fc_stream_set_add(&w->set, b, &api), 0);
    assert_int_equal(fc_stream_set_add(&w->set, dup, &api), -EEXIST);
    fc_stream_set_discard(&w->set, dup);
    assert_ptr_equal(fc_stream_set_find(&w->set, "b"), b);
    assert_null(fc_stream_set_find(&w->set, "c"));
    assert_int_equal(fc_stream_set_info_of(&w->set, a)->origin, FC_ORIGIN_CLI);
    const fc_stream_info *bi = fc_stream_set_info_of(&w->set, b);
    assert_int_equal(bi->origin, FC_ORIGIN_API);
    assert_string_equal(bi->spec, "synthetic:procedural");
    assert_true(bi->settings.encode_fps == 5);
    assert_string_equal(fc_stream_origin_name(FC_ORIGIN_API), "api");
    assert_string_equal(fc_stream_origin_name(FC_ORIGIN_CLI), "cli");
    world_free(w);
}

static void remove_tells_users_first(void **state)
{
    (void)state;
    world *w = world_new();
    fc_stream *a = make(w, "a"), *b = make(w, "b");
    fc_stream_info cli = {.origin = FC_ORIGIN_CLI, .settings = FC_STREAM_SETTINGS_UNSET};
    assert_int_equal(fc_stream_set_add(&w->set, a, &cli), 0);
    assert_int_equal(fc_stream_set_add(&w->set, b, &cli), 0);
    viewer v1, v2, v3, left;
    watch(w, &v1, a);
    watch(w, &v2, a);
    watch(w, &v3, b);
    watch(w, &left, a);
    /* One that let go before is not told. */
    fc_stream_unsubscribe(a, FC_VIEW_FULL, NULL, left.sub);
    fc_stream_set_unuse(&left.user);
    fc_stream_set_remove(&w->set, a, FC_STREAM_DELETED);
    assert_int_equal(v1.gone, 1);
    assert_int_equal(v2.gone, 1);
    assert_int_equal(v1.why, FC_STREAM_DELETED);
    assert_false(v1.found_during_gone); /* out of the set before its users hear */
    assert_int_equal(left.gone, 0);
    assert_int_equal(v3.gone, 0);
    assert_null(fc_stream_set_find(&w->set, "a"));
    assert_int_equal(w->set.n, 1);
    assert_int_equal(w->set.retiring, 1);
    /* Unregistering after the stream left is harmless. */
    fc_stream_set_unuse(&v1.user);
    /* Close tells the rest, and waits for both streams to be freed. */
    fc_stream_set_close(&w->set, on_closed, w);
    assert_int_equal(v3.gone, 1);
    assert_int_equal(v3.why, FC_STREAM_STOPPED);
    assert_int_equal(w->closed, 0); /* their shutdowns finish as the loop runs */
    world_free(w);
}

static void replace_keeps_the_place(void **state)
{
    (void)state;
    world *w = world_new();
    fc_stream *a = make(w, "a"), *b = make(w, "b"), *a2 = make(w, "a");
    fc_stream_info api = {.origin = FC_ORIGIN_API,
                          .settings = FC_STREAM_SETTINGS_UNSET,
                          .spec = "synthetic:procedural"};
    assert_int_equal(fc_stream_set_add(&w->set, a, &api), 0);
    assert_int_equal(fc_stream_set_add(&w->set, b, &api), 0);
    viewer v;
    watch(w, &v, a);
    fc_stream_set_replace(&w->set, a, a2);
    assert_int_equal(v.gone, 1);
    assert_int_equal(v.why, FC_STREAM_REPLACED);
    assert_ptr_equal(w->set.v[0], a2); /* same place in the order */
    assert_ptr_equal(fc_stream_set_find(&w->set, "a"), a2);
    assert_int_equal(fc_stream_set_info_of(&w->set, a2)->origin, FC_ORIGIN_API);
    assert_string_equal(fc_stream_set_info_of(&w->set, a2)->spec, "synthetic:procedural");
    /* A new viewer of the new stream is told when that one goes. */
    viewer v2;
    watch(w, &v2, a2);
    fc_stream_set_remove(&w->set, a2, FC_STREAM_DELETED);
    assert_int_equal(v2.gone, 1);
    assert_int_equal(v.gone, 1);
    world_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(origins_and_ids),
        cmocka_unit_test(remove_tells_users_first),
        cmocka_unit_test(replace_keeps_the_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
