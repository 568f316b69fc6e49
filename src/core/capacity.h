/* fc_capacity: what this server can still take, and the admission of new
 * work against it (DESIGN.md rule 10: overload is refused, not shared).
 *
 * Two kinds of limit decide it:
 *
 *   budgets  counted exactly: avatar connections (--max-sessions; each runs
 *            one session at a time, so a connection holds one session's
 *            place from its upgrade to its close) and stream subscribers
 *            (--max-subscribers). The owner counts them in and out
 *            (fc_capacity_enter / _leave).
 *   load     measured over a window from counters others keep anyway: the
 *            workers' busy time plus the realtime jobs waiting for one
 *            (fc_pool_get_stats), the loop's idle time (uv_metrics_idle_time),
 *            how late frame timers fired (the loop-lag histogram), and the
 *            share of avatar frames that missed their deadline. Past a
 *            high-water mark the server is full: no new session, whatever the
 *            budget says. A busy loop refuses new subscriptions too (a
 *            viewer costs the loop, not the workers, once its tier is
 *            encoded; late timers come from a CPU short for the workers as
 *            much as for the loop). It stays full for a second at least and until the load
 *            is back under a low-water mark, so it does not flap; rates, not
 *            single events, decide, so one late frame does not close it.
 *
 * Nothing polls: the window closes when somebody asks (an admission, the
 * HAProxy agent, /readyz, /metrics) and at least FC_CAPACITY_WINDOW_MS have
 * passed since the last one; between two questions the answer is the last
 * one's. An idle server is therefore never woken to measure itself, and the
 * agent's interval (500 ms) sets the window when a load balancer asks.
 *
 * While draining (SIGTERM) everything new is refused; what is admitted
 * finishes.
 *
 * Ownership: made by the server's owner (app/serve.c), which outlives every
 * user. The counters it reads (pool, loop, histogram, missed deadlines) are
 * borrowed. Loop thread only (the first loop's, with --loops N: the router
 * admits and counts the viewers it hands to other loops, whose servers pass
 * NULL, which admits everything and counts nothing). */
#ifndef FC_CORE_CAPACITY_H
#define FC_CORE_CAPACITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"

/* Shortest window the load is measured over. */
#define FC_CAPACITY_WINDOW_MS 250
/* High- and low-water marks of the worker and loop busy fractions. */
#define FC_CAPACITY_BUSY_HIGH 0.90
#define FC_CAPACITY_BUSY_LOW 0.80
/* A frame timer later than this skipped a 30 fps slot. */
#define FC_CAPACITY_LATE_MS 50.0
/* Full once more than this fraction of a window's frame timers were late
 * (and at least FC_CAPACITY_LATE_MIN of them were observed). */
#define FC_CAPACITY_LATE_MAX 0.05
#define FC_CAPACITY_LATE_MIN 20
/* Full once more than this fraction of the avatar frames due in a window
 * missed their deadline, and at least FC_CAPACITY_MISSED_MIN did. */
#define FC_CAPACITY_MISSED_MAX 0.02
#define FC_CAPACITY_MISSED_MIN 5
/* Full lasts at least this long after the last window that said so. */
#define FC_CAPACITY_HOLD_MS 1000

/* What a new connection would hold. FC_CAP_NONE holds no budget: more work
 * on a connection already admitted (a start_streaming), checked against the
 * load and the drain only. */
typedef enum {
    FC_CAP_NONE = 0,
    FC_CAP_SESSION,    /* an avatar connection: one of --max-sessions */
    FC_CAP_SUBSCRIBER, /* a stream subscriber: one of --max-subscribers */
    FC_CAP_KINDS
} fc_cap_kind;

/* Why something was refused, for the metrics. */
typedef enum {
    FC_CAP_WHY_DRAINING = 0,
    FC_CAP_WHY_BUDGET,
    FC_CAP_WHY_WORKERS,
    FC_CAP_WHY_LOOP,
    FC_CAP_WHY_LAG,
    FC_CAP_WHY_DEADLINES,
    FC_CAP_WHY_COUNT
} fc_cap_why;

