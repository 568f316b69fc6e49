#include "transport/server.h"
#include "transport/server_impl.h"

#include <errno.h>
#include <stdatomic.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "transport/close_codes.h"
#include "transport/conn.h"
#include "transport/conntrack.h"
#include "transport/handshake.h"
#include "transport/http_api.h"
#include "transport/listener.h"
#include "transport/ready.h"
#include "transport/router.h"
#include "transport/static.h"
#include "transport/upload.h"
#include "transport/upload_store.h"
#include "transport/ws_avatar.h"
#include "transport/ws_stream.h"
#include "transport/ws_wake.h"

/* Every endpoint the server answers. Adding one is one line here. */
static const fc_endpoint *const endpoints[] = {
    &fc_ws_stream_endpoint, &fc_ws_avatar_endpoint, &fc_upload_endpoint,
    &fc_http_api_endpoint,  &fc_static_endpoint,    &fc_ready_endpoint,
};

#define MAX_CONTROL_MESSAGE 4096
#define URI_MAX 1024

static fc_http_server *server_of(struct lws *wsi)
{
    return lws_context_user(lws_get_context(wsi));
}

/* The listener's record of the connection (conntrack.h), given to lws as the
 * wsi's opaque pointer at accept; NULL for lws's own wsis. */
static fc_tracked *tracked(struct lws *wsi)
{
    return server_of(wsi)->cfg.adopted ? NULL : lws_get_opaque_user_data(wsi);
}

/* The endpoint whose prefix is the longest match for `path`. */
static const fc_endpoint *find_endpoint(const fc_http_server *srv, const char *path, bool websocket)
{
    const fc_endpoint *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < srv->neps; i++) {
        const fc_endpoint *ep = srv->eps[i];
        if (ep->websocket != websocket || !ep->prefixes) continue;
        for (const char *const *p = ep->prefixes; *p; p++) {
            size_t n = strlen(*p);
            if (n > best_len && strncmp(path, *p, n) == 0) {
                best = ep;
                best_len = n;
            }
        }
    }
    return best;
}

/* ---------------------------------------------------------------- WebSocket */

/* Refuses a new WebSocket while the server drains or is full; true when
 * it may go on. */
static bool admit(fc_http_server *srv, fc_conn *c)
{
    if (srv->draining) {
        fc_conn_refuse(c, LWS_CLOSE_STATUS_GOINGAWAY, "server is shutting down");
        return false;
    }
    size_t open = srv->cfg.ws_total ? atomic_load(srv->cfg.ws_total) : srv->ws_count;
    if (open > srv->cfg.max_clients) {
        srv->env.ws_refused++;
        fc_conn_refuse(c, CLOSE_TRY_AGAIN, "server full: %u clients already (--max-clients)",
                       srv->cfg.max_clients);
        return false;
    }
    return true;
}

static void ws_established(fc_http_server *srv, struct lws *wsi, fc_conn *c)
{
    char uri[URI_MAX];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0) uri[0] = '\0';
    const fc_endpoint *ep = find_endpoint(srv, uri, true);
    fc_conn_init(c, wsi, &srv->env, ep, true, -1);
    fc_conn_link(&srv->conns, c);
    srv->ws_count++;
    if (srv->cfg.ws_total) atomic_fetch_add(srv->cfg.ws_total, 1);
    if (ep) fc_capacity_enter(srv->cfg.capacity, ep->capacity);
    if (ep && ep->drain) srv->finishing++;
    if (!ep) {
        srv->env.ws_refused++;
        fc_conn_refuse(c, CLOSE_UNKNOWN_ENDPOINT,
                       "no WebSocket endpoint at '%.200s' (use /ws/streams/{id})", uri);
        return;
    }
    if (admit(srv, c) && ep->open && ep->open(c, fc_conn_state(c), uri) != 0)
        fc_conn_close_soon(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "endpoint failed");
}

static void ws_receive(fc_conn *c, struct lws *wsi, const void *in, size_t len)
{
    if (lws_frame_is_binary(wsi))
        return; /* clients send no binary today; ignore rather than fail */
    const char *msg;
    size_t n;
    if (fc_conn_receive(c, in, len, MAX_CONTROL_MESSAGE, &msg, &n) != 1) return;
    const fc_endpoint *ep = fc_conn_endpoint(c);
    if (ep && ep->text) ep->text(c, fc_conn_state(c), msg, n);
    fc_conn_receive_done(c);
}

