#include "core/pool.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/loop.h"

/* One FIFO per class, doubly linked so a cancel unlinks in O(1). */
typedef struct job_queue {
    fc_job *head, *tail;
    size_t len, limit; /* limit 0: unbounded */
    uint64_t refused;
} job_queue;

struct fc_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_queue q[FC_JOB_CLASS_COUNT];
    uint64_t queued, cancelled;
    uint64_t submitted; /* jobs ever queued: the next one's seq */
    bool stopping;
    int n;
    pthread_t *threads;
    atomic_uint_fast64_t jobs_done;
    atomic_uint_fast64_t busy_ns;
    atomic_uint_fast64_t role_cpu_ns[FC_ROLE_COUNT];
    atomic_uint_fast64_t role_jobs[FC_ROLE_COUNT];
};

const char *fc_role_name(fc_role role)
{
    static const char *names[FC_ROLE_COUNT] = {"source", "encode", "analysis", "view", "other"};
    return role < FC_ROLE_COUNT ? names[role] : "other";
}

const char *fc_job_class_name(fc_job_class cls)
{
    static const char *names[FC_JOB_CLASS_COUNT] = {"realtime", "release", "setup"};
    return cls < FC_JOB_CLASS_COUNT ? names[cls] : "realtime";
}

/* Under mu. */
static void unlink_job(fc_pool *pool, job_queue *q, fc_job *job)
{
    if (job->prev)
        job->prev->next = job->next;
    else
        q->head = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        q->tail = job->prev;
    job->next = job->prev = NULL;
    job->queued = false;
    q->len--;
    pool->queued--;
}

/* Under mu: the oldest job of the most urgent class, or NULL. Built with
 * -Dpool_priorities=false (only to measure what the classes are worth):
 * the oldest job of any class, one FIFO as before the classes. */
static fc_job *take(fc_pool *pool)
{
#if !FC_POOL_PRIORITIES
    int oldest = -1;
    for (int c = 0; c < FC_JOB_CLASS_COUNT; c++)
        if (pool->q[c].head && (oldest < 0 || pool->q[c].head->seq < pool->q[oldest].head->seq))
            oldest = c;
    if (oldest >= 0) {
        fc_job *job = pool->q[oldest].head;
        unlink_job(pool, &pool->q[oldest], job);
        return job;
    }
    return NULL;
#endif
    for (int c = 0; c < FC_JOB_CLASS_COUNT; c++) {
        fc_job *job = pool->q[c].head;
        if (job) {
            unlink_job(pool, &pool->q[c], job);
            return job;
        }
    }
    return NULL;
}

static void *worker_main(void *arg)
{
    fc_pool *pool = arg;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (pool->queued == 0 && !pool->stopping)
            pthread_cond_wait(&pool->cv, &pool->mu);
        fc_job *job = take(pool);
        if (!job) break; /* stopping and drained */
        pthread_mutex_unlock(&pool->mu);

        uint64_t t0 = fc_now_ns(), c0 = fc_thread_cpu_ns();
        job->work(job);
        uint64_t c1 = fc_thread_cpu_ns(), t1 = fc_now_ns();
        job->cpu_ns = c1 - c0;
        job->posted_ns = t1;
        fc_role role = job->role < FC_ROLE_COUNT ? job->role : FC_ROLE_OTHER;
        uint64_t lent = job->lent_ns < job->cpu_ns ? job->lent_ns : job->cpu_ns;
        fc_role to = job->lent_role < FC_ROLE_COUNT ? job->lent_role : FC_ROLE_OTHER;
        atomic_fetch_add(&pool->role_cpu_ns[role], job->cpu_ns - lent);
        if (lent) atomic_fetch_add(&pool->role_cpu_ns[to], lent);
        atomic_fetch_add(&pool->role_jobs[role], 1);
        atomic_fetch_add(&pool->busy_ns, t1 - t0);
        atomic_fetch_add(&pool->jobs_done, 1);
        fc_loop_post_done(job->loop, job);

        pthread_mutex_lock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

int fc_pool_create(int nthreads, fc_pool **out)
{
    if (nthreads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n > 0 ? (int)n : 1;
    }
    fc_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return -ENOMEM;
    pool->threads = calloc((size_t)nthreads, sizeof *pool->threads);
    if (!pool->threads) {
        free(pool);
        return -ENOMEM;
    }
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    pool->q[FC_JOB_SETUP].limit = FC_POOL_SETUP_QUEUE_DEFAULT;
    for (int i = 0; i < nthreads; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, pool);
        if (rc != 0) {
            pool->n = i;
            fc_pool_destroy(pool);
            return -rc;
        }
        char name[32];
        snprintf(name, sizeof name, "fc-worker-%d", i);
        name[15] = 0; /* the kernel keeps 15 characters */
        pthread_setname_np(pool->threads[i], name);
        pool->n = i + 1;
    }
    *out = pool;
    return 0;
}

