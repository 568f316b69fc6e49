/* fc_ws_wakes on a real loop: links are served once per loop turn, after
 * its I/O, in the order they asked, however often they asked; a removed one
 * is not served; one woken while another is served gets another round of the
 * same check, and one kept waking past the rounds is handed to the writeable
 * callback instead (now = false); nobody waiting leaves the check handle
 * stopped; closed wakes take nobody. The connections are this test's: the
 * run callback records what it was asked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/job.h"
#include "core/loop.h"
#include "transport/ws_wake.h"

#define CONNS 4

typedef struct conn {
    fc_ws_wake_link link;
    int served_now, served_later;
    int order;               /* when it was last served, 1 = first */
    struct conn *wakes_next; /* served: wakes this one (another's service) */
} conn;

static fc_loop loop;
static fc_ws_wakes wakes;
static conn conns[CONNS];
static int served;

static void run(fc_ws_wake_link *link, bool now)
{
    conn *c = fc_container_of(link, conn, link);
    if (now)
        c->served_now++;
    else
        c->served_later++;
    c->order = ++served;
    /* Handed to the writeable callback, a connection writes nothing now. */
    if (now && c->wakes_next) fc_ws_wakes_add(&wakes, &c->wakes_next->link);
}

static int setup(void **state)
{
    (void)state;
    memset(conns, 0, sizeof conns);
    served = 0;
    assert_int_equal(fc_loop_init(&loop), 0);
    assert_int_equal(fc_ws_wakes_init(&wakes, &loop.uv, run, NULL), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fc_ws_wakes_close(&wakes);
    fc_loop_close(&loop);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop.uv), 0);
    return 0;
}

static void served_once_per_turn_in_order(void **state)
{
    (void)state;
    assert_false(uv_is_active((uv_handle_t *)&wakes.check));
    assert_true(fc_ws_wakes_add(&wakes, &conns[2].link));
    assert_true(fc_ws_wakes_add(&wakes, &conns[0].link));
    assert_true(fc_ws_wakes_add(&wakes, &conns[2].link)); /* again: once, in its first place */
    assert_true(fc_ws_wakes_add(&wakes, &conns[1].link));
    assert_int_equal(served, 0); /* nothing before the loop's turn */
    uv_run(&loop.uv, UV_RUN_NOWAIT);
    assert_int_equal(served, 3);
    assert_int_equal(conns[2].served_now, 1);
    assert_int_equal(conns[2].order, 1);
    assert_int_equal(conns[0].order, 2);
    assert_int_equal(conns[1].order, 3);
    assert_int_equal(conns[3].served_now, 0);
    /* Nobody waits: the handle is stopped and another turn serves nobody. */
    assert_false(uv_is_active((uv_handle_t *)&wakes.check));
    uv_run(&loop.uv, UV_RUN_NOWAIT);
    assert_int_equal(served, 3);
}

static void removed_is_not_served(void **state)
{
    (void)state;
    fc_ws_wakes_add(&wakes, &conns[0].link);
    fc_ws_wakes_add(&wakes, &conns[1].link);
    fc_ws_wakes_remove(&conns[0].link);
    fc_ws_wakes_remove(&conns[0].link); /* on no list: nothing */
    fc_ws_wakes_remove(&conns[3].link);
    uv_run(&loop.uv, UV_RUN_NOWAIT);
    assert_int_equal(conns[0].served_now, 0);
    assert_int_equal(conns[1].served_now, 1);
}

static void woken_by_another_is_served_in_the_same_check(void **state)
{
    (void)state;
    conns[0].wakes_next = &conns[1];
    fc_ws_wakes_add(&wakes, &conns[0].link);
    uv_run(&loop.uv, UV_RUN_NOWAIT);
    assert_int_equal(conns[0].served_now, 1);
    assert_int_equal(conns[1].served_now, 1);
    assert_false(uv_is_active((uv_handle_t *)&wakes.check));
}

static void woken_past_the_rounds_waits_for_writeable(void **state)
{
    (void)state;
    /* Two connections that wake each other without end. */
    conns[0].wakes_next = &conns[1];
    conns[1].wakes_next = &conns[0];
    fc_ws_wakes_add(&wakes, &conns[0].link);
    uv_run(&loop.uv, UV_RUN_NOWAIT);
    int now = conns[0].served_now + conns[1].served_now;
    int later = conns[0].served_later + conns[1].served_later;
    assert_true(now >= 2 && now <= 8);
    assert_int_equal(later, 1); /* the last one asked is handed on, not served now */
    /* Handed on, it does not wake the other: nobody waits, the loop may block. */
    assert_false(uv_is_active((uv_handle_t *)&wakes.check));
}

static void closed_takes_nobody(void **state)
{
    (void)state;
    fc_ws_wakes_close(&wakes);
    assert_false(fc_ws_wakes_add(&wakes, &conns[0].link));
    fc_ws_wakes_remove(&conns[0].link);
    uv_run(&loop.uv, UV_RUN_NOWAIT);
    assert_int_equal(served, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(served_once_per_turn_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(removed_is_not_served, setup, teardown),
        cmocka_unit_test_setup_teardown(woken_by_another_is_served_in_the_same_check, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(woken_past_the_rounds_waits_for_writeable, setup, teardown),
        cmocka_unit_test_setup_teardown(closed_takes_nobody, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
