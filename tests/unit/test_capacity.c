/* Capacity and admission (core/capacity.h) and the HAProxy agent's line
 * (transport/agent.h): the load measured between two samples, the verdict
 * with its high- and low-water marks, budgets and draining on a live
 * capacity over a real loop and pool, and the worker busy time and loop
 * idle time it reads from them. */
#include <errno.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/capacity.h"
#include "core/clock.h"
#include "core/loop.h"
#include "core/pool.h"
#include "transport/agent.h"

#define MS 1000000ull

/* Two samples `ms` apart on `threads` workers. */
static void window(fc_capacity_sample *a, fc_capacity_sample *b, uint64_t ms, int threads)
{
    memset(a, 0, sizeof *a);
    memset(b, 0, sizeof *b);
    a->at_ns = 1000 * MS;
    b->at_ns = a->at_ns + ms * MS;
    a->threads = b->threads = threads;
    a->loop_idle_ns = 50 * MS;
    b->loop_idle_ns = a->loop_idle_ns + ms * MS; /* idle all along unless a test says */
}

static void load_between_samples(void **state)
{
    (void)state;
    fc_capacity_sample a, b;
    window(&a, &b, 500, 2);
    /* 2 workers x 500 ms = 1 s of worker time; 600 ms busy in 300 jobs. */
    b.worker_busy_ns = a.worker_busy_ns + 600 * MS;
    b.jobs_done = a.jobs_done + 300;
    b.loop_idle_ns = a.loop_idle_ns + 400 * MS; /* the loop worked 100 of 500 ms */
    b.timers = a.timers + 200;
    b.timers_late = a.timers_late + 3;
    b.missed_deadlines = a.missed_deadlines + 2;
    b.frames_made = a.frames_made + 98;
    fc_capacity_load l;
    fc_capacity_load_between(&a, &b, &l);
    assert_float_equal(l.seconds, 0.5, 1e-9);
    assert_float_equal(l.workers, 0.6, 1e-9);
    assert_float_equal(l.loop, 0.2, 1e-9);
    assert_int_equal(l.timers, 200);
    assert_float_equal(l.late, 0.015, 1e-9);
    assert_int_equal(l.missed, 2);
    assert_int_equal(l.due, 100);

    /* Realtime jobs still waiting at the end count at the mean job time
     * (2 ms): 100 of them are 200 ms more demand than the workers had. */
    b.realtime_queued = 100;
    fc_capacity_load_between(&a, &b, &l);
    assert_float_equal(l.workers, 0.8, 1e-9);

    /* No time between them: nothing measured, not a division by zero. */
    fc_capacity_load_between(&a, &a, &l);
    assert_float_equal(l.workers, 0, 0);
    assert_float_equal(l.seconds, 0, 0);
}

