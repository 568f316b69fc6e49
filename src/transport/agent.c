#include "transport/agent.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "transport/listener.h"

typedef struct agent_conn {
    uv_tcp_t tcp;
    uv_timer_t deadline;
    uv_write_t write;
    uv_shutdown_t shutdown;
    char line[64];
    int open_handles;
    bool ending;
    struct fc_agent *agent;
    struct agent_conn *prev, *next;
    fc_tracked *tracked; /* the listener's record of it (conntrack.h) */
} agent_conn;

struct fc_agent {
    fc_loop *loop;
    fc_capacity *cap;
    fc_listener *listener;
    agent_conn *conns;
    unsigned nconns;
    bool closing;
    char scratch[512]; /* what peers send lands here and is dropped */
    uint64_t answered_ready, answered_drain, refused;
};

size_t fc_agent_format(const fc_capacity_report *r, char *out, size_t outlen)
{
    int n = r->draining || r->full ? snprintf(out, outlen, "drain\n")
                                   : snprintf(out, outlen, "up ready %d%% maxconn:%u\n",
                                              r->spare_pct, r->max_sessions);
    return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* ---- one connection ---- */

static void on_conn_closed(uv_handle_t *h)
{
    agent_conn *c = h->data;
    if (--c->open_handles > 0) return;
    fc_agent *a = c->agent;
    fc_tracked_gone(c->tracked);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    a->nconns--;
    free(c);
}

/* Idempotent: the answer is out and read, or the peer went, or time is up. */
static void end_conn(agent_conn *c)
{
    if (c->ending) return;
    c->ending = true;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&c->deadline, on_conn_closed);
}

static void on_deadline(uv_timer_t *t)
{
    end_conn(t->data);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    agent_conn *c = h->data;
    *buf = uv_buf_init(c->agent->scratch, sizeof c->agent->scratch);
}

/* HAProxy closes once it has the line; until then whatever it sends is
 * dropped. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    (void)buf;
    if (n < 0) end_conn(s->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    if (status < 0) end_conn(req->data);
}

static void on_written(uv_write_t *req, int status)
{
    agent_conn *c = req->data;
    if (status < 0 || c->ending) {
        end_conn(c);
        return;
    }
    /* Our side is done: FIN after the line. */
    if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) end_conn(c);
}

/* The listener's tracker gives up on a connection (it never is, as the
 * answer goes at once and the deadline is ours; the bounds are the same). */
static void on_give_up(void *conn, void *ctx)
{
    (void)ctx;
    end_conn(conn);
}

static void on_accept(int fd, const struct sockaddr_storage *peer, fc_tracked *t, void *ctx)
{
    (void)peer;
    fc_agent *a = ctx;
    agent_conn *c = a->closing || a->nconns >= FC_AGENT_MAX_CONNS ? NULL : calloc(1, sizeof *c);
    if (!c) {
        a->refused++;
        fc_tracked_bind(t, NULL);
        close(fd);
        return;
    }
    c->tracked = t;
    fc_tracked_bind(t, c);
    /* Nothing is read from it: the answer goes at once. */
    fc_tracked_active(t);
    c->agent = a;
    uv_tcp_init(&a->loop->uv, &c->tcp);
    uv_timer_init(&a->loop->uv, &c->deadline);
    c->tcp.data = c->deadline.data = c->write.data = c->shutdown.data = c;
    c->open_handles = 2;
    c->next = a->conns;
    if (a->conns) a->conns->prev = c;
    a->conns = c;
    a->nconns++;
    if (uv_tcp_open(&c->tcp, fd) != 0) {
        close(fd);
        end_conn(c);
        return;
    }
    uv_timer_start(&c->deadline, on_deadline, FC_AGENT_DEADLINE_MS, 0);
    fc_capacity_report r;
    fc_capacity_report_now(a->cap, &r);
    size_t len = fc_agent_format(&r, c->line, sizeof c->line);
    if (r.draining || r.full)
        a->answered_drain++;
    else
        a->answered_ready++;
    uv_buf_t b = uv_buf_init(c->line, (unsigned)len);
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
        end_conn(c);
}

/* ---- the agent ---- */

static void m_answers(fc_metrics_out *out, void *ctx)
{
    fc_agent *a = ctx;
    fc_metrics_sample(out, "answer=\"ready\"", (double)a->answered_ready);
    fc_metrics_sample(out, "answer=\"drain\"", (double)a->answered_drain);
}

static void m_refused(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_agent *)ctx)->refused);
}

static const fc_metric_family families[] = {
    {"fc_agent_answers_total", FC_METRIC_COUNTER, "HAProxy agent-check answers, ready or drain.",
     m_answers},
    {"fc_agent_refused_total", FC_METRIC_COUNTER,
     "Agent connections closed unanswered: more than 32 at once.", m_refused},
};

int fc_agent_start(fc_loop *loop, const char *host, int port, fc_capacity *cap, fc_metrics *m,
                   fc_agent **out, char *err, size_t errlen)
{
    *out = NULL;
    fc_agent *a = calloc(1, sizeof *a);
    if (!a || fc_metrics_register_table(m, families, sizeof families / sizeof *families, a) != 0) {
        free(a);
        snprintf(err, errlen, "agent: out of memory");
        return -ENOMEM;
    }
    a->loop = loop;
    a->cap = cap;
    char why[300];
    /* Above the agent's own bound, which closes the connections past it
     * unanswered (a load balancer reads that as down): a few ask at once. */
    fc_conntrack_limits limits = {.max_total = 2 * FC_AGENT_MAX_CONNS,
                                  .max_pending = 2 * FC_AGENT_MAX_CONNS,
                                  .max_per_peer = 2 * FC_AGENT_MAX_CONNS,
                                  .header_ms = FC_AGENT_DEADLINE_MS};
    int rc = fc_listener_open(loop, host, port, &limits, on_accept, on_give_up, a, &a->listener,
                              why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "--agent-port: %s", why);
        /* Registered metrics point at it: it lives until fc_agent_free. */
        a->closing = true;
    }
    *out = a;
    return rc;
}

const fc_listener *fc_agent_listener(const fc_agent *a)
{
    return a->listener;
}

void fc_agent_close(fc_agent *a)
{
    if (!a || a->closing) return;
    a->closing = true;
    fc_listener_close(a->listener);
    a->listener = NULL;
    for (agent_conn *c = a->conns; c; c = c->next)
        end_conn(c);
}

void fc_agent_free(fc_agent *a)
{
    free(a);
}
