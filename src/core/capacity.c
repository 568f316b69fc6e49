#include "core/capacity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

#define NS_PER_MS 1000000ull

struct fc_capacity {
    fc_capacity_config cfg;
    fc_capacity_sample start; /* where the open window began */
    fc_capacity_load load;    /* the last closed window */
    bool window_full;         /* its verdict */
    uint64_t full_until_ns;   /* the hold after the last full window */
    char load_why[160];       /* what made it full, last time it was */
    fc_cap_why load_reason;
    bool draining;
    unsigned held[FC_CAP_KINDS];
    uint64_t refused[FC_CAP_KINDS][FC_CAP_WHY_COUNT];
};

static const char *const kind_names[FC_CAP_KINDS] = {"work", "session", "subscriber"};
static const char *const why_names[FC_CAP_WHY_COUNT] = {"draining", "budget",   "workers",
                                                        "loop",     "loop_lag", "deadlines"};

/* ---- pure parts ---- */

void fc_capacity_load_between(const fc_capacity_sample *a, const fc_capacity_sample *b,
                              fc_capacity_load *out)
{
    memset(out, 0, sizeof *out);
    uint64_t dt = b->at_ns > a->at_ns ? b->at_ns - a->at_ns : 0;
    if (dt == 0) return;
    out->seconds = (double)dt / 1e9;
    uint64_t busy = b->worker_busy_ns - a->worker_busy_ns;
    uint64_t jobs = b->jobs_done - a->jobs_done;
    double mean_job = jobs ? (double)busy / (double)jobs : 0.0;
    int threads = b->threads > 0 ? b->threads : 1;
    out->workers =
        ((double)busy + (double)b->realtime_queued * mean_job) / ((double)threads * (double)dt);
    uint64_t idle = b->loop_idle_ns - a->loop_idle_ns;
    out->loop = idle >= dt ? 0.0 : 1.0 - (double)idle / (double)dt;
    out->timers = b->timers - a->timers;
    out->late = out->timers ? (double)(b->timers_late - a->timers_late) / (double)out->timers : 0;
    out->missed = b->missed_deadlines - a->missed_deadlines;
    out->due = out->missed + (b->frames_made - a->frames_made);
}

fc_cap_why fc_capacity_judge(const fc_capacity_load *l, bool was_full, char *why, size_t whylen)
{
    char scratch[8];
    if (!why) {
        why = scratch;
        whylen = sizeof scratch;
    }
    /* Once full, the server takes work again only below the low-water
     * mark: a load hovering at the high one would open and close it at
     * every window. */
    double mark = was_full ? FC_CAPACITY_BUSY_LOW : FC_CAPACITY_BUSY_HIGH;
    if (l->loop >= mark) {
        snprintf(why, whylen, "event loop %.0f%% busy (full from %.0f%%)", l->loop * 100,
                 mark * 100);
        return FC_CAP_WHY_LOOP;
    }
    if (l->timers >= FC_CAPACITY_LATE_MIN && l->late > FC_CAPACITY_LATE_MAX) {
        snprintf(why, whylen, "%.1f%% of frame timers ran over %.0f ms late", l->late * 100,
                 FC_CAPACITY_LATE_MS);
        return FC_CAP_WHY_LAG;
    }
    if (l->workers >= mark) {
        snprintf(why, whylen, "workers %.0f%% busy (full from %.0f%%)", l->workers * 100,
                 mark * 100);
        return FC_CAP_WHY_WORKERS;
    }
    if (l->missed >= FC_CAPACITY_MISSED_MIN &&
        (double)l->missed > FC_CAPACITY_MISSED_MAX * (double)l->due) {
        snprintf(why, whylen, "%llu of %llu avatar frames missed their deadline in %.1f s",
                 (unsigned long long)l->missed, (unsigned long long)l->due, l->seconds);
        return FC_CAP_WHY_DEADLINES;
    }
    why[0] = '\0';
    return FC_CAP_WHY_COUNT;
}

double fc_capacity_load_spare(const fc_capacity_load *l)
{
    double busiest = l->workers > l->loop ? l->workers : l->loop;
    double spare = 1.0 - busiest / FC_CAPACITY_BUSY_HIGH;
    return spare < 0 ? 0 : spare > 1 ? 1 : spare;
}

/* ---- the live state ---- */

int fc_capacity_create(const fc_capacity_config *cfg, fc_capacity **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->loop || !cfg->pool || cfg->max_sessions == 0) {
        snprintf(err, errlen, "capacity: needs a loop, a pool and a session budget of at least 1");
        return -EINVAL;
    }
    fc_capacity *cap = calloc(1, sizeof *cap);
    if (!cap) {
        snprintf(err, errlen, "capacity: out of memory");
        return -ENOMEM;
    }
    cap->cfg = *cfg;
    cap->load_reason = FC_CAP_WHY_COUNT;
    fc_capacity_sample_now(cap, &cap->start);
    *out = cap;
    return 0;
}

