#include "core/core_metrics.h"

#include <errno.h>
#include <stdio.h>

#include "core/clock.h"
#include "core/frame.h"

static const double lag_bounds[] = {0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100};

void fc_core_metrics_init(fc_core_metrics *cm, fc_loop *loop, fc_pool *pool)
{
    cm->loop = loop;
    cm->pool = pool;
    fc_histogram_init(&cm->loop_lag_ms, lag_bounds, (int)(sizeof lag_bounds / sizeof *lag_bounds));
}

static void process_cpu(fc_metrics_out *out, void *ctx)
{
    (void)ctx;
    fc_metrics_sample(out, NULL, (double)fc_process_cpu_ns() / 1e9);
}

/* CPU per thread role. The loop thread is read from its own clock; worker
 * CPU is split by what the jobs were for, as measured around each job, plus
 * whatever the workers spent outside jobs (waking, queue handling). */
static void role_cpu(fc_metrics_out *out, void *ctx)
{
    fc_core_metrics *cm = ctx;
    fc_metrics_sample(out, "role=\"loop\"", (double)fc_thread_cpu_ns_of(cm->loop->thread) / 1e9);
    fc_pool_stats st;
    fc_pool_get_stats(cm->pool, &st);
    uint64_t in_jobs = 0;
    for (int r = 0; r < FC_ROLE_COUNT; r++) {
        char labels[64];
        snprintf(labels, sizeof labels, "role=\"%s\"", fc_role_name((fc_role)r));
        fc_metrics_sample(out, labels, (double)st.role_cpu_ns[r] / 1e9);
        in_jobs += st.role_cpu_ns[r];
    }
    uint64_t workers = 0;
    for (int i = 0; i < st.threads; i++)
        workers += fc_pool_thread_cpu_ns(cm->pool, i);
    fc_metrics_sample(out, "role=\"worker_overhead\"",
                      workers > in_jobs ? (double)(workers - in_jobs) / 1e9 : 0.0);
}

static void worker_thread_cpu(fc_metrics_out *out, void *ctx)
{
    fc_core_metrics *cm = ctx;
    for (int i = 0; i < fc_pool_threads(cm->pool); i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "worker=\"%d\"", i);
        fc_metrics_sample(out, labels, (double)fc_pool_thread_cpu_ns(cm->pool, i) / 1e9);
    }
}

static void worker_busy(fc_metrics_out *out, void *ctx)
{
    fc_pool_stats st;
    fc_pool_get_stats(((fc_core_metrics *)ctx)->pool, &st);
    fc_metrics_sample(out, NULL, (double)st.busy_ns / 1e9);
}

static void pool_jobs(fc_metrics_out *out, void *ctx)
{
    fc_pool_stats st;
    fc_pool_get_stats(((fc_core_metrics *)ctx)->pool, &st);
    for (int r = 0; r < FC_ROLE_COUNT; r++) {
        char labels[64];
        snprintf(labels, sizeof labels, "role=\"%s\"", fc_role_name((fc_role)r));
        fc_metrics_sample(out, labels, (double)st.role_jobs[r]);
    }
}

/* Per job class; realtime + release + setup = all queued. */
static void pool_class_samples(fc_metrics_out *out, const uint64_t *v)
{
    for (int c = 0; c < FC_JOB_CLASS_COUNT; c++) {
        char labels[64];
        snprintf(labels, sizeof labels, "class=\"%s\"", fc_job_class_name((fc_job_class)c));
        fc_metrics_sample(out, labels, (double)v[c]);
    }
}

static void pool_queued(fc_metrics_out *out, void *ctx)
{
    fc_pool_stats st;
    fc_pool_get_stats(((fc_core_metrics *)ctx)->pool, &st);
    pool_class_samples(out, st.class_queued);
}

static void pool_refused(fc_metrics_out *out, void *ctx)
{
    fc_pool_stats st;
    fc_pool_get_stats(((fc_core_metrics *)ctx)->pool, &st);
    pool_class_samples(out, st.class_refused);
}

static void pool_cancelled(fc_metrics_out *out, void *ctx)
{
    fc_pool_stats st;
    fc_pool_get_stats(((fc_core_metrics *)ctx)->pool, &st);
    fc_metrics_sample(out, NULL, (double)st.cancelled);
}

static void loop_lag(fc_metrics_out *out, void *ctx)
{
    fc_metrics_histogram(out, NULL, &((fc_core_metrics *)ctx)->loop_lag_ms);
}

static void result_lag(fc_metrics_out *out, void *ctx)
{
    fc_loop *loop = ((fc_core_metrics *)ctx)->loop;
    fc_metrics_sample(out, NULL,
                      loop->done_count ? (double)loop->done_lag_ns / 1e6 / (double)loop->done_count
                                       : 0.0);
}

static void frames_alive(fc_metrics_out *out, void *ctx)
{
    (void)ctx;
    fc_metrics_sample(out, NULL, (double)fc_frame_live_count());
}

static const fc_metric_family families[] = {
    {"fc_process_cpu_seconds_total", FC_METRIC_COUNTER, "CPU time used by the whole process.",
     process_cpu},
    {"fc_cpu_seconds_total", FC_METRIC_COUNTER,
     "CPU time per thread role: the loop thread, worker time per job role (source, encode, "
     "analysis, view, other), and worker time outside jobs.",
     role_cpu},
    {"fc_worker_thread_cpu_seconds_total", FC_METRIC_COUNTER,
     "CPU time of each worker thread, idle or not.", worker_thread_cpu},
    {"fc_worker_busy_seconds_total", FC_METRIC_COUNTER, "Wall time workers spent running jobs.",
     worker_busy},
    {"fc_worker_jobs_total", FC_METRIC_COUNTER, "Jobs the worker pool has run, per role.",
     pool_jobs},
    {"fc_worker_queue_jobs", FC_METRIC_GAUGE, "Jobs waiting for a worker right now, per job class.",
     pool_queued},
    {"fc_worker_jobs_refused_total", FC_METRIC_COUNTER,
     "Jobs refused because their class's queue was full.", pool_refused},
    {"fc_worker_jobs_cancelled_total", FC_METRIC_COUNTER, "Queued jobs taken back before they ran.",
     pool_cancelled},
    {"fc_loop_lag_milliseconds", FC_METRIC_HISTOGRAM, "How late the loop ran frame timers.",
     loop_lag},
    {"fc_loop_result_delay_milliseconds", FC_METRIC_GAUGE,
     "Mean delay from a worker finishing a job to the loop taking its result.", result_lag},
    {"fc_frames_alive", FC_METRIC_GAUGE, "Raw and encoded frames in memory right now.",
     frames_alive},
};

int fc_core_metrics_register(fc_core_metrics *cm, fc_metrics *m)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families, cm);
}