static void maybe_drain_done(fc_http_server *srv);
static void close_all(fc_http_server *srv);

static void ws_closed(fc_http_server *srv, fc_conn *c)
{
    const fc_endpoint *ep = fc_conn_endpoint(c);
    if (ep) fc_capacity_leave(srv->cfg.capacity, ep->capacity);
    if (ep && ep->drain) srv->finishing--;
    fc_conn_release(c);
    fc_conn_cleanup(c);
    fc_conn_unlink(&srv->conns, c);
    srv->ws_count--;
    if (srv->cfg.ws_total) atomic_fetch_sub(srv->cfg.ws_total, 1);
    if (srv->draining && !srv->closing_all && srv->finishing == 0) close_all(srv);
    maybe_drain_done(srv);
}

/* --------------------------------------------------------------------- HTTP */

static int http_request(fc_http_server *srv, struct lws *wsi, fc_conn *c)
{
    /* A keep-alive connection's previous request may have left state. */
    if (fc_conn_endpoint(c)) {
        fc_conn_release(c);
        fc_conn_cleanup(c);
    }
    srv->env.http_requests++;
    char *u;
    int ulen;
    int method = lws_http_get_uri_and_method(wsi, &u, &ulen);
    char uri[URI_MAX];
    bool fits = method >= 0 && ulen >= 0 && (size_t)ulen < sizeof uri;
    if (fits) {
        memcpy(uri, u, (size_t)ulen);
        uri[ulen] = '\0';
    }
    const fc_endpoint *ep = fits ? find_endpoint(srv, uri, false) : NULL;
    fc_conn_init(c, wsi, &srv->env, ep, false, method);
    /* A timer of the previous request on this connection is not this one's. */
    fc_conn_set_timer(c, -1);
    if (method < 0)
        return fc_conn_respond_status(c, HTTP_STATUS_METHOD_NOT_ALLOWED, "unknown method");
    if (!fits) {
        srv->env.http_refused[FC_HTTP_REFUSED_URI]++;
        return fc_conn_respond_status(c, HTTP_STATUS_REQ_URI_TOO_LONG, "path too long");
    }
    if (!ep || !ep->open) return fc_conn_respond_not_found(c, uri);
    return ep->open(c, fc_conn_state(c), uri);
}

static int http_body(fc_conn *c, const void *in, size_t len, bool done)
{
    if (done) fc_conn_body_ended(c);
    /* Answered already: dropped, and closed at its end. */
    if (fc_conn_draining(c)) return done ? -1 : 0;
    const fc_endpoint *ep = fc_conn_endpoint(c);
    if (!ep) return 0;
    if (done) return ep->body_done ? ep->body_done(c, fc_conn_state(c)) : 0;
    return ep->body ? ep->body(c, fc_conn_state(c), in, len) : 0;
}

/* Past capacity, or while draining, a new WebSocket is refused before the
 * upgrade and before any work: a 503 naming the limit, which a load
 * balancer retries on another node (docs/deploy.md). */
static int admit_upgrade(fc_http_server *srv, struct lws *wsi)
{
    char uri[URI_MAX], why[200];
    if (lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI) <= 0) uri[0] = '\0';
    const fc_endpoint *ep = find_endpoint(srv, uri, true);
    if (!ep || fc_capacity_admit(srv->cfg.capacity, ep->capacity, why, sizeof why) == 0) return 0;
    return fc_conn_reject(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, why);
}

