/* What /metrics says of an fc_http_server (server_impl.h): WebSocket
 * clients, HTTP requests and refusals, uploads, and the listener's
 * connection tracking. Loop thread (metrics are sampled there). */
#include "transport/server_impl.h"

#include <string.h>

#include "transport/conntrack.h"
#include "transport/handshake.h"
#include "transport/upload.h"
#include "transport/ws_wake.h"

static void metric_ws_clients(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->ws_count);
}

static void metric_ws_accepted(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->env.ws_accepted);
}

static void metric_ws_refused(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->env.ws_refused);
}

static void metric_http_requests(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->env.http_requests);
}

static void metric_uploads(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->env.uploads_active);
}

static void metric_texts_dropped(fc_metrics_out *out, void *ctx)
{
    fc_metrics_sample(out, NULL, (double)((fc_http_server *)ctx)->env.texts_dropped);
}

static void metric_http_refused(fc_metrics_out *out, void *ctx)
{
    static const char *const reasons[FC_HTTP_REFUSED_COUNT] = {
        "reason=\"framing\"", "reason=\"upgrade\"", "reason=\"uri\""};
    fc_http_server *srv = ctx;
    for (int i = 0; i < FC_HTTP_REFUSED_COUNT; i++)
        fc_metrics_sample(out, reasons[i], (double)srv->env.http_refused[i]);
}

static bool conn_stats(fc_http_server *srv, fc_conntrack_stats *st)
{
    if (!srv->listener) return false;
    fc_listener_get_stats(srv->listener, st);
    return true;
}

static void metric_conns_open(fc_metrics_out *out, void *ctx)
{
    fc_conntrack_stats st;
    if (conn_stats(ctx, &st)) fc_metrics_sample(out, NULL, (double)st.open);
}

static void metric_conns_pending(fc_metrics_out *out, void *ctx)
{
    fc_conntrack_stats st;
    if (conn_stats(ctx, &st)) fc_metrics_sample(out, NULL, (double)st.pending);
}

static void metric_conns_refused(fc_metrics_out *out, void *ctx)
{
    fc_conntrack_stats st;
    if (!conn_stats(ctx, &st)) return;
    fc_metrics_sample(out, "reason=\"peer\"", (double)st.refused[FC_CONN_REFUSED_PEER]);
    fc_metrics_sample(out, "reason=\"full\"", (double)st.refused[FC_CONN_REFUSED_FULL]);
}

static void metric_conns_closed(fc_metrics_out *out, void *ctx)
{
    fc_conntrack_stats st;
    if (!conn_stats(ctx, &st)) return;
    fc_metrics_sample(out, "reason=\"header_timeout\"",
                      (double)st.closed[FC_CONN_CLOSED_HEADER_TIMEOUT]);
    fc_metrics_sample(out, "reason=\"evicted\"", (double)st.closed[FC_CONN_CLOSED_EVICTED]);
}

static void metric_uploads_refused(fc_metrics_out *out, void *ctx)
{
    static const char *const reasons[FC_UPLOAD_REFUSED_COUNT] = {
        "reason=\"busy\"", "reason=\"too_large\"", "reason=\"slow\"",  "reason=\"quota\"",
        "reason=\"type\"", "reason=\"malformed\"", "reason=\"failed\""};
    fc_http_server *srv = ctx;
    for (int i = 0; i < FC_UPLOAD_REFUSED_COUNT; i++)
        fc_metrics_sample(out, reasons[i], (double)srv->env.uploads_refused[i]);
}

static const fc_metric_family families[] = {
    {"fc_websocket_clients", FC_METRIC_GAUGE, "WebSocket connections open now.", metric_ws_clients},
    {"fc_websocket_accepted_total", FC_METRIC_COUNTER, "WebSocket subscriptions accepted.",
     metric_ws_accepted},
    {"fc_websocket_refused_total", FC_METRIC_COUNTER,
     "WebSocket connections refused (unknown stream, bad option, server full).", metric_ws_refused},
    {"fc_http_requests_total", FC_METRIC_COUNTER,
     "HTTP requests answered by framecast's own handlers.", metric_http_requests},
    {"fc_uploads_in_progress", FC_METRIC_GAUGE,
     "POST /upload bodies being received or written now.", metric_uploads},
    {"fc_connections_open", FC_METRIC_GAUGE, "TCP connections open now, all kinds.",
     metric_conns_open},
    {"fc_connections_pending", FC_METRIC_GAUGE,
     "Connections waiting for a request's headers now (--max-pending).", metric_conns_pending},
    {"fc_connections_refused_total", FC_METRIC_COUNTER,
     "Connections refused at accept: peer (--max-peer-connections), full (no room).",
     metric_conns_refused},
    {"fc_connections_closed_total", FC_METRIC_COUNTER,
     "Pending connections closed: header_timeout (--header-timeout), evicted (the oldest "
     "pending, to make room for a new connection).",
     metric_conns_closed},
    {"fc_uploads_refused_total", FC_METRIC_COUNTER,
     "POST /upload refused: busy (503), too_large (413), slow (408: --upload-timeout, "
     "--upload-min-rate), quota (507), type (415), malformed (400), failed (500).",
     metric_uploads_refused},
    {"fc_websocket_messages_dropped_total", FC_METRIC_COUNTER,
     "WebSocket text messages dropped whole for being over the size limit.", metric_texts_dropped},
    {"fc_http_refused_total", FC_METRIC_COUNTER,
     "HTTP requests refused and closed before an endpoint saw them: framing "
     "(Content-Length, Transfer-Encoding), upgrade (bad WebSocket handshake, h2c), uri (too long).",
     metric_http_refused},
};

_Static_assert(FC_HTTP_REFUSED_COUNT == 3, "fc_http_server_counts.http_refused's size");
_Static_assert(FC_WS_TURN_KINDS == 2, "fc_http_server_counts.ws_messages' size");

void fc_http_server_get_counts(const fc_http_server *srv, fc_http_server_counts *out)
{
    *out = (fc_http_server_counts){.ws_clients = srv->ws_count,
                                   .ws_accepted = srv->env.ws_accepted,
                                   .ws_refused = srv->env.ws_refused,
                                   .texts_dropped = srv->env.texts_dropped};
    memcpy(out->http_refused, srv->env.http_refused, sizeof out->http_refused);
    const fc_ws_wakes *w = srv->env.ws_wakes;
    if (!w) return;
    memcpy(out->ws_messages, w->messages, sizeof out->ws_messages);
    memcpy(out->ws_turns, w->turns, sizeof out->ws_turns);
    out->ws_choked = w->choked;
}

int fc_http_server_register_metrics(fc_http_server *srv)
{
    return fc_metrics_register_table(srv->env.metrics, families, sizeof families / sizeof *families,
                                     srv);
}
