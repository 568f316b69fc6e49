#include "core/loop.h"

#include <string.h>

#include "core/clock.h"

static void run_finished(fc_loop *loop)
{
    pthread_mutex_lock(&loop->mu);
    fc_job *job = loop->head;
    loop->head = loop->tail = NULL;
    pthread_mutex_unlock(&loop->mu);

    uint64_t now = fc_now_ns();
    while (job) {
        fc_job *next = job->next;
        job->next = NULL;
        loop->done_count++;
        loop->done_lag_ns += now > job->posted_ns ? now - job->posted_ns : 0;
        job->done(job);
        job = next;
    }
}

static void on_wake(uv_async_t *handle)
{
    run_finished(handle->data);
}

void fc_loop_run_left(fc_loop *loop)
{
    run_finished(loop);
}

int fc_loop_init(fc_loop *loop)
{
    int rc = uv_loop_init(&loop->uv);
    if (rc != 0) return rc;
    /* The time the loop sleeps in epoll is what admission reads as the
     * loop's spare time (core/capacity.h); counting it costs one clock read
     * per wake-up. */
    uv_loop_configure(&loop->uv, UV_METRICS_IDLE_TIME);
    pthread_mutex_init(&loop->mu, NULL);
    loop->head = loop->tail = NULL;
    loop->thread = pthread_self();
    loop->done_count = loop->done_lag_ns = 0;
    rc = uv_async_init(&loop->uv, &loop->wake, on_wake);
    if (rc != 0) {
        uv_loop_close(&loop->uv);
        return rc;
    }
    loop->wake.data = loop;
    loop->uv.data = loop;
    return 0;
}

void fc_loop_post_done(fc_loop *loop, fc_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&loop->mu);
    if (loop->tail)
        loop->tail->next = job;
    else
        loop->head = job;
    loop->tail = job;
    pthread_mutex_unlock(&loop->mu);
    uv_async_send(&loop->wake);
}

void fc_loop_run(fc_loop *loop, fc_job *job, fc_job_fn fn)
{
    memset(job, 0, sizeof *job);
    job->done = fn;
    job->loop = loop;
    job->posted_ns = fc_now_ns();
    fc_loop_post_done(loop, job);
}

void fc_loop_close(fc_loop *loop)
{
    uv_close((uv_handle_t *)&loop->wake, NULL);
}
