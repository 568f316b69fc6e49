#include "transport/census.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One viewer of another loop, as copied there. */
typedef struct row {
    char stream[FC_FEED_ID_MAX];
    fc_view view;
    const fc_codec_ops *codec;
    bool codec_label; /* not the stream's own codec: the label says which */
    fc_sub_stats ss;
} row;

/* One loop's copy, made on that loop. */
typedef struct part {
    fc_census *census;
    int loop;
    fc_job job;
    row *rows;
    size_t n, cap;
    fc_http_server_counts counts;
} part;

struct fc_census {
    const fc_loops *loops;
    fc_loop_server *const *servers;
    fc_feeds *feeds;
    part parts[FC_LOOPS_MAX];
    int outstanding;           /* loops whose copy is not back yet; 0 = no gather */
    bool have;                 /* the copies are there (inside the waiters' ready) */
    fc_census_waiter *waiters; /* of the gather running */
};

int fc_census_new(const fc_loops *loops, fc_loop_server *const *servers, fc_feeds *feeds,
                  fc_census **out)
{
    fc_census *c = calloc(1, sizeof *c);
    if (!c) return -ENOMEM;
    c->loops = loops;
    c->servers = servers;
    c->feeds = feeds;
    for (int i = 0; i < FC_LOOPS_MAX; i++) {
        c->parts[i].census = c;
        c->parts[i].loop = i;
    }
    *out = c;
    return 0;
}

static void free_rows(fc_census *c)
{
    for (int i = 0; i < FC_LOOPS_MAX; i++) {
        free(c->parts[i].rows);
        c->parts[i].rows = NULL;
        c->parts[i].n = c->parts[i].cap = 0;
    }
}

void fc_census_free(fc_census *c)
{
    if (!c) return;
    free_rows(c);
    free(c);
}

/* ---- on the other loop ---- */

/* A viewer that does not fit (out of memory) is left out of this scrape. */
static void copy_viewer(void *ctx, const fc_feed_viewer_stats *v)
{
    part *p = ctx;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        row *rows = realloc(p->rows, cap * sizeof *rows);
        if (!rows) return;
        p->rows = rows;
        p->cap = cap;
    }
    row *r = &p->rows[p->n++];
    snprintf(r->stream, sizeof r->stream, "%s", v->stream);
    r->view = v->view;
    r->codec = v->codec;
    r->codec_label = !v->stream_codec;
    r->ss = v->ss;
}

static void back_here(fc_job *job);

static void copy_here(fc_job *job)
{
    part *p = fc_container_of(job, part, job);
    fc_census *c = p->census;
    fc_loop_server_counts(c->servers[p->loop], &p->counts);
    if (p->counts.ws_clients > 0) fc_feeds_each_viewer(c->feeds, p->loop, copy_viewer, p);
    fc_loop_run(c->loops->loop[0], &p->job, back_here);
}

/* ---- the first loop ---- */

static void back_here(fc_job *job)
{
    fc_census *c = fc_container_of(job, part, job)->census;
    if (--c->outstanding > 0) return;
    c->have = true;
    while (c->waiters) {
        fc_census_waiter *w = c->waiters;
        fc_census_forget(c, w);
        w->ready(w);
    }
    c->have = false;
    free_rows(c);
}

void fc_census_gather(fc_census *c, fc_census_waiter *w)
{
    w->prev = NULL;
    w->next = c->waiters;
    if (c->waiters) c->waiters->prev = w;
    c->waiters = w;
    w->waiting = true;
    if (c->outstanding > 0) return; /* it joins the gather running */
    c->outstanding = c->loops->n - 1;
    for (int i = 1; i < c->loops->n; i++)
        fc_loop_run(c->loops->loop[i], &c->parts[i].job, copy_here);
}

void fc_census_forget(fc_census *c, fc_census_waiter *w)
{
    if (!w->waiting) return;
    if (w->prev)
        w->prev->next = w->next;
    else
        c->waiters = w->next;
    if (w->next) w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->waiting = false;
}

/* ---- the samples ---- */

typedef enum { ROW_DEPTH, ROW_DROPS, ROW_SENT, ROW_BYTES, ROW_DROPS_TO_KEY } row_field;

static double row_value(const row *r, row_field field)
{
    switch (field) {
    case ROW_DEPTH:
        return (double)r->ss.depth;
    case ROW_DROPS:
        return (double)r->ss.dropped;
    case ROW_SENT:
        return (double)r->ss.frames_sent;
    case ROW_BYTES:
        return (double)r->ss.bytes_sent;
    case ROW_DROPS_TO_KEY:
        return (double)r->ss.drops_to_key;
    }
    return 0;
}

/* The labels of the first loop's rows (stream_metrics.c), and the loop. */
static void each_row(fc_metrics_out *out, const fc_census *c, row_field field)
{
    for (int i = c->have ? 1 : FC_LOOPS_MAX; i < c->loops->n; i++) {
        const part *p = &c->parts[i];
        for (size_t k = 0; k < p->n; k++) {
            const row *r = &p->rows[k];
            if (field == ROW_DROPS_TO_KEY && !r->codec->inter_frame) continue;
            char labels[320], codec_label[48] = "";
            if (r->codec_label)
                snprintf(codec_label, sizeof codec_label, "codec=\"%s\",", r->codec->name);
            snprintf(labels, sizeof labels,
                     "stream=\"%s\",%s%ssubscriber=\"%llu\",tier=\"%s\",loop=\"%d\"", r->stream,
                     r->view == FC_VIEW_PTZ ? "view=\"ptz\"," : "", codec_label,
                     (unsigned long long)r->ss.serial, fc_tier_name(r->ss.tier), i);
            fc_metrics_sample(out, labels, row_value(r, field));
        }
    }
}

