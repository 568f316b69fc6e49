/* fc_conntrack on a real loop: the per-peer bound refuses at once, room for
 * a new connection is made from the oldest pending connection of the peer
 * with most (never an active one), a kept-alive connection waiting again is
 * bounded as a new one is, the header deadline closes what is still pending
 * (one timer, run by the loop), and zero limits are refused. The owner is
 * this test: the close callback records what it was asked to close. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/loop.h"
#include "transport/conntrack.h"

#define MAX_CONNS 16

typedef struct world {
    fc_loop loop;
    fc_conntrack *t;
    fc_tracked *rec[MAX_CONNS];
    int tag[MAX_CONNS];    /* what fc_tracked_bind got: the index */
    bool asked[MAX_CONNS]; /* the tracker asked to close it */
    int n;
} world;

static void on_close(void *conn, void *ctx)
{
    world *w = ctx;
    w->asked[*(int *)conn] = true;
}

static void open_world(world *w, fc_conntrack_limits lim)
{
    memset(w, 0, sizeof *w);
    assert_int_equal(fc_loop_init(&w->loop), 0);
    assert_int_equal(fc_conntrack_new(&w->loop, &lim, on_close, w, &w->t), 0);
}

static void close_world(world *w)
{
    for (int i = 0; i < w->n; i++)
        if (w->rec[i]) fc_tracked_gone(w->rec[i]);
    fc_conntrack_close(w->t);
    fc_loop_close(&w->loop);
    uv_run(&w->loop.uv, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&w->loop.uv), 0);
}

static struct sockaddr_storage v4(const char *addr)
{
    struct sockaddr_storage ss = {0};
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, addr, &in->sin_addr), 1);
    return ss;
}

/* Admits a connection from `addr` and binds it: its index, or -1 (refused,
 * *why says why). */
static int admit(world *w, const char *addr, fc_conn_refused *why)
{
    struct sockaddr_storage ss = v4(addr);
    fc_tracked *c;
    fc_conn_refused ignored;
    if (fc_conntrack_admit(w->t, &ss, &c, why ? why : &ignored) != 0) return -1;
    int i = w->n++;
    w->tag[i] = i;
    w->rec[i] = c;
    fc_tracked_bind(c, &w->tag[i]);
    return i;
}

/* The owner closed it: the record goes. */
static void gone(world *w, int i)
{
    fc_tracked_gone(w->rec[i]);
    w->rec[i] = NULL;
}

static fc_conntrack_stats stats(world *w)
{
    fc_conntrack_stats st;
    fc_conntrack_get_stats(w->t, &st);
    return st;
}

static void per_peer_bound_refuses_at_once(void **state)
{
    (void)state;
    world w;
    open_world(&w,
               (fc_conntrack_limits){
                   .max_total = 100, .max_pending = 100, .max_per_peer = 3, .header_ms = 60000});
    for (int i = 0; i < 3; i++)
        assert_int_equal(admit(&w, "10.0.0.1", NULL), i);
    fc_conn_refused why = FC_CONN_REFUSED_FULL;
    assert_int_equal(admit(&w, "10.0.0.1", &why), -1);
    assert_int_equal(why, FC_CONN_REFUSED_PEER);
    assert_true(admit(&w, "10.0.0.2", NULL) >= 0); /* another address is not */
    gone(&w, 0);
    assert_true(admit(&w, "10.0.0.1", NULL) >= 0); /* one gone: room again */
    fc_conntrack_stats st = stats(&w);
    assert_int_equal(st.refused[FC_CONN_REFUSED_PEER], 1);
    assert_int_equal(st.open, 4);
    for (int i = 0; i < w.n; i++)
        assert_false(w.asked[i]);
    close_world(&w);
}

static void room_is_made_from_the_peer_with_most(void **state)
{
    (void)state;
    world w;
    open_world(&w,
               (fc_conntrack_limits){
                   .max_total = 100, .max_pending = 4, .max_per_peer = 100, .header_ms = 60000});
    int a0 = admit(&w, "10.0.0.1", NULL), a1 = admit(&w, "10.0.0.1", NULL);
    int b0 = admit(&w, "10.0.0.2", NULL);
    int a2 = admit(&w, "10.0.0.1", NULL);
    /* A fifth: the oldest of 10.0.0.1 (three pending) goes, not 10.0.0.2's
     * older one. */
    int c0 = admit(&w, "10.0.0.3", NULL);
    assert_true(c0 >= 0);
    assert_true(w.asked[a0]);
    assert_false(w.asked[a1] || w.asked[a2] || w.asked[b0] || w.asked[c0]);
    /* An active connection is never the one taken: with 10.0.0.1's and
     * 10.0.0.2's connections active, the room comes from the pending ones. */
    fc_tracked_active(w.rec[a1]);
    fc_tracked_active(w.rec[a2]);
    fc_tracked_active(w.rec[b0]);
    int d0 = admit(&w, "10.0.0.4", NULL), d1 = admit(&w, "10.0.0.4", NULL);
    int d2 = admit(&w, "10.0.0.4", NULL); /* c0, d0, d1, d2: four pending */
    assert_false(w.asked[d0] || w.asked[d1] || w.asked[d2] || w.asked[c0]);
    assert_true(admit(&w, "10.0.0.5", NULL) >= 0);
    assert_true(w.asked[d0]); /* the peer with most, its oldest */
    assert_false(w.asked[a1] || w.asked[a2] || w.asked[b0]);
    fc_conntrack_stats st = stats(&w);
    assert_int_equal(st.closed[FC_CONN_CLOSED_EVICTED], 2);
    assert_int_equal(st.pending, 4);
    close_world(&w);
}

