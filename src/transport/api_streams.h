/* fc_stream_api: the changes the HTTP API makes to the streams, kept in the
 * store (store/store.h) and applied to the running set (stream/registry.h):
 *
 *   create  POST   /api/streams        201 with the stream
 *   update  PATCH  /api/streams/{id}   200 with the stream and "applied":
 *                                      "live" (encode_fps, detect_fps,
 *                                      quality: viewers stay connected) or
 *                                      "restarted" (detect on/off: a new
 *                                      stream, viewers closed with 1012 and
 *                                      reconnect)
 *   delete  DELETE /api/streams/{id}   200; viewers closed with 4410
 *
 * Each change runs in steps, none of them heavy on the loop: the body is
 * parsed and checked (400 naming the field); a new source (a picture to
 * decode) is made by a set-up job on the worker pool; the stream is built
 * on the loop; the row goes to the store's thread; only after the COMMIT is
 * the change applied and the client answered. A failure at any step leaves
 * the running streams and the file as they were.
 *
 * Bounds: FC_API_CHANGES_MAX changes in flight, one per stream id at a time
 * (another is refused with 409 until the first is answered), --max-streams
 * streams; past them 503. Only streams added through the API are changed
 * (a --source stream is 409: it comes from the command line).
 *
 * Ownership: the API borrows the loop, pool, store, set and defaults, which
 * outlive it. A change belongs to the API from the request until it is
 * answered; the request's connection may close before that (the change
 * still completes, answering nobody). Loop thread only. */
#ifndef FC_TRANSPORT_API_STREAMS_H
#define FC_TRANSPORT_API_STREAMS_H

#include <stddef.h>

#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "store/store.h"
#include "stream/build.h"
#include "stream/registry.h"

#define FC_API_CHANGES_MAX 64

typedef struct fc_conn fc_conn;
typedef struct fc_stream_api fc_stream_api;

typedef struct fc_stream_api_config {
    fc_loop *loop;
    fc_pool *pool;
    fc_store *store;
    fc_stream_set *streams;
    const fc_stream_defaults *defaults;
    size_t max_streams; /* in the set, whatever their origin */
} fc_stream_api_config;

/* A request waiting for its change: lives in the connection's state; the
 * change answers `conn` through it unless fc_stream_api_forget came first. */
typedef struct fc_api_waiter {
    fc_conn *conn;
    struct api_change *change;
} fc_api_waiter;

/* 0 or -ENOMEM. */
int fc_stream_api_new(const fc_stream_api_config *cfg, fc_stream_api **out);
/* After fc_stream_api_when_idle's `done`. NULL is fine. */
void fc_stream_api_free(fc_stream_api *api);
int fc_stream_api_metrics_register(fc_stream_api *api, fc_metrics *m);

/* Each answers `w->conn` now (an error) or when its change is done, and
 * returns what the endpoint returns (0, or -1 to drop the connection). */
int fc_stream_api_create(fc_stream_api *api, fc_api_waiter *w, const char *body, size_t len);
int fc_stream_api_update(fc_stream_api *api, fc_api_waiter *w, const char *id, const char *body,
                         size_t len);
int fc_stream_api_delete(fc_stream_api *api, fc_api_waiter *w, const char *id);
/* The request's connection is gone: its change answers nobody. */
void fc_stream_api_forget(fc_api_waiter *w);

/* Refuses new changes from now on (503) and calls `done` once none is in
 * flight any more, maybe before this returns. */
void fc_stream_api_when_idle(fc_stream_api *api, void (*done)(void *arg), void *arg);

#endif
