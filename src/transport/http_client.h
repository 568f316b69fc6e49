/* fc_httpc: outgoing HTTP/1.1 requests (GET, POST with a body) over
 * libwebsockets' client, on a libuv loop the caller runs. Several requests
 * may be in flight at once (a long poll beside a request, say).
 *
 * Every request ends exactly once in its callback: with the HTTP status and
 * the whole body (at most the client's max_body), or with status 0 and the
 * reason (cannot connect, connection closed early, body too large, timed out
 * after the request's own deadline), which does not repeat the URL: the
 * caller knows what it asked for. The callback runs from a libuv timer,
 * outside libwebsockets' callbacks, so it may start the next request, cancel
 * others or close the client. fc_httpc_cancel ends a request without calling
 * back.
 *
 * Threads: the loop thread only. Ownership: the client owns its requests;
 * a request handle is valid until its callback has run or it was cancelled.
 * fc_httpc_close cancels what is in flight and starts destroying the
 * libwebsockets context; fc_httpc_free releases the memory once uv_run has
 * returned (libwebsockets needs the loop to finish its part). */
#ifndef FC_TRANSPORT_HTTP_CLIENT_H
#define FC_TRANSPORT_HTTP_CLIENT_H

#include <stddef.h>
#include <uv.h>

typedef struct fc_httpc fc_httpc;
typedef struct fc_httpc_req fc_httpc_req;

/* body is NUL-terminated and only valid during the call. */
typedef void (*fc_httpc_cb)(int status, const char *body, size_t len, const char *err, void *arg);

typedef struct fc_httpc_request {
    const char *method; /* "GET" or "POST" */
    const char *host;   /* an address or name; also the Host header */
    int port;
    const char *path;         /* starting with '/' */
    const char *content_type; /* with a body */
    const char *body;         /* NULL: none */
    size_t body_len;
    unsigned timeout_ms; /* from the start to the last byte of the answer */
} fc_httpc_request;

/* max_body: the longest answer accepted, bytes. */
int fc_httpc_new(uv_loop_t *loop, size_t max_body, fc_httpc **out, char *err, size_t errlen);
/* Starts a request; *out (may be NULL) names it for fc_httpc_cancel. Returns
 * 0 (the callback will run), or a negative errno-style code with the reason
 * in err (bad arguments, out of memory, client closed) and no callback. */
int fc_httpc_start(fc_httpc *c, const fc_httpc_request *rq, fc_httpc_cb cb, void *arg,
                   fc_httpc_req **out, char *err, size_t errlen);
void fc_httpc_cancel(fc_httpc_req *r);
void fc_httpc_close(fc_httpc *c);
void fc_httpc_free(fc_httpc *c);

#endif
