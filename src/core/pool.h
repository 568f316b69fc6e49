/* fc_pool: the one worker pool that does all heavy work (render, decode,
 * inference, encode) for every loop in the process.
 *
 * Idle workers block on a condition variable: a pool with nothing queued uses
 * no CPU. Jobs wait in one FIFO queue per class (core/job.h): a free worker
 * takes the oldest realtime job, else the oldest release job, else the oldest
 * set-up job. Strict priority: past capacity, release and set-up work waits
 * while frames keep their deadlines (admission control refuses new sessions
 * before that point), and set-up waits behind the teardowns that free memory.
 *
 * Bounds: realtime and release work is bounded by its callers (fc_stage
 * keeps at most one running and one pending job per stream stage; one
 * teardown per session). Set-up work is bounded here: past the class's limit
 * fc_pool_submit refuses the job, so a burst of session starts queues at most
 * that many decodes and the caller can tell its client to come back.
 *
 * A queued job can be cancelled (a session that ended before its set-up ran);
 * a running one cannot: its `done` still comes.
 *
 * Any thread may submit and cancel. A job's `done` runs later on job->loop.
 * CPU that each job's `work` used is measured with the thread's CPU clock and
 * summed per role. */
#ifndef FC_CORE_POOL_H
#define FC_CORE_POOL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/job.h"

/* Set-up jobs queued at once by default: with decodes of 10-100 ms each, a
 * client at the back of a full queue on two workers waits under a second. */
#define FC_POOL_SETUP_QUEUE_DEFAULT 16

typedef struct fc_pool fc_pool;

/* nthreads <= 0 means one per online core. Returns 0 or -errno. */
int fc_pool_create(int nthreads, fc_pool **out);
/* Finishes the jobs already running, drops nothing silently: jobs still queued
 * are run too, in class order, before the threads exit. Their `done`
 * callbacks are posted to their loops as usual. */
void fc_pool_destroy(fc_pool *pool);

/* Jobs of `cls` queued at once at most; 0 = no bound. Setup starts at
 * FC_POOL_SETUP_QUEUE_DEFAULT, the others unbounded. */
void fc_pool_set_queue_limit(fc_pool *pool, fc_job_class cls, size_t max);

/* Queues `job` in its class. Returns 0, or -EAGAIN when the class is at its
 * limit: the job was not queued, the caller still owns it and its `done`
 * will not run. Never fails for an unbounded class. */
int fc_pool_submit(fc_pool *pool, fc_job *job);

/* Takes a job that is still queued out of the queue: returns 0, and the job
 * will neither run nor get its `done`; the caller owns it again. Returns
 * -EBUSY when it is not queued (running, finished, or never submitted):
 * nothing changes and a submitted job's `done` comes as usual. */
int fc_pool_cancel(fc_pool *pool, fc_job *job);

typedef struct fc_pool_stats {
    int threads;
    uint64_t jobs_done;
    uint64_t queued;                            /* waiting right now, all classes */
    uint64_t class_queued[FC_JOB_CLASS_COUNT];  /* waiting right now, per class */
    uint64_t class_refused[FC_JOB_CLASS_COUNT]; /* refused at the class limit */
    uint64_t cancelled;                         /* taken out of a queue unrun */
    uint64_t role_cpu_ns[FC_ROLE_COUNT];        /* CPU used by jobs, per role */
    uint64_t role_jobs[FC_ROLE_COUNT];
    uint64_t busy_ns; /* wall time workers spent in jobs */
} fc_pool_stats;

void fc_pool_get_stats(fc_pool *pool, fc_pool_stats *out);
int fc_pool_threads(const fc_pool *pool);
/* CPU each worker thread has used in total, idle or not (pthread_getcpuclockid). */
uint64_t fc_pool_thread_cpu_ns(const fc_pool *pool, int index);

#endif