static void verdict_and_water_marks(void **state)
{
    (void)state;
    char why[160];
    fc_capacity_load l = {.seconds = 0.5, .workers = 0.85, .loop = 0.1};
    /* Between the marks: room while it had room, full while it was full. */
    assert_int_equal(fc_capacity_judge(&l, false, why, sizeof why), FC_CAP_WHY_COUNT);
    assert_string_equal(why, "");
    assert_int_equal(fc_capacity_judge(&l, true, why, sizeof why), FC_CAP_WHY_WORKERS);
    assert_non_null(strstr(why, "workers 85% busy"));
    l.workers = 0.79;
    assert_int_equal(fc_capacity_judge(&l, true, NULL, 0), FC_CAP_WHY_COUNT);
    l.workers = 0.9;
    assert_int_equal(fc_capacity_judge(&l, false, why, sizeof why), FC_CAP_WHY_WORKERS);

    l = (fc_capacity_load){.seconds = 0.5, .workers = 0.2, .loop = 0.95};
    assert_int_equal(fc_capacity_judge(&l, false, why, sizeof why), FC_CAP_WHY_LOOP);
    assert_non_null(strstr(why, "event loop 95% busy"));
    /* The loop first: it is the reason that refuses subscribers too. */
    l.workers = 0.99;
    assert_int_equal(fc_capacity_judge(&l, false, NULL, 0), FC_CAP_WHY_LOOP);

    /* Late frame timers: only over the share, and only with enough of them. */
    l = (fc_capacity_load){.seconds = 0.5, .timers = 100, .late = 0.06, .workers = 0.99};
    assert_int_equal(fc_capacity_judge(&l, false, why, sizeof why), FC_CAP_WHY_LAG);
    assert_non_null(strstr(why, "6.0% of frame timers ran over 50 ms late"));
    l = (fc_capacity_load){.seconds = 0.5, .timers = 100, .late = 0.05};
    assert_int_equal(fc_capacity_judge(&l, false, NULL, 0), FC_CAP_WHY_COUNT);
    l = (fc_capacity_load){.seconds = 0.5, .timers = FC_CAPACITY_LATE_MIN - 1, .late = 0.5};
    assert_int_equal(fc_capacity_judge(&l, false, NULL, 0), FC_CAP_WHY_COUNT);

    /* Missed deadlines: a share of the frames due, and a few at least; one
     * late frame in an idle window is not overload. */
    l = (fc_capacity_load){.seconds = 0.5, .missed = 5, .due = 100};
    assert_int_equal(fc_capacity_judge(&l, false, why, sizeof why), FC_CAP_WHY_DEADLINES);
    assert_string_equal(why, "5 of 100 avatar frames missed their deadline in 0.5 s");
    l.due = 1000;
    assert_int_equal(fc_capacity_judge(&l, false, NULL, 0), FC_CAP_WHY_COUNT);
    l = (fc_capacity_load){.seconds = 0.5, .missed = FC_CAPACITY_MISSED_MIN - 1, .due = 10};
    assert_int_equal(fc_capacity_judge(&l, false, NULL, 0), FC_CAP_WHY_COUNT);
}

static void spare_room(void **state)
{
    (void)state;
    fc_capacity_load l = {.workers = 0.45, .loop = 0.09};
    assert_float_equal(fc_capacity_load_spare(&l), 0.5, 1e-9);
    l.loop = 0.72;
    assert_float_equal(fc_capacity_load_spare(&l), 0.2, 1e-9);
    l.workers = 1.3; /* a backlog */
    assert_float_equal(fc_capacity_load_spare(&l), 0, 0);
    l = (fc_capacity_load){0};
    assert_float_equal(fc_capacity_load_spare(&l), 1, 0);
}

static void agent_lines(void **state)
{
    (void)state;
    char line[64];
    fc_capacity_report r = {.spare_pct = 63, .max_sessions = 120};
    assert_int_equal(fc_agent_format(&r, line, sizeof line), strlen("up ready 63% maxconn:120\n"));
    assert_string_equal(line, "up ready 63% maxconn:120\n");
    r.full = true;
    fc_agent_format(&r, line, sizeof line);
    assert_string_equal(line, "drain\n");
    r = (fc_capacity_report){.spare_pct = 100, .max_sessions = 8, .draining = true};
    fc_agent_format(&r, line, sizeof line);
    assert_string_equal(line, "drain\n");
    /* Cut to the buffer, still terminated. */
    r.draining = false;
    assert_int_equal(fc_agent_format(&r, line, 6), 5);
    assert_string_equal(line, "up re");
}

typedef struct env {
    fc_loop loop;
    fc_pool *pool;
    fc_capacity *cap;
    uint64_t missed, made;
} env;

static int env_open(void **state, bool budgets_only)
{
    static env e;
    memset(&e, 0, sizeof e);
    if (fc_loop_init(&e.loop) != 0 || fc_pool_create(1, &e.pool) != 0) return -1;
    fc_capacity_config cfg = {.max_sessions = 2,
                              .max_subscribers = 3,
                              .loop = &e.loop,
                              .pool = e.pool,
                              .missed_deadlines = &e.missed,
                              .frames_made = &e.made,
                              .budgets_only = budgets_only};
    char err[200];
    if (fc_capacity_create(&cfg, &e.cap, err, sizeof err) != 0) return -1;
    *state = &e;
    return 0;
}

