#include "transport/http_client.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

struct fc_httpc {
    uv_loop_t *loop;
    struct lws_context *ctx;
    struct lws_protocols protocols[2];
    size_t max_body;
    fc_httpc_req *reqs; /* started and not yet delivered or cancelled */
    bool closed;
};

struct fc_httpc_req {
    fc_httpc *c;
    fc_httpc_req *prev, *next;
    struct lws *wsi;  /* NULL once detached: lws then calls nobody about it */
    uv_timer_t timer; /* the deadline, then the deferred delivery */
    char *host, *path, *content_type;
    char method[8];
    int port;
    unsigned char *body; /* LWS_PRE bytes of headroom, then body_len */
    size_t body_len;
    bool body_sent;
    unsigned timeout_ms;
    int status;
    fc_buf answer;
    char err[200];
    bool finished; /* the outcome is known */
    bool closing;  /* delivered or cancelled: the timer is closing */
    fc_httpc_cb cb;
    void *arg;
};

static void unlink_req(fc_httpc_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else if (r->c->reqs == r)
        r->c->reqs = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void free_req(uv_handle_t *h)
{
    fc_httpc_req *r = h->data;
    fc_buf_free(&r->answer);
    free(r->host);
    free(r->path);
    free(r->content_type);
    free(r->body);
    free(r);
}

/* From now on libwebsockets calls nobody about this connection; `kill`
 * also closes it (from outside an lws callback). */
static void detach(fc_httpc_req *r, bool kill)
{
    if (!r->wsi) return;
    lws_set_opaque_user_data(r->wsi, NULL);
    if (kill) lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    r->wsi = NULL;
}

static void deliver(fc_httpc_req *r)
{
    r->closing = true;
    unlink_req(r);
    bool failed = r->err[0] || r->answer.failed;
    if (r->answer.failed && !r->err[0])
        snprintf(r->err, sizeof r->err, "out of memory for the answer");
    r->cb(failed ? 0 : r->status, r->answer.data ? r->answer.data : "", r->answer.len,
          failed ? r->err : NULL, r->arg);
    uv_close((uv_handle_t *)&r->timer, free_req);
}

static void on_deliver(uv_timer_t *t)
{
    deliver(t->data);
}

/* Inside an lws callback: note the outcome, deliver from the loop next. */
static void finish(fc_httpc_req *r, const char *err)
{
    if (r->finished) return;
    r->finished = true;
    if (err) snprintf(r->err, sizeof r->err, "%s", err);
    detach(r, false);
    uv_timer_stop(&r->timer);
    uv_timer_start(&r->timer, on_deliver, 0, 0);
}

static void on_timeout(uv_timer_t *t)
{
    fc_httpc_req *r = t->data;
    r->finished = true;
    snprintf(r->err, sizeof r->err, "no answer within %u ms", r->timeout_ms);
    detach(r, true);
    deliver(r);
}

static int append_headers(fc_httpc_req *r, struct lws *wsi, void *in, size_t len)
{
    unsigned char **p = in, *end = *p + len;
    char n[24];
    snprintf(n, sizeof n, "%zu", r->body_len);
    if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)r->content_type,
                                     (int)strlen(r->content_type), p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, (const unsigned char *)n,
                                     (int)strlen(n), p, end))
        return -1;
    lws_client_http_body_pending(wsi, 1);
    lws_callback_on_writable(wsi);
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    fc_httpc_req *r = wsi ? lws_get_opaque_user_data(wsi) : NULL;
    if (!r) return lws_callback_http_dummy(wsi, reason, user, in, len);
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
        char why[160];
        snprintf(why, sizeof why, "cannot connect (%s)", in ? (const char *)in : "no reason given");
        finish(r, why);
        return 0;
    }
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
        if (r->body && append_headers(r, wsi, in, len) != 0) {
            finish(r, "request headers do not fit");
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
        if (r->body && !r->body_sent) {
            r->body_sent = true;
            lws_client_http_body_pending(wsi, 0);
            if (lws_write(wsi, r->body + LWS_PRE, r->body_len, LWS_WRITE_HTTP_FINAL) !=
                (int)r->body_len) {
                finish(r, "cannot send the request body");
                return -1;
            }
        }
        return 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        r->status = (int)lws_http_client_http_response(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (r->answer.len + len > r->c->max_body) {
            char why[64];
            snprintf(why, sizeof why, "answer larger than %zu bytes", r->c->max_body);
            finish(r, why);
            return -1;
        }
        fc_buf_append(&r->answer, in, len);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 4096];
        char *p = buf + LWS_PRE;
        int n = (int)sizeof buf - LWS_PRE;
        return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        finish(r, NULL);
        return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        finish(r, "connection closed before the answer was complete");
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

int fc_httpc_new(uv_loop_t *loop, size_t max_body, fc_httpc **out, char *err, size_t errlen)
{
    fc_httpc *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "http client: out of memory");
        return -ENOMEM;
    }
    c->loop = loop;
    c->max_body = max_body;
    c->protocols[0] = (struct lws_protocols){.name = "framecast-http-client", .callback = callback};
    void *foreign[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = c->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign;
    /* Each request has its own deadline (our timer); lws's default of 20 s
     * for a server's first answer would cut a long poll short. */
    info.timeout_secs = 24 * 3600;
    c->ctx = lws_create_context(&info);
    if (!c->ctx) {
        snprintf(err, errlen, "http client: cannot create the libwebsockets context");
        free(c);
        return -ENOMEM;
    }
    *out = c;
    return 0;
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    *oom |= s && !d;
    return d;
}

