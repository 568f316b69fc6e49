#include "sources/failed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"

typedef struct failed_source {
    fc_source base;
    fc_source_sink sink;
    fc_source_status status;
    bool started;
} failed_source;

static int failed_start(fc_source *src, fc_loop *loop, fc_pool *pool, const fc_source_sink *sink,
                        double idle_close, char *err, size_t errlen)
{
    (void)loop, (void)pool, (void)idle_close, (void)err, (void)errlen;
    failed_source *s = (failed_source *)src;
    s->sink = *sink;
    s->started = true;
    s->status.since_ns = fc_now_ns();
    /* Said once, like a pushing source's change of state. */
    fc_error("source %s: failed: %s", s->base.description, s->status.error);
    return 0;
}

static void failed_set_demand(fc_source *src, const fc_source_demand *demand)
{
    (void)src, (void)demand; /* nothing will come, whoever asks */
}

static void failed_get_status(fc_source *src, fc_source_status *out)
{
    *out = ((failed_source *)src)->status;
}

/* Nothing runs, so it has stopped at once: the sink hears it before stop
 * returns. */
static void failed_stop(fc_source *src)
{
    failed_source *s = (failed_source *)src;
    if (!s->started) return;
    s->started = false;
    if (s->sink.on_stopped) s->sink.on_stopped(s->sink.ctx);
}

static void failed_destroy(fc_source *src)
{
    free(src);
}

static const fc_source_ops failed_ops = {
    .type = "failed",
    .start = failed_start,
    .set_demand = failed_set_demand,
    .get_status = failed_get_status,
    .stop = failed_stop,
    .destroy = failed_destroy,
};

int fc_failed_source_create(const char *description, const char *error, fc_source **out, char *err,
                            size_t errlen)
{
    failed_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "source %s: out of memory", description);
        return -ENOMEM;
    }
    s->base.ops = &failed_ops;
    snprintf(s->base.description, sizeof s->base.description, "%s", description);
    s->status.state = FC_SOURCE_FAILED;
    snprintf(s->status.error, sizeof s->status.error, "%s", error);
    *out = &s->base;
    return 0;
}
