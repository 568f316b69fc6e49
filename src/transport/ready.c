#include "transport/ready.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <string.h>

#include "transport/conn.h"

static const char path_readyz[] = "/readyz";

static int ready_open(fc_conn *c, void *state, const char *path)
{
    (void)state;
    if (strcmp(path, path_readyz) != 0) return fc_conn_respond_not_found(c, path);
    if (fc_conn_method(c) != LWSHUMETH_GET)
        return fc_conn_respond_status(c, HTTP_STATUS_METHOD_NOT_ALLOWED, "only GET is served here");
    fc_capacity_report r;
    fc_capacity_report_now(fc_conn_env(c)->capacity, &r);
    bool ready = !r.full && !r.draining;
    json_t *doc = json_pack(
        "{s:b, s:b, s:b, s:i, s:s?, s:i, s:i, s:i, s:i, s:{s:f, s:f, s:f, s:I, s:f}}", "ready",
        ready, "draining", r.draining, "full", r.full, "spare_percent", r.spare_pct, "why",
        ready ? NULL : r.why, "sessions", (int)r.sessions, "max_sessions", (int)r.max_sessions,
        "subscribers", (int)r.subscribers, "max_subscribers", (int)r.max_subscribers, "load",
        "workers", r.load.workers, "loop", r.load.loop, "late_timers", r.load.late,
        "missed_deadlines", (json_int_t)r.load.missed, "window_seconds", r.load.seconds);
    return fc_conn_respond_json(c, ready ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE, doc);
}

const fc_endpoint fc_ready_endpoint = {
    .prefixes = (const char *const[]){path_readyz, NULL},
    .open = ready_open,
};