void fc_pool_destroy(fc_pool *pool)
{
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    for (int i = 0; i < pool->n; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool->threads);
    free(pool);
}

void fc_pool_set_queue_limit(fc_pool *pool, fc_job_class cls, size_t max)
{
    if (cls >= FC_JOB_CLASS_COUNT) return;
    pthread_mutex_lock(&pool->mu);
    pool->q[cls].limit = max;
    pthread_mutex_unlock(&pool->mu);
}

int fc_pool_submit(fc_pool *pool, fc_job *job)
{
    fc_job_class cls = job->cls < FC_JOB_CLASS_COUNT ? job->cls : FC_JOB_REALTIME;
    pthread_mutex_lock(&pool->mu);
    job_queue *q = &pool->q[cls];
    if (q->limit && q->len >= q->limit) {
        q->refused++;
        pthread_mutex_unlock(&pool->mu);
        return -EAGAIN;
    }
    job->next = NULL;
    job->prev = q->tail;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->len++;
    job->queued = true;
    job->seq = pool->submitted++;
    pool->queued++;
    /* One job wakes one worker; the rest stay asleep. */
    pthread_cond_signal(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

int fc_pool_cancel(fc_pool *pool, fc_job *job)
{
    pthread_mutex_lock(&pool->mu);
    int rc = -EBUSY;
    if (job->queued) {
        fc_job_class cls = job->cls < FC_JOB_CLASS_COUNT ? job->cls : FC_JOB_REALTIME;
        unlink_job(pool, &pool->q[cls], job);
        pool->cancelled++;
        rc = 0;
    }
    pthread_mutex_unlock(&pool->mu);
    return rc;
}

void fc_pool_get_stats(fc_pool *pool, fc_pool_stats *out)
{
    out->threads = pool->n;
    out->jobs_done = atomic_load(&pool->jobs_done);
    out->busy_ns = atomic_load(&pool->busy_ns);
    for (int r = 0; r < FC_ROLE_COUNT; r++) {
        out->role_cpu_ns[r] = atomic_load(&pool->role_cpu_ns[r]);
        out->role_jobs[r] = atomic_load(&pool->role_jobs[r]);
    }
    pthread_mutex_lock(&pool->mu);
    out->queued = pool->queued;
    out->cancelled = pool->cancelled;
    for (int c = 0; c < FC_JOB_CLASS_COUNT; c++) {
        out->class_queued[c] = pool->q[c].len;
        out->class_refused[c] = pool->q[c].refused;
    }
    pthread_mutex_unlock(&pool->mu);
}

int fc_pool_threads(const fc_pool *pool)
{
    return pool->n;
}

uint64_t fc_pool_thread_cpu_ns(const fc_pool *pool, int index)
{
    if (index < 0 || index >= pool->n) return 0;
    return fc_thread_cpu_ns_of(pool->threads[index]);
}