static int env_setup(void **state)
{
    return env_open(state, false);
}

/* --load-admission off. */
static int env_setup_budgets_only(void **state)
{
    return env_open(state, true);
}

static int env_teardown(void **state)
{
    env *e = *state;
    fc_capacity_free(e->cap);
    fc_pool_destroy(e->pool);
    fc_loop_close(&e->loop);
    uv_run(&e->loop.uv, UV_RUN_DEFAULT);
    uv_loop_close(&e->loop.uv);
    return 0;
}

static void budgets_and_drain(void **state)
{
    env *e = *state;
    char why[200];
    fc_capacity_report r;
    fc_capacity_report_now(e->cap, &r);
    assert_false(r.full);
    assert_true(r.spare_pct >= 1 && r.spare_pct <= 100);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SESSION, why, sizeof why), 0);
        fc_capacity_enter(e->cap, FC_CAP_SESSION);
    }
    /* Both held: full, whatever the load says. */
    fc_capacity_report_now(e->cap, &r);
    assert_true(r.full);
    assert_int_equal(r.spare_pct, 0);
    assert_int_equal(r.sessions, 2);
    assert_string_equal(r.why, "2 avatar sessions (--max-sessions 2)");
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SESSION, why, sizeof why), -EBUSY);
    assert_string_equal(why, "server at capacity: 2 avatar sessions (--max-sessions 2)");
    /* The session budget leaves subscribers and work on admitted
     * connections alone. */
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SUBSCRIBER, why, sizeof why), 0);
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_NONE, why, sizeof why), 0);
    /* One held of two: at most half the room is left. */
    fc_capacity_leave(e->cap, FC_CAP_SESSION);
    fc_capacity_report_now(e->cap, &r);
    assert_false(r.full);
    assert_true(r.spare_pct >= 1 && r.spare_pct <= 50);
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SESSION, why, sizeof why), 0);

    for (int i = 0; i < 3; i++)
        fc_capacity_enter(e->cap, FC_CAP_SUBSCRIBER);
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SUBSCRIBER, why, sizeof why), -EBUSY);
    assert_string_equal(why, "server at capacity: 3 stream subscribers (--max-subscribers 3)");

    fc_capacity_drain(e->cap);
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_NONE, why, sizeof why), -ESHUTDOWN);
    assert_string_equal(why, "server is shutting down");
    fc_capacity_report_now(e->cap, &r);
    assert_true(r.draining);
    assert_int_equal(r.spare_pct, 0);
    assert_string_equal(r.why, "shutting down");
}

typedef struct held_job {
    fc_job job;
    sem_t go;
    bool done;
} held_job;

static void held_work(fc_job *job)
{
    sem_wait(&fc_container_of(job, held_job, job)->go);
}

static void held_done(fc_job *job)
{
    fc_container_of(job, held_job, job)->done = true;
}

