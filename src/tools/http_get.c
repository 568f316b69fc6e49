#include "tools/http_get.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define MAX_BODY (64u << 20)

struct fc_http_client {
    struct lws_context *ctx;
    struct lws_protocols protocols[2];
    uv_timer_t deliver; /* hands the answer over outside lws callbacks */
    bool busy, answered, closed;
    int status;
    fc_buf body;
    char err[256];
    fc_http_get_cb cb;
    void *arg;
};

static void on_deliver(uv_timer_t *t)
{
    fc_http_client *c = t->data;
    fc_buf body = c->body;
    c->body = (fc_buf){0};
    c->busy = false;
    int status = c->err[0] ? 0 : c->status;
    char err[sizeof c->err];
    memcpy(err, c->err, sizeof err);
    if (body.failed && !err[0]) {
        status = 0;
        snprintf(err, sizeof err, "out of memory for the response body");
    }
    c->cb(status, body.data ? body.data : "", body.len, err[0] ? err : NULL, c->arg);
    fc_buf_free(&body);
}

static void answer(fc_http_client *c, const char *err)
{
    if (c->answered) return;
    c->answered = true;
    if (err && !c->err[0]) snprintf(c->err, sizeof c->err, "%s", err);
    uv_timer_start(&c->deliver, on_deliver, 0, 0);
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    (void)user;
    fc_http_client *c = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        answer(c, in ? (const char *)in : "connection failed");
        return 0;
    case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP:
        c->status = (int)lws_http_client_http_response(wsi);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
        if (c->body.len + len > MAX_BODY) {
            answer(c, "response body larger than 64 MiB");
            return -1;
        }
        fc_buf_append(&c->body, in, len);
        return 0;
    case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
        char buf[LWS_PRE + 16384];
        char *p = buf + LWS_PRE;
        int n = (int)sizeof buf - LWS_PRE;
        return lws_http_client_read(wsi, &p, &n) < 0 ? -1 : 0;
    }
    case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
        answer(c, NULL);
        return 0;
    case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
        answer(c, "connection closed before the response was complete");
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

int fc_http_client_new(uv_loop_t *loop, fc_http_client **out, char *err, size_t errlen)
{
    fc_http_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "http client: out of memory");
        return -ENOMEM;
    }
    c->protocols[0] = (struct lws_protocols){.name = "framecast-http-get", .callback = callback};
    /* Errors only: lws's start-up notices would clutter the bench's output. */
    lws_set_log_level(LLL_ERR, NULL);
    void *foreign[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = c->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign;
    info.user = c;
    c->ctx = lws_create_context(&info);
    if (!c->ctx) {
        snprintf(err, errlen, "http client: cannot create the libwebsockets context");
        free(c);
        return -ENOMEM;
    }
    uv_timer_init(loop, &c->deliver);
    c->deliver.data = c;
    *out = c;
    return 0;
}

int fc_http_get(fc_http_client *c, const char *host, int port, const char *path, fc_http_get_cb cb,
                void *arg)
{
    if (c->busy || c->closed) return -EBUSY;
    c->busy = true;
    c->answered = false;
    c->status = 0;
    c->err[0] = '\0';
    c->cb = cb;
    c->arg = arg;
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = c->ctx;
    ci.address = host;
    ci.port = port;
    ci.path = path;
    ci.host = host;
    ci.origin = host;
    ci.method = "GET";
    ci.protocol = c->protocols[0].name;
    if (!lws_client_connect_via_info(&ci)) answer(c, "cannot start the connection");
    return 0;
}

void fc_http_client_close(fc_http_client *c)
{
    if (c->closed) return;
    c->closed = true;
    lws_context_destroy(c->ctx);
    uv_close((uv_handle_t *)&c->deliver, NULL);
}

void fc_http_client_free(fc_http_client *c)
{
    if (!c) return;
    /* As in fc_load_free: the second destroy, after the loop drained, frees it. */
    if (c->closed) lws_context_destroy(c->ctx);
    fc_buf_free(&c->body);
    free(c);
}
