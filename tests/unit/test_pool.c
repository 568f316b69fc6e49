/* Worker pool, latest-wins stages, frame lifetimes across threads. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/frame.h"
#include "core/loop.h"
#include "core/pool.h"
#include "core/stage.h"

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void idle_workers_use_no_cpu(void **state)
{
    (void)state;
    fc_pool *pool;
    assert_int_equal(fc_pool_create(4, &pool), 0);
    sleep_ms(50); /* let them start and park */
    uint64_t before[4], after[4];
    for (int i = 0; i < 4; i++)
        before[i] = fc_pool_thread_cpu_ns(pool, i);
    sleep_ms(500);
    for (int i = 0; i < 4; i++) {
        after[i] = fc_pool_thread_cpu_ns(pool, i);
        /* A spinning or polling thread would burn most of the 500 ms;
         * a parked one burns nothing. Allow 2 ms for noise. */
        assert_true(after[i] - before[i] < 2000000ull);
    }
    fc_pool_destroy(pool);
}

typedef struct test_job {
    fc_job job;
    int value;
    fc_frame *frame;
    int *done_order;
    int *ndone;
    fc_stage *stage;
    fc_pool *pool;
    pthread_t worker;
} test_job;

static void job_work(fc_job *job)
{
    test_job *t = fc_container_of(job, test_job, job);
    t->worker = pthread_self();
    /* A worker reads the frame a loop handed over by reference. */
    t->value += t->frame->plane[0][0];
}

static void job_done(fc_job *job)
{
    test_job *t = fc_container_of(job, test_job, job);
    t->done_order[(*t->ndone)++] = t->value;
    if (t->stage) fc_stage_finish(t->stage, t->pool);
    fc_frame_unref(t->frame);
    free(t);
}

static test_job *make_job(fc_loop *loop, fc_frame *f, int value, int *order, int *ndone)
{
    test_job *t = calloc(1, sizeof *t);
    t->job = (fc_job){.work = job_work, .done = job_done, .loop = loop, .role = FC_ROLE_OTHER};
    t->value = value;
    t->frame = fc_frame_ref(f);
    t->done_order = order;
    t->ndone = ndone;
    return t;
}

static void stage_runs_latest_only(void **state)
{
    (void)state;
    fc_loop loop;
    assert_int_equal(fc_loop_init(&loop), 0);
    fc_pool *pool;
    assert_int_equal(fc_pool_create(2, &pool), 0);
    fc_frame *f = fc_frame_new_i420(16, 16);
    f->plane[0][0] = 0;

    int order[8], ndone = 0;
    fc_stage stage = {0};
    /* Frames k, k+1, k+2, k+3 arrive while k is still being worked on:
     * k+1 and k+2 are replaced, never run; k+3 runs after k. */
    test_job *jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = make_job(&loop, f, 100 + i, order, &ndone);
        jobs[i]->stage = &stage;
        jobs[i]->pool = pool;
    }
    assert_null(fc_stage_submit(&stage, pool, &jobs[0]->job));
    assert_null(fc_stage_submit(&stage, pool, &jobs[1]->job));
    fc_job *r = fc_stage_submit(&stage, pool, &jobs[2]->job);
    assert_ptr_equal(r, &jobs[1]->job);
    r = fc_stage_submit(&stage, pool, &jobs[3]->job);
    assert_ptr_equal(r, &jobs[2]->job);
    for (int i = 1; i <= 2; i++) {
        fc_frame_unref(jobs[i]->frame);
        free(jobs[i]);
    }
    assert_int_equal(stage.coalesced, 2);

    /* Each uv_run blocks until a worker's result wakes the loop. */
    while (ndone < 2)
        uv_run(&loop.uv, UV_RUN_ONCE);
    assert_int_equal(ndone, 2);
    assert_int_equal(order[0], 100);
    assert_int_equal(order[1], 103);
    assert_false(stage.busy);

    fc_loop_close(&loop);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    fc_pool_destroy(pool);
    uv_loop_close(&loop.uv);
    fc_frame_unref(f);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void cpu_is_accounted_per_role(void **state)
{
    (void)state;
    fc_loop loop;
    assert_int_equal(fc_loop_init(&loop), 0);
    fc_pool *pool;
    assert_int_equal(fc_pool_create(1, &pool), 0);
    fc_frame *f = fc_frame_new_i420(16, 16);
    f->plane[0][0] = 1;
    int order[4], ndone = 0;
    test_job *t = make_job(&loop, f, 0, order, &ndone);
    t->job.role = FC_ROLE_ENCODE;
    fc_pool_submit(pool, &t->job);
    while (ndone < 1)
        uv_run(&loop.uv, UV_RUN_ONCE);
    assert_int_equal(ndone, 1);
    assert_int_equal(order[0], 1);
    fc_pool_stats st;
    fc_pool_get_stats(pool, &st);
    assert_int_equal(st.role_jobs[FC_ROLE_ENCODE], 1);
    assert_int_equal(st.role_jobs[FC_ROLE_SOURCE], 0);
    assert_int_equal(st.jobs_done, 1);
    fc_loop_close(&loop);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    fc_pool_destroy(pool);
    uv_loop_close(&loop.uv);
    fc_frame_unref(f);
}