/* The regression: a connection pending again after a keep-alive answer was
 * added past max_pending, and its peer's count past the end of the
 * per-count lists (ASan sees that). */
static void kept_alive_waiting_again_is_bounded(void **state)
{
    (void)state;
    world w;
    open_world(&w,
               (fc_conntrack_limits){
                   .max_total = 100, .max_pending = 3, .max_per_peer = 100, .header_ms = 60000});
    int ka = admit(&w, "10.0.0.1", NULL);
    fc_tracked_active(w.rec[ka]);
    int p[3];
    for (int i = 0; i < 3; i++)
        p[i] = admit(&w, "10.0.0.1", NULL); /* one peer holds every pending slot */
    assert_int_equal(stats(&w).pending, 3);
    fc_tracked_pending(w.rec[ka]); /* answered, kept alive, waiting again */
    assert_int_equal(stats(&w).pending, 3);
    assert_true(w.asked[p[0]]);
    assert_false(w.asked[p[1]] || w.asked[p[2]] || w.asked[ka]);
    assert_int_equal(stats(&w).closed[FC_CONN_CLOSED_EVICTED], 1);
    close_world(&w);
}

static void header_deadline_closes_pending(void **state)
{
    (void)state;
    world w;
    open_world(&w, (fc_conntrack_limits){
                       .max_total = 100, .max_pending = 100, .max_per_peer = 100, .header_ms = 30});
    int slow = admit(&w, "10.0.0.1", NULL), quick = admit(&w, "10.0.0.2", NULL);
    int idle = admit(&w, "10.0.0.3", NULL);
    fc_tracked_active(w.rec[quick]); /* its headers came in time */
    /* The loop sleeps until the timer fires: no polling. */
    while (!(w.asked[slow] && w.asked[idle]))
        uv_run(&w.loop.uv, UV_RUN_ONCE);
    assert_false(w.asked[quick]);
    assert_int_equal(stats(&w).closed[FC_CONN_CLOSED_HEADER_TIMEOUT], 2);
    assert_int_equal(stats(&w).pending, 0);
    close_world(&w);
}

static void zero_limits_are_refused(void **state)
{
    (void)state;
    fc_loop loop;
    assert_int_equal(fc_loop_init(&loop), 0);
    const fc_conntrack_limits ok = {
        .max_total = 1, .max_pending = 1, .max_per_peer = 1, .header_ms = 1};
    fc_conntrack_limits bad[4] = {ok, ok, ok, ok};
    bad[0].max_total = 0;
    bad[1].max_pending = 0;
    bad[2].max_per_peer = 0;
    bad[3].header_ms = 0;
    fc_conntrack *t = NULL;
    for (int i = 0; i < 4; i++)
        assert_int_equal(fc_conntrack_new(&loop, &bad[i], on_close, NULL, &t), -EINVAL);
    fc_loop_close(&loop);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop.uv), 0);
}

static void count_gone(void *arg)
{
    (*(int *)arg)++;
}

/* The router (--loops N) learns when a record goes, once, whether it goes
 * after its bind or before it (the owner could not take it). */
static void the_gone_hook_runs_once_when_the_record_goes(void **state)
{
    (void)state;
    world w;
    open_world(&w, (fc_conntrack_limits){
                       .max_total = 10, .max_pending = 10, .max_per_peer = 10, .header_ms = 60000});
    int bound_gone = 0, unbound_gone = 0;
    int i = admit(&w, "10.0.0.1", NULL);
    fc_tracked_on_gone(w.rec[i], count_gone, &bound_gone);
    fc_tracked_active(w.rec[i]);
    assert_int_equal(bound_gone, 0);
    gone(&w, i);
    assert_int_equal(bound_gone, 1);
    struct sockaddr_storage ss = v4("10.0.0.1");
    fc_tracked *c;
    fc_conn_refused why;
    assert_int_equal(fc_conntrack_admit(w.t, &ss, &c, &why), 0);
    fc_tracked_on_gone(c, count_gone, &unbound_gone);
    fc_tracked_gone(c); /* before the bind: the record waits for it */
    assert_int_equal(unbound_gone, 0);
    fc_tracked_bind(c, NULL);
    assert_int_equal(unbound_gone, 1);
    assert_int_equal(stats(&w).open, 0);
    close_world(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_peer_bound_refuses_at_once),
        cmocka_unit_test(room_is_made_from_the_peer_with_most),
        cmocka_unit_test(kept_alive_waiting_again_is_bounded),
        cmocka_unit_test(header_deadline_closes_pending),
        cmocka_unit_test(zero_limits_are_refused),
        cmocka_unit_test(the_gone_hook_runs_once_when_the_record_goes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
