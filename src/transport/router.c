#include "transport/router.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "transport/loop_servers.h"

/* The most of a request the router reads to place it. */
#define PEEK_MAX 4096

static const char viewer_prefix[] = "GET /ws/streams/";

struct fc_router {
    const fc_loops *loops;
    fc_loop_server *servers[FC_LOOPS_MAX];
    fc_capacity *capacity;
    atomic_uint viewers[FC_LOOPS_MAX];
    bool stopped;
};

int fc_router_new(const fc_loops *loops, fc_loop_server *const *servers, fc_capacity *capacity,
                  fc_router **out)
{
    fc_router *r = calloc(1, sizeof *r);
    if (!r) return -ENOMEM;
    r->loops = loops;
    for (int i = 1; i < loops->n; i++)
        r->servers[i] = servers[i];
    r->capacity = capacity;
    *out = r;
    return 0;
}

void fc_router_free(fc_router *r)
{
    free(r);
}

void fc_router_stop(fc_router *r)
{
    r->stopped = true;
}

unsigned fc_router_viewers(const fc_router *r, int i)
{
    return atomic_load(&r->viewers[i]);
}

/* A stream WebSocket request whose headers are all in: the request line,
 * an Upgrade header and the blank line that ends them. */
static bool is_viewer(int fd)
{
    char buf[PEEK_MAX + 1];
    ssize_t n = recv(fd, buf, PEEK_MAX, MSG_PEEK | MSG_DONTWAIT);
    if (n < (ssize_t)sizeof viewer_prefix) return false;
    buf[n] = '\0';
    if (strncmp(buf, viewer_prefix, sizeof viewer_prefix - 1) != 0) return false;
    char *end = strstr(buf, "\r\n\r\n");
    if (!end) return false;
    *end = '\0';
    for (char *line = strstr(buf, "\r\n"); line; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "upgrade:", 8) == 0) return true;
    return false;
}

unsigned fc_router_viewers_here(const fc_router *r)
{
    /* The capacity counts every viewer in: the first loop's from their
     * upgrade, the others' from their hand-over. */
    unsigned handed = 0;
    for (int i = 1; i < r->loops->n; i++)
        handed += atomic_load(&r->viewers[i]);
    unsigned held = fc_capacity_held(r->capacity, FC_CAP_SUBSCRIBER);
    return held > handed ? held - handed : 0;
}

/* The first loop's count is the larger of those sent there and not gone
 * (some not upgraded yet, in a burst) and those it serves (some it kept
 * without being asked: their request was not whole at accept). */
static int least_loaded(const fc_router *r)
{
    unsigned here = fc_router_viewers_here(r), sent = atomic_load(&r->viewers[0]);
    unsigned least = here > sent ? here : sent;
    int best = 0;
    for (int i = 1; i < r->loops->n; i++) {
        unsigned n = atomic_load(&r->viewers[i]);
        if (n < least) {
            least = n;
            best = i;
        }
    }
    return best;
}

/* The conntrack record went: the connection is closed, on whichever loop. */
static void on_released(void *arg)
{
    fc_handoff *h = arg;
    fc_router *r = h->router;
    atomic_fetch_sub(&r->viewers[h->loop], 1);
    if (h->counted_in) fc_capacity_leave(r->capacity, FC_CAP_SUBSCRIBER);
    free(h);
}

bool fc_router_offer(fc_router *r, int fd, const struct sockaddr_storage *peer, fc_tracked *t)
{
    (void)peer;
    if (r->stopped || !is_viewer(fd)) return false;
    fc_handoff *h = calloc(1, sizeof *h);
    if (!h) return false;
    h->fd = fd;
    h->tracked = t;
    h->router = r;
    h->loop = least_loaded(r);
    char why[200];
    /* Refused: the first loop's server says why, before the upgrade. */
    if (h->loop != 0 && fc_capacity_admit(r->capacity, FC_CAP_SUBSCRIBER, why, sizeof why) != 0)
        h->loop = 0;
    atomic_fetch_add(&r->viewers[h->loop], 1);
    fc_tracked_on_gone(t, on_released, h);
    if (h->loop == 0) return false; /* served here; counted until it goes */
    h->counted_in = true;
    fc_capacity_enter(r->capacity, FC_CAP_SUBSCRIBER);
    fc_tracked_bind(t, h);
    fc_tracked_active(t);
    fc_loop_server_give(r->servers[h->loop], h);
    return true;
}

static void gone_here(fc_job *job)
{
    fc_handoff *h = fc_container_of(job, fc_handoff, job);
    fc_tracked_gone(h->tracked); /* calls on_released */
}

void fc_router_gone(fc_handoff *h)
{
    memset(&h->job, 0, sizeof h->job);
    h->job.done = gone_here;
    h->job.loop = h->router->loops->loop[0];
    h->job.posted_ns = fc_now_ns();
    fc_loop_post_done(h->job.loop, &h->job);
}