static void *unref_many(void *arg)
{
    fc_frame *f = arg;
    for (int i = 0; i < 10000; i++)
        fc_frame_unref(f);
    return NULL;
}

static void frames_refcount_across_threads(void **state)
{
    (void)state;
    fc_frame *f = fc_frame_new_encoded(100);
    for (int i = 0; i < 40000; i++)
        fc_frame_ref(f);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, unref_many, f);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&f->refs), 1);
    assert_int_equal(fc_frame_live_count(), 1);
    fc_frame_unref(f); /* the last reference frees it (ASan checks the rest) */
    assert_int_equal(fc_frame_live_count(), 0);
}

static atomic_int g_released;

static void count_release(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_released, 1);
}

/* A frame over planes it does not own gives them back once, with its last
 * reference, whichever thread drops it. */
static void wrapped_frames_release_once_with_the_last_reference(void **state)
{
    (void)state;
    static uint8_t y[64 * 10], u[32 * 5], v[32 * 5];
    uint8_t *planes[3] = {y, u, v};
    int strides[3] = {64, 32, 32}; /* wider than the 48-pixel picture */
    fc_frame *f = fc_frame_wrap_i420(48, 10, planes, strides, count_release, NULL);
    assert_non_null(f);
    assert_ptr_equal(f->plane[0], y);
    assert_int_equal(f->stride[0], 64);
    assert_int_equal(f->width, 48);
    assert_null(fc_frame_wrap_i420(47, 10, planes, strides, count_release, NULL));
    for (int i = 0; i < 40000; i++)
        fc_frame_ref(f);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, unref_many, f);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&g_released), 0);
    fc_frame_unref(f);
    assert_int_equal(atomic_load(&g_released), 1);
    assert_int_equal(fc_frame_live_count(), 0);
}

static void frame_shrink_keeps_wire_bytes(void **state)
{
    (void)state;
    fc_frame *f = fc_frame_new_encoded(1 << 20);
    f->id = 7;
    f->timestamp = 1.5;
    f->payload_len = 3;
    f->payload[0] = 'a';
    f->payload[1] = 'b';
    f->payload[2] = 'c';
    f = fc_frame_shrink(f);
    assert_int_equal(fc_frame_seal(f), 19);
    static const uint8_t want[19] = {0x00, 0x00, 0x00, 0x07, 0x3F, 0xF8, 0,   0,   0,  0,
                                     0,    0,    0,    0,    0,    3,    'a', 'b', 'c'};
    assert_memory_equal(f->wire, want, 19);
    fc_frame_unref(f);
}

/* A job that holds its worker until the test lets it go: the queue behind it
 * fills in a known order, with no sleeps and no luck. */
typedef struct gate {
    fc_job job;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
    int done_calls;
} gate;

