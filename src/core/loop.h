/* fc_loop: one libuv loop and the way results reach it.
 *
 * A loop thread owns its sockets, subscribers and streams. Workers hand back
 * finished jobs with fc_loop_post_done(); the loop is woken by one coalesced
 * uv_async_send and runs every finished job's `done` in the order they
 * finished. Nothing here is a singleton: a process may run several loops, each
 * with its own thread (one per core is the plan for --loops N). */
#ifndef FC_CORE_LOOP_H
#define FC_CORE_LOOP_H

#include <pthread.h>
#include <stdint.h>
#include <uv.h>

#include "core/job.h"

typedef struct fc_loop {
    uv_loop_t uv;
    uv_async_t wake;
    pthread_mutex_t mu;
    fc_job *head, *tail;  /* finished jobs waiting for `done`, under mu */
    pthread_t thread;     /* the thread that runs this loop (set by fc_loop_init's caller thread) */
    uint64_t done_count;  /* loop thread only */
    uint64_t done_lag_ns; /* sum of worker-finish → done delays, loop thread only */
} fc_loop;

/* Initialises the loop on the calling thread, which becomes its owner. */
int fc_loop_init(fc_loop *loop);
/* Any thread: queue a finished job for its `done` callback on this loop. */
void fc_loop_post_done(fc_loop *loop, fc_job *job);
/* Any thread: runs `fn` on `loop`'s thread soon, as a job that crosses
 * loops (no work part); `job` is the caller's until `fn` runs. */
void fc_loop_run(fc_loop *loop, fc_job *job, fc_job_fn fn);
/* The loop's thread, after its last run and once nothing can post any more
 * (every other loop has stopped): runs the jobs that came after that run,
 * such as another loop's last connection closes. */
void fc_loop_run_left(fc_loop *loop);
/* Loop thread: closes the wake handle; run the loop once more to finish. */
void fc_loop_close(fc_loop *loop);

#endif