int fc_httpc_start(fc_httpc *c, const fc_httpc_request *rq, fc_httpc_cb cb, void *arg,
                   fc_httpc_req **out, char *err, size_t errlen)
{
    if (out) *out = NULL;
    if (c->closed) {
        snprintf(err, errlen, "http client: closed");
        return -ESHUTDOWN;
    }
    if (!rq->method || strlen(rq->method) >= sizeof((fc_httpc_req *)0)->method || !rq->host ||
        rq->port <= 0 || rq->port > 65535 || !rq->path || rq->path[0] != '/' ||
        rq->timeout_ms == 0 || (rq->body && !rq->content_type)) {
        snprintf(err, errlen, "http client: bad request (method, host, port, path, timeout)");
        return -EINVAL;
    }
    fc_httpc_req *r = calloc(1, sizeof *r);
    bool oom = !r;
    if (r) {
        r->host = dup_or_null(rq->host, &oom);
        r->path = dup_or_null(rq->path, &oom);
        r->content_type = dup_or_null(rq->content_type, &oom);
        if (rq->body) {
            r->body = malloc(LWS_PRE + rq->body_len + 1);
            oom |= !r->body;
        }
    }
    if (oom) {
        if (r) {
            free(r->host);
            free(r->path);
            free(r->content_type);
            free(r->body);
            free(r);
        }
        snprintf(err, errlen, "http client: out of memory");
        return -ENOMEM;
    }
    r->c = c;
    snprintf(r->method, sizeof r->method, "%s", rq->method);
    r->port = rq->port;
    if (r->body) {
        memcpy(r->body + LWS_PRE, rq->body, rq->body_len);
        r->body_len = rq->body_len;
    }
    r->timeout_ms = rq->timeout_ms;
    r->cb = cb;
    r->arg = arg;
    uv_timer_init(c->loop, &r->timer);
    r->timer.data = r;
    r->next = c->reqs;
    if (c->reqs) c->reqs->prev = r;
    c->reqs = r;
    uv_timer_start(&r->timer, on_timeout, r->timeout_ms, 0);

    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = c->ctx;
    ci.address = r->host;
    ci.port = r->port;
    ci.path = r->path;
    ci.host = r->host;
    ci.origin = r->host;
    ci.method = r->method;
    ci.protocol = c->protocols[0].name;
    ci.pwsi = &r->wsi;
    ci.opaque_user_data = r;
    if (!lws_client_connect_via_info(&ci)) {
        r->wsi = NULL;
        finish(r, "cannot start the connection");
    }
    if (out) *out = r;
    return 0;
}

void fc_httpc_cancel(fc_httpc_req *r)
{
    if (!r || r->closing) return;
    r->closing = true;
    r->finished = true;
    detach(r, true);
    uv_timer_stop(&r->timer);
    unlink_req(r);
    uv_close((uv_handle_t *)&r->timer, free_req);
}

void fc_httpc_close(fc_httpc *c)
{
    if (c->closed) return;
    c->closed = true;
    while (c->reqs)
        fc_httpc_cancel(c->reqs);
    lws_context_destroy(c->ctx);
}

void fc_httpc_free(fc_httpc *c)
{
    if (!c) return;
    /* With a foreign loop the context is freed by a second destroy, once the
     * loop has run its handles' close callbacks. */
    if (c->closed) lws_context_destroy(c->ctx);
    free(c);
}
