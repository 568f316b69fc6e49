#include "tools/http_get.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <libwebsockets.h>

#include "transport/http_client.h"

#define MAX_BODY (64u << 20)
/* The bench's server answers /metrics in milliseconds; one that does not
 * answer in this long is stuck, and the bench says so instead of hanging. */
#define TIMEOUT_MS 30000u

struct fc_http_client {
    fc_httpc *http;
    bool busy;
    fc_http_get_cb cb;
    void *arg;
};

static void on_done(int status, const char *body, size_t len, const char *err, void *arg)
{
    fc_http_client *c = arg;
    c->busy = false;
    c->cb(status, body, len, err, c->arg);
}

int fc_http_client_new(uv_loop_t *loop, fc_http_client **out, char *err, size_t errlen)
{
    fc_http_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "http client: out of memory");
        return -ENOMEM;
    }
    /* Errors only: lws's start-up notices would clutter the bench's output. */
    lws_set_log_level(LLL_ERR, NULL);
    int rc = fc_httpc_new(loop, MAX_BODY, &c->http, err, errlen);
    if (rc != 0) {
        free(c);
        return rc < 0 ? rc : -ENOMEM;
    }
    *out = c;
    return 0;
}

int fc_http_get(fc_http_client *c, const char *host, int port, const char *path, fc_http_get_cb cb,
                void *arg)
{
    if (c->busy) return -EBUSY;
    char err[200];
    fc_httpc_request rq = {
        .method = "GET", .host = host, .port = port, .path = path, .timeout_ms = TIMEOUT_MS};
    c->cb = cb;
    c->arg = arg;
    int rc = fc_httpc_start(c->http, &rq, on_done, c, NULL, err, sizeof err);
    if (rc != 0) return rc < 0 ? rc : -EIO;
    c->busy = true;
    return 0;
}

void fc_http_client_close(fc_http_client *c)
{
    fc_httpc_close(c->http);
}

void fc_http_client_free(fc_http_client *c)
{
    if (!c) return;
    fc_httpc_free(c->http);
    free(c);
}
