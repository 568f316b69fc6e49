/* The inside of fc_http_server, shared by server.c (lws, endpoints, the
 * lifecycle, the drain) and server_metrics.c (what /metrics says of it).
 * Private to those two files. Loop thread only. */
#ifndef FC_TRANSPORT_SERVER_IMPL_H
#define FC_TRANSPORT_SERVER_IMPL_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

#include "transport/conn.h"
#include "transport/endpoint.h"
#include "transport/listener.h"
#include "transport/server.h"
#include "transport/ws_wake.h"

#define MAX_MOUNTS 16
#define MOUNT_PATH_MAX 1100

struct fc_http_server {
    fc_loop *loop;
    fc_http_server_config cfg;
    fc_server_env env;
    struct lws_context *ctx;
    struct lws_vhost *vhost;
    fc_listener *listener;
    struct lws_protocols protocols[2];
    struct lws_http_mount mounts[MAX_MOUNTS];
    char mount_at[MAX_MOUNTS][64], mount_dir[MAX_MOUNTS][MOUNT_PATH_MAX];
    struct lws_protocol_vhost_options mimes[MAX_MOUNTS];
    /* lws's best-practice headers, with connect_src in the CSP. */
    struct lws_protocol_vhost_options headers[5];
    char csp[512];
    int nmounts;
    lws_retry_bo_t retry;
    const fc_endpoint *const *eps; /* cfg.endpoints, or all of them */
    size_t neps;
    fc_conn *conns; /* open WebSockets, for draining */
    size_t ws_count;
    size_t finishing; /* open WebSockets whose endpoint finishes its work at a drain */
    fc_ws_wakes ws_wakes;
    uv_timer_t drain_timer;
    bool draining, closing_all, drain_timed_out;
    void (*drain_done)(fc_http_server *, void *);
    void *drain_arg;
};

/* server_metrics.c: the server's families in cfg's metrics registry. 0 or
 * -ENOMEM. */
int fc_http_server_register_metrics(fc_http_server *srv);

#endif