void fc_capacity_free(fc_capacity *cap)
{
    free(cap);
}

void fc_capacity_sample_now(const fc_capacity *cap, fc_capacity_sample *out)
{
    memset(out, 0, sizeof *out);
    out->at_ns = fc_now_ns();
    fc_pool_stats st;
    fc_pool_get_stats(cap->cfg.pool, &st);
    out->worker_busy_ns = st.busy_ns;
    out->jobs_done = st.jobs_done;
    out->realtime_queued = st.class_queued[FC_JOB_REALTIME];
    out->threads = st.threads;
    out->loop_idle_ns = uv_metrics_idle_time(&cap->cfg.loop->uv);
    const fc_histogram *h = cap->cfg.loop_lag;
    if (h) {
        out->timers = h->total;
        /* Buckets hold the observations up to their bound (and over the
         * previous one): late ones are in the buckets past LATE_MS's. */
        int first_late = 0;
        while (first_late < h->n && h->bounds[first_late] <= FC_CAPACITY_LATE_MS)
            first_late++;
        for (int i = first_late; i <= h->n; i++)
            out->timers_late += h->counts[i];
    }
    if (cap->cfg.missed_deadlines) out->missed_deadlines = *cap->cfg.missed_deadlines;
    if (cap->cfg.frames_made) out->frames_made = *cap->cfg.frames_made;
}

static bool load_full(const fc_capacity *cap, uint64_t now)
{
    return cap->window_full || now < cap->full_until_ns;
}

/* Closes the open window if it is long enough; returns the time now. */
static uint64_t refresh(fc_capacity *cap)
{
    fc_capacity_sample s;
    fc_capacity_sample_now(cap, &s);
    if (s.at_ns - cap->start.at_ns < FC_CAPACITY_WINDOW_MS * NS_PER_MS) return s.at_ns;
    fc_capacity_load_between(&cap->start, &s, &cap->load);
    char why[sizeof cap->load_why];
    bool was = load_full(cap, s.at_ns);
    fc_cap_why w = fc_capacity_judge(&cap->load, was, why, sizeof why);
    cap->window_full = w != FC_CAP_WHY_COUNT && !cap->cfg.budgets_only;
    if (cap->window_full) {
        cap->load_reason = w;
        memcpy(cap->load_why, why, sizeof why);
        cap->full_until_ns = s.at_ns + FC_CAPACITY_HOLD_MS * NS_PER_MS;
    }
    cap->start = s;
    /* One line per change; a change lasts a second at least. */
    bool now_full = load_full(cap, s.at_ns);
    if (now_full && !was)
        fc_warn("capacity: full: %s", cap->load_why);
    else if (was && !now_full)
        fc_info("capacity: room again (workers %.0f%%, loop %.0f%% busy)", cap->load.workers * 100,
                cap->load.loop * 100);
    return s.at_ns;
}

int fc_capacity_admit(fc_capacity *cap, fc_cap_kind kind, char *why, size_t whylen)
{
    if (!cap) return 0; /* another loop's server: the router admitted (router.h) */
    uint64_t now = refresh(cap);
    fc_cap_why reason;
    int rc = -EBUSY;
    if (cap->draining) {
        reason = FC_CAP_WHY_DRAINING;
        rc = -ESHUTDOWN;
        snprintf(why, whylen, "server is shutting down");
    } else if (kind == FC_CAP_SESSION && cap->held[kind] >= cap->cfg.max_sessions) {
        reason = FC_CAP_WHY_BUDGET;
        snprintf(why, whylen, "server at capacity: %u avatar sessions (--max-sessions %u)",
                 cap->held[kind], cap->cfg.max_sessions);
    } else if (kind == FC_CAP_SUBSCRIBER && cap->cfg.max_subscribers &&
               cap->held[kind] >= cap->cfg.max_subscribers) {
        reason = FC_CAP_WHY_BUDGET;
        snprintf(why, whylen, "server at capacity: %u stream subscribers (--max-subscribers %u)",
                 cap->held[kind], cap->cfg.max_subscribers);
    } else if (load_full(cap, now) &&
               (kind != FC_CAP_SUBSCRIBER || cap->load_reason == FC_CAP_WHY_LOOP)) {
        reason = cap->load_reason;
        snprintf(why, whylen, "server at capacity: %s", cap->load_why);
    } else {
        return 0;
    }
    cap->refused[kind][reason]++;
    return rc;
}

void fc_capacity_enter(fc_capacity *cap, fc_cap_kind kind)
{
    if (cap && kind != FC_CAP_NONE) cap->held[kind]++;
}

void fc_capacity_leave(fc_capacity *cap, fc_cap_kind kind)
{
    if (cap && kind != FC_CAP_NONE && cap->held[kind] > 0) cap->held[kind]--;
}

unsigned fc_capacity_held(const fc_capacity *cap, fc_cap_kind kind)
{
    return cap && kind != FC_CAP_NONE ? cap->held[kind] : 0;
}