static void on_timer(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void on_release(uv_timer_t *t)
{
    sem_post(t->data);
}

/* The load comes from the pool's and the loop's own counters: a worker held
 * in a job is busy time (wall time, CPU or not), and the loop asleep in
 * epoll is idle time. Workers that busy refuse sessions, not subscribers. */
/* Holds the pool's one worker in a job for a second, the loop waiting in
 * epoll meanwhile, as a server's does. */
static void hold_the_worker(env *e, held_job *h)
{
    *h = (held_job){.job = {.work = held_work, .done = held_done, .loop = &e->loop}};
    sem_init(&h->go, 0, 0);
    assert_int_equal(fc_pool_submit(e->pool, &h->job), 0);
    static uv_timer_t release; /* closes in the teardown's last run */
    uv_timer_init(&e->loop.uv, &release);
    release.data = &h->go;
    uv_timer_start(&release, on_release, 1000, 0);
    while (!h->done)
        uv_run(&e->loop.uv, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&release, NULL);
    sem_destroy(&h->go);
}

static void reads_pool_and_loop(void **state)
{
    env *e = *state;
    fc_capacity_sample a, b;
    fc_capacity_sample_now(e->cap, &a);
    held_job h;
    hold_the_worker(e, &h);
    fc_capacity_sample_now(e->cap, &b);
    fc_capacity_load l;
    fc_capacity_load_between(&a, &b, &l);
    assert_int_equal(b.jobs_done - a.jobs_done, 1);
    assert_true(b.worker_busy_ns - a.worker_busy_ns >= 900 * MS); /* less its wake-up */
    /* The one worker was busy for all but the moments around the job. */
    assert_true(l.workers > 0.9 && l.workers <= 1.0);
    assert_true(l.loop < 0.1);
    char why[200];
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SESSION, why, sizeof why), -EBUSY);
    assert_non_null(strstr(why, "server at capacity: workers "));
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SUBSCRIBER, why, sizeof why), 0);
    fc_capacity_report r;
    fc_capacity_report_now(e->cap, &r);
    assert_true(r.full);
    assert_int_equal(r.spare_pct, 0);

    /* A loop waiting 100 ms for its timer sleeps in epoll that long. */
    static uv_timer_t timer; /* closes in the teardown's last run */
    bool fired = false;
    uv_timer_init(&e->loop.uv, &timer);
    timer.data = &fired;
    uv_timer_start(&timer, on_timer, 100, 0);
    fc_capacity_sample_now(e->cap, &a);
    while (!fired)
        uv_run(&e->loop.uv, UV_RUN_ONCE);
    fc_capacity_sample_now(e->cap, &b);
    uv_close((uv_handle_t *)&timer, NULL);
    assert_true(b.loop_idle_ns - a.loop_idle_ns >= 90 * MS);
    assert_true(b.loop_idle_ns - a.loop_idle_ns <= b.at_ns - a.at_ns);
    fc_capacity_load_between(&a, &b, &l);
    assert_true(l.loop < 0.1);

    e->missed += 3;
    e->made += 7;
    fc_capacity_sample_now(e->cap, &b);
    assert_int_equal(b.missed_deadlines - a.missed_deadlines, 3);
    assert_int_equal(b.frames_made - a.frames_made, 7);
}

/* --load-admission off: the same busy worker is measured and reported, and
 * refuses nothing; the budgets still do. */
static void budgets_only_measure_the_load_and_refuse_by_budget(void **state)
{
    env *e = *state;
    held_job h;
    hold_the_worker(e, &h);
    char why[200];
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SESSION, why, sizeof why), 0);
    fc_capacity_report r;
    fc_capacity_report_now(e->cap, &r);
    assert_false(r.full);
    assert_true(r.load.workers > 0.9);
    fc_capacity_enter(e->cap, FC_CAP_SESSION);
    fc_capacity_enter(e->cap, FC_CAP_SESSION);
    assert_int_equal(fc_capacity_admit(e->cap, FC_CAP_SESSION, why, sizeof why), -EBUSY);
    assert_string_equal(why, "server at capacity: 2 avatar sessions (--max-sessions 2)");
    fc_capacity_leave(e->cap, FC_CAP_SESSION);
    fc_capacity_leave(e->cap, FC_CAP_SESSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_between_samples),
        cmocka_unit_test(verdict_and_water_marks),
        cmocka_unit_test(spare_room),
        cmocka_unit_test(agent_lines),
        cmocka_unit_test_setup_teardown(budgets_and_drain, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(reads_pool_and_loop, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(budgets_only_measure_the_load_and_refuse_by_budget,
                                        env_setup_budgets_only, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
