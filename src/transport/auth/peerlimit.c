/* A fixed table searched linearly: with the default 1024 slots a lookup is
 * about a microsecond, and lookups happen only for requests that carry or
 * need credentials, never per frame. */
#include "transport/auth/peerlimit.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint8_t peer[16];
    bool used;
    double level;     /* failures not yet drained, as of last_ns */
    uint64_t last_ns; /* the last failure */
} slot;

struct fc_peer_limit {
    size_t n;
    double burst, per_ns;
    fc_peer_limit_stats stats;
    slot slots[];
};

int fc_peer_limit_new(size_t slots, double burst, double per_sec, fc_peer_limit **out)
{
    if (slots < 1 || slots > 65536 || !(burst >= 1) || !(per_sec > 0)) return -EINVAL;
    fc_peer_limit *l = calloc(1, sizeof *l + slots * sizeof(slot));
    if (!l) return -ENOMEM;
    l->n = slots;
    l->burst = burst;
    l->per_ns = per_sec / 1e9;
    *out = l;
    return 0;
}

void fc_peer_limit_free(fc_peer_limit *l)
{
    free(l);
}

/* IPv4 as its IPv4-mapped IPv6 address; IPv6 as its /64 (an IPv4-mapped one
 * whole); anything else (a Unix socket) as one shared all-zero peer. */
static void peer_key(const struct sockaddr *sa, uint8_t key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &in->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        memcpy(key, &in6->sin6_addr, IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) ? 16 : 8);
    }
}

static double drained(const fc_peer_limit *l, const slot *s, uint64_t now_ns)
{
    double gone = now_ns > s->last_ns ? (double)(now_ns - s->last_ns) * l->per_ns : 0;
    return s->level > gone ? s->level - gone : 0;
}

static slot *find(fc_peer_limit *l, const uint8_t key[16])
{
    for (size_t i = 0; i < l->n; i++)
        if (l->slots[i].used && memcmp(l->slots[i].peer, key, 16) == 0) return &l->slots[i];
    return NULL;
}

bool fc_peer_limit_blocked(fc_peer_limit *l, const struct sockaddr *peer, uint64_t now_ns)
{
    uint8_t key[16];
    peer_key(peer, key);
    slot *s = find(l, key);
    /* A try is allowed only when its failure would still fit in the
     * bucket. (Allowing it whenever the bucket is not quite full let a peer
     * that failed `burst` times a few milliseconds apart try again at once,
     * since the bucket had drained by a hair.) The slack absorbs rounding
     * in the drain, so a try comes back after exactly 1 / per_sec. */
    if (!s || drained(l, s, now_ns) <= l->burst - 1 + 1e-6) return false;
    l->stats.refused++;
    return true;
}

void fc_peer_limit_failed(fc_peer_limit *l, const struct sockaddr *peer, uint64_t now_ns)
{
    uint8_t key[16];
    peer_key(peer, key);
    l->stats.failures++;
    slot *s = find(l, key);
    if (!s) {
        /* A free slot, one that has drained (a peer that stopped failing
         * long enough ago is forgotten at no cost), or else the oldest. */
        slot *oldest = &l->slots[0];
        for (size_t i = 0; i < l->n && !s; i++) {
            slot *c = &l->slots[i];
            if (!c->used || drained(l, c, now_ns) == 0)
                s = c;
            else if (c->last_ns < oldest->last_ns)
                oldest = c;
        }
        if (!s) {
            s = oldest;
            l->stats.evicted++;
        }
        if (!s->used) l->stats.peers++;
        memcpy(s->peer, key, 16);
        s->used = true;
        s->level = 0;
        s->last_ns = now_ns;
    }
    s->level = drained(l, s, now_ns) + 1;
    s->last_ns = now_ns;
}

void fc_peer_limit_stats_get(const fc_peer_limit *l, fc_peer_limit_stats *out)
{
    *out = l->stats;
}