/* The handshake is sound (handshake.h); then capacity decides. */
static int confirm_upgrade(fc_http_server *srv, struct lws *wsi, const char *to)
{
    if (fc_handshake_confirm_upgrade(&srv->env, wsi, to, URI_MAX) != 0) return -1;
    return admit_upgrade(srv, wsi);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    fc_conn *c = user;
    switch (reason) {
    case LWS_CALLBACK_ESTABLISHED:
        ws_established(server_of(wsi), wsi, c);
        return 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return c && fc_conn_is_websocket(c) ? fc_conn_writeable(c) : 0;
    case LWS_CALLBACK_RECEIVE:
        if (c && fc_conn_is_websocket(c)) ws_receive(c, wsi, in, len);
        return 0;
    case LWS_CALLBACK_CLOSED:
        /* lws also reports CLOSED for a connection whose upgrade failed
         * (no Sec-WebSocket-Key, say) and that never reached ESTABLISHED:
         * its memory is zeroed or still an HTTP one. */
        if (c && fc_conn_is_websocket(c)) ws_closed(server_of(wsi), c);
        return 0;
    case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
        if (confirm_upgrade(server_of(wsi), wsi, in) != 0) return -1;
        if (tracked(wsi)) fc_tracked_active(tracked(wsi));
        return 0;
    case LWS_CALLBACK_FILTER_HTTP_CONNECTION:
        if (fc_handshake_check_framing(&server_of(wsi)->env, wsi) != 0) return -1;
        if (tracked(wsi)) fc_tracked_active(tracked(wsi));
        return 0;
    case LWS_CALLBACK_HTTP_FILE_COMPLETION: {
        /* lws served a file and completes the transaction; a connection that
         * stays waits for another request's headers. */
        int rc = lws_callback_http_dummy(wsi, reason, user, in, len);
        if (rc == 0 && tracked(wsi)) fc_tracked_pending(tracked(wsi));
        return rc;
    }
    case LWS_CALLBACK_WSI_DESTROY:
        if (server_of(wsi)->cfg.gone)
            server_of(wsi)->cfg.gone(lws_get_opaque_user_data(wsi));
        else if (tracked(wsi))
            fc_tracked_gone(tracked(wsi));
        return 0;
    case LWS_CALLBACK_HTTP:
        return http_request(server_of(wsi), wsi, c);
    case LWS_CALLBACK_HTTP_BODY:
        return http_body(c, in, len, false);
    case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return http_body(c, NULL, 0, true);
    case LWS_CALLBACK_TIMER:
        if (c && fc_conn_draining(c)) return -1; /* a drained body too slow */
        if (c && fc_conn_endpoint(c) && fc_conn_endpoint(c)->timer)
            return fc_conn_endpoint(c)->timer(c, fc_conn_state(c));
        return 0;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
    case LWS_CALLBACK_CLOSED_HTTP:
        if (c && !fc_conn_is_websocket(c)) {
            fc_conn_release(c);
            fc_conn_cleanup(c);
        }
        break;
    default:
        break;
    }
    return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* -------------------------------------------------------------- lifecycle */

static void log_emit(int level, const char *line)
{
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    fc_log(level == LLL_ERR ? FC_LOG_ERROR : FC_LOG_WARN, "lws: %.*s", (int)n, line);
}

static int add_mount(fc_http_server *srv, const char *at, const char *origin, unsigned char proto,
                     const char *wav_mime)
{
    for (int i = 0; i < srv->nmounts; i++)
        if (strcmp(srv->mount_at[i], at) == 0) return 0; /* two prefixes under one lws mount */
    if (srv->nmounts == MAX_MOUNTS) return -ENOSPC;
    int i = srv->nmounts++;
    struct lws_http_mount *m = &srv->mounts[i];
    snprintf(srv->mount_at[i], sizeof srv->mount_at[i], "%s", at);
    snprintf(srv->mount_dir[i], sizeof srv->mount_dir[i], "%s", origin);
    memset(m, 0, sizeof *m);
    m->mountpoint = srv->mount_at[i];
    m->mountpoint_len = (unsigned char)strlen(srv->mount_at[i]);
    m->origin = srv->mount_dir[i];
    m->origin_protocol = proto;
    if (proto == LWSMPRO_FILE) m->def = "index.html";
    if (wav_mime) {
        srv->mimes[i] = (struct lws_protocol_vhost_options){NULL, NULL, ".wav", wav_mime};
        m->extra_mimetypes = &srv->mimes[i];
    }
    if (i > 0) srv->mounts[i - 1].mount_next = m;
    return 0;
}

/* One lws mount per endpoint prefix (callbacks) or file directory. lws
 * picks the longest matching mount; the callback then picks the endpoint. */
static int build_mounts(fc_http_server *srv, char *err, size_t errlen)
{
    for (size_t i = 0; i < srv->neps; i++) {
        const fc_endpoint *ep = srv->eps[i];
        for (const char *const *p = ep->prefixes; p && *p; p++) {
            char at[64];
            snprintf(at, sizeof at, "%s", *p);
            size_t n = strlen(at);
            if (n > 1 && at[n - 1] == '/') at[n - 1] = '\0';
            if (add_mount(srv, at, "framecast", LWSMPRO_CALLBACK, NULL) != 0) goto full;
        }
        for (const fc_file_mount *f = ep->files; f && f->at && srv->cfg.web_root; f++) {
            char dir[MOUNT_PATH_MAX];
            snprintf(dir, sizeof dir, "%s%s%s", srv->cfg.web_root, f->dir[0] ? "/" : "", f->dir);
            if (add_mount(srv, f->at, dir, LWSMPRO_FILE, f->wav_mime) != 0) goto full;
        }
    }
    return 0;
full:
    snprintf(err, errlen, "http server: more than %d mounts", MAX_MOUNTS);
    return -ENOSPC;
}

/* A connection our listener admitted: lws serves it from here on (HTTP, and
 * WebSocket after an upgrade), with its tracking record as the wsi's opaque
 * pointer (LWS_CALLBACK_WSI_DESTROY lets it go); on failure lws has closed
 * the fd. */
static void on_accept(int fd, const struct sockaddr_storage *peer, fc_tracked *t, void *ctx)
{
    fc_http_server *srv = ctx;
    if (srv->cfg.router && fc_router_offer(srv->cfg.router, fd, peer, t)) return;
    lws_adopt_desc_t desc = {
        .vh = srv->vhost,
        .type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP,
        .fd.sockfd = fd,
        .opaque = t,
    };
    struct lws *wsi = lws_adopt_descriptor_vhost_via_info(&desc);
    if (!wsi) fc_warn("http server: could not take a new connection (lws refused it)");
    fc_tracked_bind(t, wsi);
}

/* The tracker gave up on a connection (its headers did not come in time, or
 * it was the oldest pending one and room was needed): lws closes it on its
 * next turn, and its destroy callback lets the record go. */
static void on_give_up(void *conn, void *ctx)
{
    (void)ctx;
    lws_set_timeout(conn, PENDING_TIMEOUT_HOLDING_AH, LWS_TO_KILL_ASYNC);
}

static size_t largest_state(const fc_http_server *srv)
{
    size_t most = 0;
    for (size_t i = 0; i < srv->neps; i++)
        if (srv->eps[i]->state_size > most) most = srv->eps[i]->state_size;
    return most;
}

/* The headers LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE
 * sends, but for connect-src: pages may also reach cfg.connect_src (Janus's
 * HTTP API, whose mountpoints they play). */
static const struct lws_protocol_vhost_options *security_headers(fc_http_server *srv)
{
    const char *extra = srv->cfg.connect_src;
    snprintf(srv->csp, sizeof srv->csp,
             "default-src 'none'; img-src 'self' data: ; script-src 'self'; font-src 'self'; "
             "style-src 'self'; connect-src 'self' ws: wss:%s%s; frame-ancestors 'none'; "
             "base-uri 'none';form-action 'self';",
             extra ? " " : "", extra ? extra : "");
    static const char *const fixed[][2] = {{"x-content-type-options:", "nosniff"},
                                           {"x-xss-protection:", "1; mode=block"},
                                           {"x-frame-options:", "deny"},
                                           {"referrer-policy:", "no-referrer"}};
    srv->headers[0] = (struct lws_protocol_vhost_options){
        .next = &srv->headers[1], .name = "content-security-policy:", .value = srv->csp};
    for (int i = 0; i < 4; i++)
        srv->headers[i + 1] = (struct lws_protocol_vhost_options){
            .next = i < 3 ? &srv->headers[i + 2] : NULL, .name = fixed[i][0], .value = fixed[i][1]};
    return srv->headers;
}

static int create_context(fc_http_server *srv, char *err, size_t errlen)
{
    lws_set_log_level(LLL_ERR | LLL_WARN, log_emit);
    void *foreign[1] = {&srv->loop->uv};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.foreign_loops = foreign;
    info.user = srv;
    info.retry_and_idle_policy = &srv->retry;
    /* lws clears this when the context is finally gone (see _free). */
    info.pcontext = &srv->ctx;
    /* Room for every connection the listener admits (conntrack.h), and for
     * lws's own handles. */
    info.fd_limit_per_thread =
        srv->cfg.max_clients + srv->cfg.max_pending + FC_HTTP_ANSWERING_MAX + FC_HTTP_FD_SLACK;
    srv->ctx = lws_create_context(&info);
    if (!srv->ctx) {
        snprintf(err, errlen, "http server: cannot create the libwebsockets context");
        return -ENOMEM;
    }
    memset(&info, 0, sizeof info);
    /* framecast listens itself (listener.h) and hands lws each connection. */
    info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
    info.protocols = srv->protocols;
    info.mounts = srv->mounts;
    info.retry_and_idle_policy = &srv->retry;
    info.vhost_name = "framecast";
    /* lws's own deadline for headers (from their first byte) comes after
     * ours (conntrack.h, from accept), which says why in /metrics. */
    info.timeout_secs_ah_idle = srv->cfg.header_timeout_s + 5;
    info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
    info.headers = security_headers(srv);
    srv->vhost = lws_create_vhost(srv->ctx, &info);
    if (!srv->vhost) {
        snprintf(err, errlen, "http server: cannot create the libwebsockets vhost");
        return -ENOMEM;
    }
    return 0;
}

/* What every endpoint of this server sees (endpoint.h). */
static fc_server_env server_env(fc_loop *loop, const fc_http_server_config *cfg,
                                fc_stream_set *streams, fc_metrics *metrics)
{
    return (fc_server_env){
        .loop = loop,
        .pool = cfg->pool,
        .streams = streams,
        .capacity = cfg->capacity,
        .avatar = cfg->avatar,
        .webrtc = cfg->webrtc,
        .media = cfg->media,
        .metrics = metrics,
        .queue_default = cfg->queue_default,
        .max_upload_image = cfg->max_upload_image,
        .max_upload_audio = cfg->max_upload_audio,
        .auth = cfg->auth,
        .api = cfg->api,
        .upload_timeout_s = cfg->upload_timeout_s,
        .upload_min_rate = cfg->upload_min_rate,
        .feeds = cfg->feeds,
        .census = cfg->census,
        .loops = cfg->loops ? cfg->loops : 1,
    };
}

int fc_http_server_start(fc_loop *loop, const fc_http_server_config *cfg, fc_stream_set *streams,
                         fc_metrics *metrics, fc_http_server **out, char *err, size_t errlen)
{
    fc_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        snprintf(err, errlen, "http server: out of memory");
        return -ENOMEM;
    }
    srv->loop = loop;
    srv->cfg = *cfg;
    srv->eps = cfg->endpoints ? cfg->endpoints : endpoints;
    srv->neps = cfg->endpoints ? cfg->nendpoints : sizeof endpoints / sizeof *endpoints;
    srv->env = server_env(loop, cfg, streams, metrics);
    int rc = cfg->adopted ? 0 : fc_http_server_register_metrics(srv);
    if (rc != 0) snprintf(err, errlen, "http server: out of memory registering metrics");
    if (rc == 0 && cfg->media && cfg->avatar) {
        fc_upload_limits ul = {.max_files = cfg->upload_max_files,
                               .max_bytes = cfg->upload_quota,
                               .expiry_s = cfg->upload_expiry_s};
        rc = fc_upload_store_open(loop, cfg->pool, cfg->media, &ul, &srv->env.upload_store, err,
                                  errlen);
        if (rc == 0 && fc_upload_store_metrics(srv->env.upload_store, metrics) != 0) {
            snprintf(err, errlen, "http server: out of memory registering metrics");
            rc = -ENOMEM;
        }
    }
    if (rc == 0) rc = build_mounts(srv, err, errlen);
    if (rc != 0) {
        fc_upload_store_close(srv->env.upload_store);
        free(srv);
        return rc;
    }
    srv->protocols[0] = (struct lws_protocols){
        .name = "framecast",
        .callback = callback,
        .per_session_data_size = fc_conn_size(largest_state(srv)),
        .rx_buffer_size = MAX_CONTROL_MESSAGE,
        /* Hand whole frames to send(); lws only copies what the kernel
         * could not take at once. */
        .tx_packet_size = 8u << 20,
    };
    srv->retry = (lws_retry_bo_t){
        .secs_since_valid_ping = (uint16_t)cfg->ping_secs,
        .secs_since_valid_hangup = (uint16_t)cfg->hangup_secs,
    };
    if ((rc = create_context(srv, err, errlen)) == -ENOMEM && !srv->ctx) {
        free(srv);
        return rc;
    }
    fc_conntrack_limits limits = {
        .max_total = cfg->max_clients + cfg->max_pending + FC_HTTP_ANSWERING_MAX,
        .max_pending = cfg->max_pending,
        .max_per_peer = cfg->max_peer_connections,
        .header_ms = cfg->header_timeout_s * 1000,
    };
    if (rc == 0 && !cfg->adopted)
        rc = fc_listener_open(loop, cfg->host, cfg->port, &limits, on_accept, on_give_up, srv,
                              &srv->listener, err, errlen);
    srv->env.listener = srv->listener;
    if (rc == 0 && cfg->router) fc_listener_defer_accept(srv->listener, 1);
    uv_timer_init(&loop->uv, &srv->drain_timer);
    srv->drain_timer.data = srv;
    if (fc_ws_wakes_init(&srv->ws_wakes, &loop->uv, fc_conn_woken, metrics) == 0) {
        srv->env.ws_wakes = &srv->ws_wakes;
    } else if (rc == 0) {
        snprintf(err, errlen, "http server: out of memory registering metrics");
        rc = -ENOMEM;
    }
    /* Even without a vhost the context has handles on the loop; the caller
     * tears it down the usual way (destroy, run the loop, free). */
    *out = srv;
    return rc;
}