typedef struct fc_capacity_config {
    unsigned max_sessions;    /* avatar connections at once, >= 1 */
    unsigned max_subscribers; /* stream subscribers at once; 0 = no budget of their own */
    bool budgets_only;        /* the load is measured and reported, but refuses nothing */
    fc_loop *loop;
    fc_pool *pool;
    const fc_histogram *loop_lag;     /* ms late per frame timer; NULL = none */
    const uint64_t *missed_deadlines; /* cumulative counts; NULL = none */
    const uint64_t *frames_made;      /* avatar frames generated */
} fc_capacity_config;

/* Counters at one instant (fc_capacity_sample_now). */
typedef struct fc_capacity_sample {
    uint64_t at_ns;
    uint64_t worker_busy_ns, jobs_done;
    uint64_t realtime_queued; /* waiting right now */
    int threads;
    uint64_t loop_idle_ns;
    uint64_t timers, timers_late; /* loop-lag observations, and those over LATE_MS */
    uint64_t missed_deadlines, frames_made;
} fc_capacity_sample;

/* The load over one window, from two samples. */
typedef struct fc_capacity_load {
    double seconds;
    /* Busy time over the workers' wall time, with the realtime backlog at
     * the window's end valued at the window's mean job time: above 1 when
     * work waits. */
    double workers;
    double loop;     /* the loop's time not idle in epoll */
    double late;     /* fraction of frame timers later than LATE_MS */
    uint64_t timers; /* frame timers observed */
    uint64_t missed; /* avatar deadlines missed */
    uint64_t due;    /* avatar frames due: made or missed */
} fc_capacity_load;

/* Pure functions, for the tests: the load between two samples, and whether
 * it makes a server full. `was_full`: the previous window's verdict (the
 * low-water mark applies then). Returns the reason, or FC_CAP_WHY_COUNT when
 * the load leaves room; `why` (may be NULL) gets it in words. The loop
 * comes first, so the verdict that refuses subscriptions (LOOP) is never
 * hidden behind one that does not. */
void fc_capacity_load_between(const fc_capacity_sample *a, const fc_capacity_sample *b,
                              fc_capacity_load *out);
fc_cap_why fc_capacity_judge(const fc_capacity_load *l, bool was_full, char *why, size_t whylen);
/* Spare room the load leaves, 0 (at the high-water mark or over) to 1. */
double fc_capacity_load_spare(const fc_capacity_load *l);

typedef struct fc_capacity fc_capacity;

/* 0 or -ENOMEM / -EINVAL with err. */
int fc_capacity_create(const fc_capacity_config *cfg, fc_capacity **out, char *err, size_t errlen);
void fc_capacity_free(fc_capacity *cap);
int fc_capacity_metrics_register(fc_capacity *cap, fc_metrics *m);

/* The counters now (loop thread: it reads the loop's idle time). */
void fc_capacity_sample_now(const fc_capacity *cap, fc_capacity_sample *out);

/* May one more of `kind` start now? 0, or -ESHUTDOWN (draining) / -EBUSY
 * (full, or its budget is) with `why` naming the limit, counted in
 * fc_capacity_refused_total. Admitting does not count it in: the caller
 * calls fc_capacity_enter once the connection exists. */
int fc_capacity_admit(fc_capacity *cap, fc_cap_kind kind, char *why, size_t whylen);
void fc_capacity_enter(fc_capacity *cap, fc_cap_kind kind);
void fc_capacity_leave(fc_capacity *cap, fc_cap_kind kind);

/* From now on everything new is refused (SIGTERM). */
void fc_capacity_drain(fc_capacity *cap);

/* What the agent, /readyz and /metrics tell. */
typedef struct fc_capacity_report {
    bool draining;
    bool full; /* no new session: the load, or the session budget */
    /* Spare room for sessions, 0-100: the smaller of what the load and the
     * session budget leave; 0 when full or draining. */
    int spare_pct;
    char why[160]; /* when full or draining: what fills it */
    unsigned sessions, max_sessions, subscribers, max_subscribers; /* 0: no budget */
    fc_capacity_load load;                                         /* the last window */
} fc_capacity_report;

void fc_capacity_report_now(fc_capacity *cap, fc_capacity_report *out);
/* What is counted in now (fc_capacity_enter less _leave). */
unsigned fc_capacity_held(const fc_capacity *cap, fc_cap_kind kind);

#endif