static void gate_work(fc_job *job)
{
    gate *g = fc_container_of(job, gate, job);
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_done(fc_job *job)
{
    fc_container_of(job, gate, job)->done_calls++;
}

static void gate_init(gate *g, fc_loop *loop)
{
    memset(g, 0, sizeof *g);
    g->job = (fc_job){.work = gate_work, .done = gate_done, .loop = loop, .role = FC_ROLE_OTHER};
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
}

static void gate_wait_entered(gate *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->entered)
        pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_release(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

typedef struct order_job {
    fc_job job;
    int value;
    int *order, *ndone;
} order_job;

static void order_work(fc_job *job)
{
    (void)job;
}

static void order_done(fc_job *job)
{
    order_job *o = fc_container_of(job, order_job, job);
    o->order[(*o->ndone)++] = o->value;
}

static void order_init(order_job *o, fc_loop *loop, fc_job_class cls, int value, int *order,
                       int *ndone)
{
    *o = (order_job){.job = {.work = order_work,
                             .done = order_done,
                             .loop = loop,
                             .role = FC_ROLE_OTHER,
                             .cls = cls},
                     .value = value,
                     .order = order,
                     .ndone = ndone};
}

static void run_until(fc_loop *loop, const int *ndone, int want)
{
    /* Each uv_run blocks until a worker's result wakes the loop. */
    while (*ndone < want)
        uv_run(&loop->uv, UV_RUN_ONCE);
}

static void finish(fc_loop *loop, fc_pool *pool)
{
    fc_loop_close(loop);
    uv_run(&loop->uv, UV_RUN_DEFAULT);
    fc_pool_destroy(pool);
    uv_loop_close(&loop->uv);
}

/* Queued behind a busy worker: set-up, release and realtime jobs in mixed
 * order come out realtime first, then release (teardown never waits behind
 * set-up), then set-up, each class first in, first out. */
static void classes_run_in_priority_order_fifo_within_each(void **state)
{
    (void)state;
    fc_loop loop;
    assert_int_equal(fc_loop_init(&loop), 0);
    fc_pool *pool;
    assert_int_equal(fc_pool_create(1, &pool), 0);
    gate g;
    gate_init(&g, &loop);
    assert_int_equal(fc_pool_submit(pool, &g.job), 0);
    gate_wait_entered(&g);

    static const struct {
        fc_job_class cls;
        int value;
    } submit[] = {
        {FC_JOB_RELEASE, 21}, {FC_JOB_SETUP, 31},    {FC_JOB_REALTIME, 11}, {FC_JOB_SETUP, 32},
        {FC_JOB_RELEASE, 22}, {FC_JOB_REALTIME, 12}, {FC_JOB_SETUP, 33},    {FC_JOB_REALTIME, 13},
    };
    enum { N = sizeof submit / sizeof *submit };
    order_job jobs[N];
    int order[N], ndone = 0;
    for (int i = 0; i < N; i++) {
        order_init(&jobs[i], &loop, submit[i].cls, submit[i].value, order, &ndone);
        assert_int_equal(fc_pool_submit(pool, &jobs[i].job), 0);
    }
    fc_pool_stats st;
    fc_pool_get_stats(pool, &st);
    assert_int_equal(st.queued, N);
    assert_int_equal(st.class_queued[FC_JOB_REALTIME], 3);
    assert_int_equal(st.class_queued[FC_JOB_SETUP], 3);
    assert_int_equal(st.class_queued[FC_JOB_RELEASE], 2);

    gate_release(&g);
    run_until(&loop, &ndone, N);
    static const int want[N] = {11, 12, 13, 21, 22, 31, 32, 33};
    assert_memory_equal(order, want, sizeof want);
    while (g.done_calls == 0)
        uv_run(&loop.uv, UV_RUN_ONCE);
    finish(&loop, pool);
}

/* A job still in the queue can be taken back: it never runs and its done
 * never comes. A running one cannot: the cancel is refused and changes
 * nothing. */
static void queued_jobs_cancel_running_ones_refuse(void **state)
{
    (void)state;
    fc_loop loop;
    assert_int_equal(fc_loop_init(&loop), 0);
    fc_pool *pool;
    assert_int_equal(fc_pool_create(1, &pool), 0);
    gate g;
    gate_init(&g, &loop);
    assert_int_equal(fc_pool_submit(pool, &g.job), 0);
    gate_wait_entered(&g);
    assert_int_equal(fc_pool_cancel(pool, &g.job), -EBUSY);

    order_job jobs[3];
    int order[3], ndone = 0;
    for (int i = 0; i < 3; i++) {
        order_init(&jobs[i], &loop, FC_JOB_SETUP, i + 1, order, &ndone);
        assert_int_equal(fc_pool_submit(pool, &jobs[i].job), 0);
    }
    assert_int_equal(fc_pool_cancel(pool, &jobs[1].job), 0);
    assert_int_equal(fc_pool_cancel(pool, &jobs[1].job), -EBUSY); /* once only */
    fc_pool_stats st;
    fc_pool_get_stats(pool, &st);
    assert_int_equal(st.cancelled, 1);
    assert_int_equal(st.class_queued[FC_JOB_SETUP], 2);

    gate_release(&g);
    run_until(&loop, &ndone, 2);
    while (g.done_calls == 0)
        uv_run(&loop.uv, UV_RUN_ONCE);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 3);
    assert_int_equal(g.done_calls, 1); /* the refused cancel left its done alone */
    /* Finished: nothing to cancel either. */
    assert_int_equal(fc_pool_cancel(pool, &jobs[0].job), -EBUSY);
    fc_pool_get_stats(pool, &st);
    assert_int_equal(st.jobs_done, 3); /* the gate and two of three */
    finish(&loop, pool);
    assert_int_equal(ndone, 2);
}

/* Set-up work past the class limit is refused to the caller at once; other
 * classes are not bounded by it, and the class takes jobs again once its
 * queue drains. */
static void setup_work_is_bounded_and_refusals_are_reported(void **state)
{
    (void)state;
    fc_loop loop;
    assert_int_equal(fc_loop_init(&loop), 0);
    fc_pool *pool;
    assert_int_equal(fc_pool_create(1, &pool), 0);
    gate g;
    gate_init(&g, &loop);
    assert_int_equal(fc_pool_submit(pool, &g.job), 0);
    gate_wait_entered(&g);

    enum { LIMIT = FC_POOL_SETUP_QUEUE_DEFAULT };
    order_job setup[LIMIT + 1], rt[LIMIT + 1];
    int order[2 * LIMIT + 2], ndone = 0;
    for (int i = 0; i < LIMIT; i++) {
        order_init(&setup[i], &loop, FC_JOB_SETUP, i, order, &ndone);
        assert_int_equal(fc_pool_submit(pool, &setup[i].job), 0);
    }
    order_init(&setup[LIMIT], &loop, FC_JOB_SETUP, LIMIT, order, &ndone);
    assert_int_equal(fc_pool_submit(pool, &setup[LIMIT].job), -EAGAIN);
    assert_false(setup[LIMIT].job.queued);
    for (int i = 0; i <= LIMIT; i++) {
        order_init(&rt[i], &loop, FC_JOB_REALTIME, 100 + i, order, &ndone);
        assert_int_equal(fc_pool_submit(pool, &rt[i].job), 0);
    }
    fc_pool_stats st;
    fc_pool_get_stats(pool, &st);
    assert_int_equal(st.class_refused[FC_JOB_SETUP], 1);
    assert_int_equal(st.class_refused[FC_JOB_REALTIME], 0);
    assert_int_equal(st.class_queued[FC_JOB_SETUP], LIMIT);

    gate_release(&g);
    run_until(&loop, &ndone, 2 * LIMIT + 1);
    /* Drained: the refused job goes in now. */
    assert_int_equal(fc_pool_submit(pool, &setup[LIMIT].job), 0);
    run_until(&loop, &ndone, 2 * LIMIT + 2);
    assert_int_equal(order[2 * LIMIT + 1], LIMIT);
    /* A limit is the caller's to set; 0 lifts it. */
    fc_pool_set_queue_limit(pool, FC_JOB_SETUP, 0);
    while (g.done_calls == 0)
        uv_run(&loop.uv, UV_RUN_ONCE);
    finish(&loop, pool);
}

/* After a burst of every class, parked workers are back at no CPU. */
static void workers_park_again_after_work(void **state)
{
    (void)state;
    fc_loop loop;
    assert_int_equal(fc_loop_init(&loop), 0);
    fc_pool *pool;
    assert_int_equal(fc_pool_create(2, &pool), 0);
    order_job jobs[30];
    int order[30], ndone = 0;
    for (int i = 0; i < 30; i++) {
        order_init(&jobs[i], &loop, (fc_job_class)(i % FC_JOB_CLASS_COUNT), i, order, &ndone);
        assert_int_equal(fc_pool_submit(pool, &jobs[i].job), 0);
    }
    run_until(&loop, &ndone, 30);
    uint64_t before[2], after[2];
    for (int i = 0; i < 2; i++)
        before[i] = fc_pool_thread_cpu_ns(pool, i);
    sleep_ms(300); /* a window to measure idle CPU over, not a wait for a state */
    for (int i = 0; i < 2; i++) {
        after[i] = fc_pool_thread_cpu_ns(pool, i);
        assert_true(after[i] - before[i] < 2000000ull);
    }
    finish(&loop, pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_workers_use_no_cpu),
        cmocka_unit_test(stage_runs_latest_only),
        cmocka_unit_test(cpu_is_accounted_per_role),
        cmocka_unit_test(frames_refcount_across_threads),
        cmocka_unit_test(wrapped_frames_release_once_with_the_last_reference),
        cmocka_unit_test(frame_shrink_keeps_wire_bytes),
        cmocka_unit_test(classes_run_in_priority_order_fifo_within_each),
        cmocka_unit_test(queued_jobs_cancel_running_ones_refuse),
        cmocka_unit_test(setup_work_is_bounded_and_refusals_are_reported),
        cmocka_unit_test(workers_park_again_after_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
