/* fc_peer_limit: how often each peer may fail to authenticate.
 *
 * Every failure (a wrong or missing key, a refused viewer token) fills the
 * peer's bucket by one; the bucket drains at `per_sec`. A peer whose bucket
 * has no room for one more failure (it holds more than `burst` - 1) is
 * refused (429) before its credentials are even looked at: `burst` tries at
 * once, then one every 1 / `per_sec` seconds, so guessing keys costs an
 * attacker `per_sec` tries a second, per address.
 *
 * Peers are IPv4 addresses and IPv6 /64 networks (one host usually has a
 * whole /64; counting single IPv6 addresses would let it walk round the
 * limit). The table has a fixed number of slots, given at creation: a peer
 * that fails when all are taken takes the slot of the peer whose last
 * failure is oldest. Memory never grows, whatever the number of peers.
 *
 * Owned by one loop; loop thread only. */
#ifndef FC_TRANSPORT_AUTH_PEERLIMIT_H
#define FC_TRANSPORT_AUTH_PEERLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Defaults for the server: 10 failures at once, then one every 5 s. */
#define FC_PEER_LIMIT_SLOTS 1024
#define FC_PEER_LIMIT_BURST 10
#define FC_PEER_LIMIT_PER_SEC 0.2

typedef struct fc_peer_limit fc_peer_limit;

/* slots 1 to 65536, burst >= 1, per_sec > 0. 0, -EINVAL or -ENOMEM. */
int fc_peer_limit_new(size_t slots, double burst, double per_sec, fc_peer_limit **out);
void fc_peer_limit_free(fc_peer_limit *l);

/* true when `peer` has failed too often lately (counted as a refusal).
 * now_ns is monotonic (fc_now_ns). */
bool fc_peer_limit_blocked(fc_peer_limit *l, const struct sockaddr *peer, uint64_t now_ns);
/* Counts one failed authentication by `peer`. */
void fc_peer_limit_failed(fc_peer_limit *l, const struct sockaddr *peer, uint64_t now_ns);

typedef struct fc_peer_limit_stats {
    uint64_t failures; /* fc_peer_limit_failed calls */
    uint64_t refused;  /* fc_peer_limit_blocked answers of true */
    uint64_t evicted;  /* peers forgotten to make room while still counted */
    size_t peers;      /* slots in use */
} fc_peer_limit_stats;

void fc_peer_limit_stats_get(const fc_peer_limit *l, fc_peer_limit_stats *out);

#endif