const fc_listener *fc_http_server_listener(const fc_http_server *srv)
{
    return srv->listener;
}

int fc_http_server_adopt(fc_http_server *srv, int fd, void *opaque)
{
    lws_adopt_desc_t desc = {
        .vh = srv->vhost,
        .type = LWS_ADOPT_SOCKET | LWS_ADOPT_HTTP,
        .fd.sockfd = fd,
        .opaque = opaque,
    };
    return lws_adopt_descriptor_vhost_via_info(&desc) ? 0 : -1;
}

static void maybe_drain_done(fc_http_server *srv)
{
    if (!srv->closing_all || (srv->ws_count > 0 && !srv->drain_timed_out) || !srv->drain_done)
        return;
    void (*done)(fc_http_server *, void *) = srv->drain_done;
    srv->drain_done = NULL;
    uv_timer_stop(&srv->drain_timer);
    done(srv, srv->drain_arg);
}

static void on_close_timeout(uv_timer_t *t)
{
    fc_http_server *srv = t->data;
    fc_warn("http server: %zu WebSocket(s) did not close in time; closing them hard",
            srv->ws_count);
    /* What they hold (subscriptions, sessions) is about to go: let go of it
     * now; lws closes the sockets when the context is destroyed. */
    for (fc_conn *c = srv->conns; c; c = fc_conn_next(c))
        fc_conn_release(c);
    srv->drain_timed_out = true;
    maybe_drain_done(srv);
}

