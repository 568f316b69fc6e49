/* Worker pool, latest-wins stages, frame lifetimes across threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_workers_use_no_cpu),
        cmocka_unit_test(stage_runs_latest_only),
        cmocka_unit_test(cpu_is_accounted_per_role),
        cmocka_unit_test(frames_refcount_across_threads),
        cmocka_unit_test(frame_shrink_keeps_wire_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