void fc_capacity_drain(fc_capacity *cap)
{
    cap->draining = true;
}

void fc_capacity_report_now(fc_capacity *cap, fc_capacity_report *out)
{
    uint64_t now = refresh(cap);
    memset(out, 0, sizeof *out);
    out->draining = cap->draining;
    out->sessions = cap->held[FC_CAP_SESSION];
    out->max_sessions = cap->cfg.max_sessions;
    out->subscribers = cap->held[FC_CAP_SUBSCRIBER];
    out->max_subscribers = cap->cfg.max_subscribers;
    out->load = cap->load;
    bool lf = load_full(cap, now);
    bool budget_full = out->sessions >= out->max_sessions;
    out->full = lf || budget_full;
    if (out->draining)
        snprintf(out->why, sizeof out->why, "shutting down");
    else if (budget_full)
        snprintf(out->why, sizeof out->why, "%u avatar sessions (--max-sessions %u)", out->sessions,
                 out->max_sessions);
    else if (lf)
        snprintf(out->why, sizeof out->why, "%s", cap->load_why);
    if (out->draining || out->full) return;
    double spare = cap->cfg.budgets_only ? 1.0 : fc_capacity_load_spare(&cap->load);
    double budget = 1.0 - (double)out->sessions / (double)out->max_sessions;
    if (budget < spare) spare = budget;
    out->spare_pct = (int)(spare * 100);
    /* Not full is never 0%: a load balancer reads 0% as drain. */
    if (out->spare_pct < 1) out->spare_pct = 1;
}

/* ---- metrics ---- */

static void m_full(fc_metrics_out *out, void *ctx)
{
    fc_capacity_report r;
    fc_capacity_report_now(ctx, &r);
    fc_metrics_sample(out, NULL, r.full ? 1 : 0);
}

static void m_draining(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, ((fc_capacity *)ctx)->draining ? 1 : 0);
}

static void m_spare(fc_metrics_out *out, void *ctx)
{
    fc_capacity_report r;
    fc_capacity_report_now(ctx, &r);
    fc_metrics_sample(out, NULL, r.spare_pct / 100.0);
}

static void m_load(fc_metrics_out *out, void *ctx)
{
    const fc_capacity_load *l = &((fc_capacity *)ctx)->load;
    fc_metrics_sample(out, "signal=\"workers\"", l->workers);
    fc_metrics_sample(out, "signal=\"loop\"", l->loop);
    fc_metrics_sample(out, "signal=\"late_timers\"", l->late);
}

static void m_held(fc_metrics_out *out, void *ctx)
{
    fc_capacity *cap = ctx;
    fc_metrics_sample(out, "kind=\"session\"", cap->held[FC_CAP_SESSION]);
    fc_metrics_sample(out, "kind=\"subscriber\"", cap->held[FC_CAP_SUBSCRIBER]);
}

static void m_budget(fc_metrics_out *out, void *ctx)
{
    fc_capacity *cap = ctx;
    fc_metrics_sample(out, "kind=\"session\"", cap->cfg.max_sessions);
    fc_metrics_sample(out, "kind=\"subscriber\"", cap->cfg.max_subscribers);
}

static void m_refused(fc_metrics_out *out, void *ctx)
{
    fc_capacity *cap = ctx;
    for (int k = 0; k < FC_CAP_KINDS; k++)
        for (int w = 0; w < FC_CAP_WHY_COUNT; w++) {
            char labels[64];
            snprintf(labels, sizeof labels, "kind=\"%s\",reason=\"%s\"", kind_names[k],
                     why_names[w]);
            fc_metrics_sample(out, labels, (double)cap->refused[k][w]);
        }
}

static const fc_metric_family families[] = {
    {"fc_capacity_full", FC_METRIC_GAUGE,
     "1 while new avatar sessions are refused (load or --max-sessions).", m_full},
    {"fc_capacity_draining", FC_METRIC_GAUGE, "1 once the server is shutting down.", m_draining},
    {"fc_capacity_spare_ratio", FC_METRIC_GAUGE,
     "Room for new avatar sessions the HAProxy agent reports (0-1).", m_spare},
    {"fc_capacity_load_ratio", FC_METRIC_GAUGE,
     "Load over the last window: worker busy time with the realtime backlog, loop time not idle, "
     "frame timers late.",
     m_load},
    {"fc_capacity_held", FC_METRIC_GAUGE, "Avatar connections and stream subscribers admitted now.",
     m_held},
    {"fc_capacity_budget", FC_METRIC_GAUGE, "--max-sessions and --max-subscribers.", m_budget},
    {"fc_capacity_refused_total", FC_METRIC_COUNTER,
     "New work refused, by kind (session, subscriber, work: start_streaming) and reason.",
     m_refused},
};

int fc_capacity_metrics_register(fc_capacity *cap, fc_metrics *m)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families, cap);
}
