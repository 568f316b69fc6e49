/* fc_agent: answers HAProxy's agent-check (HAProxy 2.6, configuration.txt,
 * server keyword "agent-check") on --agent-port, so a load balancer sends
 * new avatar sessions where there is room for them.
 *
 * Every TCP connection gets one ASCII line, then the connection ends:
 *
 *   up ready 63% maxconn:48\n   room for sessions: HAProxy sets the server's
 *                               weight to 63% of its configured weight and
 *                               its maxconn to --max-sessions; "ready" also
 *                               ends a DRAIN this agent asked for earlier
 *   drain\n                     full (load or --max-sessions) or shutting
 *                               down: no new connection goes to this node
 *                               (the stats say "DRAIN (agent)"); the ones it
 *                               has go on
 *
 * The weight is the spare room fc_capacity_report_now computes, never 0%
 * while the node takes sessions (HAProxy shows 0% as DRAIN too).
 *
 * It listens exactly where it is told (fc_listener: --agent-host, loopback
 * by default) and is bounded: FC_AGENT_MAX_CONNS connections at once (more
 * are closed unanswered, which HAProxy counts as no news, not as a failure),
 * each closed after FC_AGENT_DEADLINE_MS at the latest. What the peer sends
 * (HAProxy's agent-send) is read and dropped, so closing never resets a
 * connection whose answer is still in flight.
 *
 * Ownership: made and closed by the server's owner (app/serve.c), which
 * frees it once the loop has stopped; the capacity it reads is borrowed.
 * Loop thread only. */
#ifndef FC_TRANSPORT_AGENT_H
#define FC_TRANSPORT_AGENT_H

#include <stddef.h>

#include "core/capacity.h"
#include "core/loop.h"
#include "core/metrics.h"

#define FC_AGENT_MAX_CONNS 32
#define FC_AGENT_DEADLINE_MS 2000

struct fc_listener;
typedef struct fc_agent fc_agent;

/* The line for `r`, NUL-terminated; returns its length (without the NUL). */
size_t fc_agent_format(const fc_capacity_report *r, char *out, size_t outlen);

/* Listens on host:port (port 0: a free one). 0, or a negative errno with err
 * naming the address. */
int fc_agent_start(fc_loop *loop, const char *host, int port, fc_capacity *cap, fc_metrics *m,
                   fc_agent **out, char *err, size_t errlen);
const struct fc_listener *fc_agent_listener(const fc_agent *a);
/* Stops listening and ends the connections it has; their handles finish
 * closing as the loop runs on. NULL is fine. */
void fc_agent_close(fc_agent *a);
/* After the loop has stopped. NULL is fine. */
void fc_agent_free(fc_agent *a);

#endif
