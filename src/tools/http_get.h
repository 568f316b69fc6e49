/* fc_http_get: one HTTP GET at a time (fc_httpc, transport/http_client.h),
 * on a libuv loop the caller runs; the bench reads the server's /metrics with
 * it. A request without an answer for 30 s fails with the reason.
 *
 * The answer (status and whole body, at most 64 MiB) is handed to `cb` from a
 * libuv timer, outside libwebsockets' callbacks, so `cb` may start the next
 * request or close the client. Ownership: fc_http_client_close destroys the
 * libwebsockets context (loop thread, not from inside an lws callback);
 * fc_http_client_free releases the memory once uv_run has returned (and must
 * be called then, as it finishes the context's teardown). */
#ifndef FC_TOOLS_HTTP_GET_H
#define FC_TOOLS_HTTP_GET_H

#include <stddef.h>
#include <uv.h>

typedef struct fc_http_client fc_http_client;

/* status is the HTTP status, or 0 with the reason in err. body is
 * NUL-terminated and only valid during the call. */
typedef void (*fc_http_get_cb)(int status, const char *body, size_t len, const char *err,
                               void *arg);

int fc_http_client_new(uv_loop_t *loop, fc_http_client **out, char *err, size_t errlen);
/* Returns 0, -EBUSY when a request is already in flight, or another negative
 * errno-style code when it cannot start. */
int fc_http_get(fc_http_client *c, const char *host, int port, const char *path, fc_http_get_cb cb,
                void *arg);
void fc_http_client_close(fc_http_client *c);
void fc_http_client_free(fc_http_client *c);

#endif