/* The second step of a drain: the work is done (or out of time), so every
 * WebSocket left gets its close frame, 1 s to go, and then is let go. */
static void close_all(fc_http_server *srv)
{
    srv->closing_all = true;
    for (fc_conn *c = srv->conns; c; c = fc_conn_next(c))
        fc_conn_close_soon(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
    uv_timer_start(&srv->drain_timer, on_close_timeout, 1000, 0);
    maybe_drain_done(srv);
}

static void on_work_timeout(uv_timer_t *t)
{
    fc_http_server *srv = t->data;
    fc_warn("http server: %zu connection(s) still working after --drain-timeout; closing them",
            srv->finishing);
    close_all(srv);
}

void fc_http_server_drain(fc_http_server *srv, unsigned timeout_ms,
                          void (*done)(fc_http_server *srv, void *arg), void *arg)
{
    if (srv->draining) {
        /* Asked again (a second signal): stop waiting for the work. */
        if (!srv->closing_all) close_all(srv);
        return;
    }
    srv->draining = true;
    srv->drain_done = done;
    srv->drain_arg = arg;
    for (fc_conn *c = srv->conns; c; c = fc_conn_next(c)) {
        const fc_endpoint *ep = fc_conn_endpoint(c);
        if (ep && ep->drain) ep->drain(c, fc_conn_state(c));
    }
    if (srv->finishing == 0)
        close_all(srv);
    else
        uv_timer_start(&srv->drain_timer, on_work_timeout, timeout_ms, 0);
}

void fc_http_server_destroy(fc_http_server *srv)
{
    if (!srv) return;
    /* Connections still open are closed by lws here, which releases them
     * through LWS_CALLBACK_CLOSED. On a foreign loop lws finishes closing
     * its handles as the loop runs on. */
    fc_listener_close(srv->listener);
    srv->listener = NULL;
    srv->env.listener = NULL;
    fc_upload_store_close(srv->env.upload_store);
    srv->env.upload_store = NULL;
    lws_context_destroy(srv->ctx);
    uv_close((uv_handle_t *)&srv->drain_timer, NULL);
    fc_ws_wakes_close(&srv->ws_wakes);
}

void fc_http_server_free(fc_http_server *srv)
{
    if (!srv) return;
    /* With a foreign loop the first destroy only starts the teardown; once
     * the loop has closed lws's handles, a second call frees the context. */
    if (srv->ctx) lws_context_destroy(srv->ctx);
    free(srv);
}
