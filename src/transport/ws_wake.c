#include "transport/ws_wake.h"

#include <errno.h>
#include <stddef.h>

static void list_append(fc_ws_wake_list *l, fc_ws_wake_link *link)
{
    link->list = l;
    link->next = NULL;
    link->prev = l->tail;
    if (l->tail)
        l->tail->next = link;
    else
        l->head = link;
    l->tail = link;
}

void fc_ws_wakes_remove(fc_ws_wake_link *link)
{
    fc_ws_wake_list *l = link->list;
    if (!l) return;
    if (link->prev)
        link->prev->next = link->next;
    else
        l->head = link->next;
    if (link->next)
        link->next->prev = link->prev;
    else
        l->tail = link->prev;
    link->prev = link->next = NULL;
    link->list = NULL;
}

/* Rounds of one check: a connection woken while another is served (none
 * of today's endpoints does that) gets another round, a bounded number. */
#define ROUNDS 4

/* Serves everyone on `waiting`, moved aside first: whoever asks meanwhile
 * goes on a fresh `waiting` list. A connection closed while it waits has
 * taken its link off `serving`. */
static void serve(fc_ws_wakes *w, bool now)
{
    w->serving = w->waiting;
    w->waiting = (fc_ws_wake_list){0};
    for (fc_ws_wake_link *l = w->serving.head; l; l = l->next)
        l->list = &w->serving;
    fc_ws_wake_link *link;
    while ((link = w->serving.head)) {
        fc_ws_wakes_remove(link);
        w->run(link, now);
    }
}

/* After the poll phase of the loop's turn. The handle is stopped when the
 * list is empty: libuv does not run it, and it does not keep poll from
 * blocking, while nobody waits. */
static void on_check(uv_check_t *h)
{
    fc_ws_wakes *w = h->data;
    for (int round = 0; round < ROUNDS && w->waiting.head; round++)
        serve(w, true);
    if (w->waiting.head) serve(w, false);
    if (!w->waiting.head) uv_check_stop(&w->check);
}

bool fc_ws_wakes_add(fc_ws_wakes *w, fc_ws_wake_link *link)
{
    if (!w->open) return false;
    if (link->list == &w->waiting) return true;
    fc_ws_wakes_remove(link);
    if (!w->waiting.head) uv_check_start(&w->check, on_check);
    list_append(&w->waiting, link);
    return true;
}

static void metric_writes(fc_metrics_out *out, void *ctx)
{
    const fc_ws_wakes *w = ctx;
    fc_metrics_sample(out, "turn=\"direct\"", (double)w->messages[FC_WS_TURN_DIRECT]);
    fc_metrics_sample(out, "turn=\"writeable\"", (double)w->messages[FC_WS_TURN_WRITEABLE]);
}

static void metric_turns(fc_metrics_out *out, void *ctx)
{
    const fc_ws_wakes *w = ctx;
    fc_metrics_sample(out, "turn=\"direct\"", (double)w->turns[FC_WS_TURN_DIRECT]);
    fc_metrics_sample(out, "turn=\"writeable\"", (double)w->turns[FC_WS_TURN_WRITEABLE]);
}

static void metric_choked(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((const fc_ws_wakes *)ctx)->choked);
}

static const fc_metric_family families[] = {
    {"fc_websocket_writes_total", FC_METRIC_COUNTER,
     "WebSocket messages written: direct (in the loop turn they were queued in, the socket "
     "having room), writeable (in libwebsockets' writeable callback, after waiting for room).",
     metric_writes},
    {"fc_websocket_write_turns_total", FC_METRIC_COUNTER,
     "Turns in which a WebSocket connection wrote what it had queued (a bounded number of "
     "messages each), by the same kinds as fc_websocket_writes_total.",
     metric_turns},
    {"fc_websocket_write_choked_total", FC_METRIC_COUNTER,
     "Turns that stopped because the socket had no room: the rest waits for writeable.",
     metric_choked},
};

int fc_ws_wakes_init(fc_ws_wakes *w, uv_loop_t *loop, fc_ws_wake_fn run, fc_metrics *metrics)
{
    *w = (fc_ws_wakes){.run = run};
    if (metrics &&
        fc_metrics_register_table(metrics, families, sizeof families / sizeof *families, w) != 0)
        return -ENOMEM;
    uv_check_init(loop, &w->check);
    w->check.data = w;
    w->open = true;
    return 0;
}

void fc_ws_wakes_close(fc_ws_wakes *w)
{
    if (!w->open) return;
    w->open = false;
    uv_close((uv_handle_t *)&w->check, NULL);
}
