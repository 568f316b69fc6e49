/* fc_pool: the one worker pool that does all heavy work (render, decode,
 * inference, encode) for every loop in the process.
 *
 * Idle workers block on a condition variable: a pool with nothing queued uses
 * no CPU. The queue is FIFO and unbounded in principle but bounded in
 * practice, because callers submit through fc_stage (at most one running and
 * one pending job per stream stage).
 *
 * fc_pool_submit() may be called from any thread. The job's `done` runs later
 * on job->loop. CPU that each job's `work` used is measured with the thread's
 * CPU clock and summed per role. */
#ifndef FC_CORE_POOL_H
#define FC_CORE_POOL_H

#include <pthread.h>
#include <stdint.h>

#include "core/job.h"

typedef struct fc_pool fc_pool;

/* nthreads <= 0 means one per online core. Returns 0 or -errno. */
int fc_pool_create(int nthreads, fc_pool **out);
/* Finishes the jobs already running, drops nothing silently: jobs still queued
 * are run too before the threads exit. Their `done` callbacks are posted to
 * their loops as usual. */
void fc_pool_destroy(fc_pool *pool);

void fc_pool_submit(fc_pool *pool, fc_job *job);

typedef struct fc_pool_stats {
    int threads;
    uint64_t jobs_done;
    uint64_t queued;                       /* waiting right now */
    uint64_t role_cpu_ns[FC_ROLE_COUNT];   /* CPU used by jobs, per role */
    uint64_t role_jobs[FC_ROLE_COUNT];
    uint64_t busy_ns;                      /* wall time workers spent in jobs */
} fc_pool_stats;

void fc_pool_get_stats(fc_pool *pool, fc_pool_stats *out);
int fc_pool_threads(const fc_pool *pool);
/* CPU each worker thread has used in total, idle or not (pthread_getcpuclockid). */
uint64_t fc_pool_thread_cpu_ns(const fc_pool *pool, int index);

#endif