static void sub_depth(fc_metrics_out *out, void *ctx)
{
    each_row(out, ctx, ROW_DEPTH);
}
static void sub_drops(fc_metrics_out *out, void *ctx)
{
    each_row(out, ctx, ROW_DROPS);
}
static void sub_sent(fc_metrics_out *out, void *ctx)
{
    each_row(out, ctx, ROW_SENT);
}
static void sub_bytes(fc_metrics_out *out, void *ctx)
{
    each_row(out, ctx, ROW_BYTES);
}
static void sub_drops_to_key(fc_metrics_out *out, void *ctx)
{
    each_row(out, ctx, ROW_DROPS_TO_KEY);
}

typedef enum { WS_CLIENTS, WS_ACCEPTED, WS_REFUSED, WS_TEXTS_DROPPED } count_field;

static void each_count(fc_metrics_out *out, const fc_census *c, count_field field)
{
    for (int i = c->have ? 1 : FC_LOOPS_MAX; i < c->loops->n; i++) {
        const fc_http_server_counts *n = &c->parts[i].counts;
        double v = field == WS_CLIENTS    ? (double)n->ws_clients
                   : field == WS_ACCEPTED ? (double)n->ws_accepted
                   : field == WS_REFUSED  ? (double)n->ws_refused
                                          : (double)n->texts_dropped;
        char labels[32];
        snprintf(labels, sizeof labels, "loop=\"%d\"", i);
        fc_metrics_sample(out, labels, v);
    }
}

static void ws_clients(fc_metrics_out *out, void *ctx)
{
    each_count(out, ctx, WS_CLIENTS);
}
static void ws_accepted(fc_metrics_out *out, void *ctx)
{
    each_count(out, ctx, WS_ACCEPTED);
}
static void ws_refused(fc_metrics_out *out, void *ctx)
{
    each_count(out, ctx, WS_REFUSED);
}
static void ws_texts_dropped(fc_metrics_out *out, void *ctx)
{
    each_count(out, ctx, WS_TEXTS_DROPPED);
}

static void http_refused(fc_metrics_out *out, void *ctx)
{
    static const char *const reasons[] = {"framing", "upgrade", "uri"};
    const fc_census *c = ctx;
    for (int i = c->have ? 1 : FC_LOOPS_MAX; i < c->loops->n; i++) {
        for (int k = 0; k < (int)(sizeof reasons / sizeof *reasons); k++) {
            char labels[64];
            snprintf(labels, sizeof labels, "reason=\"%s\",loop=\"%d\"", reasons[k], i);
            fc_metrics_sample(out, labels, (double)c->parts[i].counts.http_refused[k]);
        }
    }
}

typedef enum { WRITES, WRITE_TURNS } turn_field;

static void each_turn(fc_metrics_out *out, const fc_census *c, turn_field field)
{
    static const char *const turns[] = {"direct", "writeable"};
    for (int i = c->have ? 1 : FC_LOOPS_MAX; i < c->loops->n; i++) {
        const fc_http_server_counts *n = &c->parts[i].counts;
        for (int k = 0; k < 2; k++) {
            char labels[64];
            snprintf(labels, sizeof labels, "turn=\"%s\",loop=\"%d\"", turns[k], i);
            fc_metrics_sample(out, labels,
                              (double)(field == WRITES ? n->ws_messages[k] : n->ws_turns[k]));
        }
    }
}

static void ws_writes(fc_metrics_out *out, void *ctx)
{
    each_turn(out, ctx, WRITES);
}
static void ws_write_turns(fc_metrics_out *out, void *ctx)
{
    each_turn(out, ctx, WRITE_TURNS);
}
static void ws_write_choked(fc_metrics_out *out, void *ctx)
{
    const fc_census *c = ctx;
    for (int i = c->have ? 1 : FC_LOOPS_MAX; i < c->loops->n; i++) {
        char labels[32];
        snprintf(labels, sizeof labels, "loop=\"%d\"", i);
        fc_metrics_sample(out, labels, (double)c->parts[i].counts.ws_choked);
    }
}

static const struct {
    const char *name;
    fc_metrics_collect_fn fn;
} families[] = {
    {"fc_websocket_clients", ws_clients},
    {"fc_websocket_accepted_total", ws_accepted},
    {"fc_websocket_refused_total", ws_refused},
    {"fc_websocket_messages_dropped_total", ws_texts_dropped},
    {"fc_http_refused_total", http_refused},
    {"fc_websocket_writes_total", ws_writes},
    {"fc_websocket_write_turns_total", ws_write_turns},
    {"fc_websocket_write_choked_total", ws_write_choked},
    {"fc_subscriber_queue_depth", sub_depth},
    {"fc_subscriber_drops_total", sub_drops},
    {"fc_subscriber_frames_sent_total", sub_sent},
    {"fc_subscriber_bytes_sent_total", sub_bytes},
    {"fc_subscriber_drops_to_key_total", sub_drops_to_key},
};

int fc_census_register(fc_census *c, fc_metrics *m)
{
    for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
        int rc = fc_metrics_add_samples(m, families[i].name, families[i].fn, c);
        if (rc != 0) return rc;
    }
    return 0;
}
