#include "transport/conntrack.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"

#define PEER_BUCKETS 1024 /* a power of two */

typedef struct fc_tracked tracked;

/* Connections from one peer: an IPv4 address, or an IPv6 /64. */
typedef struct peer {
    struct peer *next;          /* in its hash bucket */
    struct peer *lprev, *lnext; /* in by_pending[npending], while npending > 0 */
    tracked *phead, *ptail;     /* its pending connections, oldest first */
    uint8_t key[9];             /* family byte, then 4 or 8 address bytes */
    unsigned count, npending;
} peer;

struct fc_tracked {
    fc_conntrack *t;
    tracked *prev, *next;   /* all pending connections, in the order they became so */
    tracked *pprev, *pnext; /* its peer's pending connections, the same order */
    peer *p;
    void *conn;
    void (*on_gone)(void *arg); /* fc_tracked_on_gone */
    void *gone_arg;
    uint64_t since_ns; /* pending since */
    bool pending, closing, bound, gone;
};

/* Pending connections are kept twice: all of them in the order they became
 * pending (the header deadline takes them from the front), and each peer's
 * own, with the peers listed by how many they have (by_pending[n]: the peers
 * with n), so that the peer with the most is found at once. Making room
 * takes the oldest connection of that peer: a peer can only push out its
 * own, however many connections it opens, unless it holds no more than the
 * others (then it is pushed out in turn with them). A client that sends its
 * request at once has one pending connection at most, for a moment, and is
 * never the one taken. */
struct fc_conntrack {
    fc_loop *loop;
    fc_conntrack_limits lim;
    fc_conntrack_close_fn close;
    void *ctx;
    peer *buckets[PEER_BUCKETS];
    peer **by_pending; /* max_pending + 1 list heads */
    unsigned most;     /* the highest n with a peer in by_pending[n] */
    tracked *head, *tail;
    uint64_t open, pending, closing;
    uint64_t refused[FC_CONN_REFUSED_COUNT], closed[FC_CONN_CLOSED_COUNT];
    uv_timer_t timer;
    bool shutting, timer_closed;
};

/* IPv4-mapped IPv6 addresses are the IPv4 peer they stand for. */
static void peer_key(const struct sockaddr_storage *ss, uint8_t key[9])
{
    memset(key, 0, 9);
    if (ss->ss_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, 12) == 0) {
            key[0] = 4;
            memcpy(key + 1, a + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a, 8);
        }
    } else {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    }
}

static size_t bucket_of(const uint8_t key[9])
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (int i = 0; i < 9; i++)
        h = (h ^ key[i]) * 16777619u;
    return h & (PEER_BUCKETS - 1);
}

static peer *find_peer(fc_conntrack *t, const uint8_t key[9])
{
    for (peer *p = t->buckets[bucket_of(key)]; p; p = p->next)
        if (memcmp(p->key, key, 9) == 0) return p;
    return NULL;
}

static void drop_peer(fc_conntrack *t, peer *p)
{
    if (--p->count) return;
    peer **pp = &t->buckets[bucket_of(p->key)];
    while (*pp != p)
        pp = &(*pp)->next;
    *pp = p->next;
    free(p);
}

/* ---- peers by their number of pending connections ---- */

static void list_remove(fc_conntrack *t, peer *p)
{
    if (p->lprev)
        p->lprev->lnext = p->lnext;
    else
        t->by_pending[p->npending] = p->lnext;
    if (p->lnext) p->lnext->lprev = p->lprev;
    p->lprev = p->lnext = NULL;
}

/* At the front of its new list: of the peers with most, the one whose count
 * went up last (the one just accepted) is the first to make room. */
static void list_push(fc_conntrack *t, peer *p)
{
    p->lprev = NULL;
    p->lnext = t->by_pending[p->npending];
    if (p->lnext) p->lnext->lprev = p;
    t->by_pending[p->npending] = p;
}

static void peer_count(fc_conntrack *t, peer *p, int delta)
{
    if (p->npending) list_remove(t, p);
    p->npending = (unsigned)((int)p->npending + delta);
    if (p->npending) list_push(t, p);
    if (p->npending > t->most) t->most = p->npending;
    while (t->most && !t->by_pending[t->most])
        t->most--;
}

/* ---- the pending lists ---- */

static void on_deadline(uv_timer_t *timer);

static void rearm(fc_conntrack *t)
{
    if (t->shutting) return;
    if (!t->head) {
        uv_timer_stop(&t->timer);
        return;
    }
    uint64_t due = t->head->since_ns + (uint64_t)t->lim.header_ms * 1000000u, now = fc_now_ns();
    uv_timer_start(&t->timer, on_deadline, due > now ? (due - now + 999999) / 1000000 : 0, 0);
}

static void add_pending(tracked *c)
{
    fc_conntrack *t = c->t;
    peer *p = c->p;
    c->since_ns = fc_now_ns();
    c->pending = true;
    c->prev = t->tail;
    c->next = NULL;
    if (t->tail)
        t->tail->next = c;
    else
        t->head = c;
    t->tail = c;
    c->pprev = p->ptail;
    c->pnext = NULL;
    if (p->ptail)
        p->ptail->pnext = c;
    else
        p->phead = c;
    p->ptail = c;
    t->pending++;
    peer_count(t, p, +1);
    if (t->head == c) rearm(t);
}

static void remove_pending(tracked *c)
{
    if (!c->pending) return;
    fc_conntrack *t = c->t;
    peer *p = c->p;
    bool was_head = t->head == c;
    if (c->prev)
        c->prev->next = c->next;
    else
        t->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        t->tail = c->prev;
    if (c->pprev)
        c->pprev->pnext = c->pnext;
    else
        p->phead = c->pnext;
    if (c->pnext)
        c->pnext->pprev = c->pprev;
    else
        p->ptail = c->pprev;
    c->prev = c->next = c->pprev = c->pnext = NULL;
    c->pending = false;
    t->pending--;
    peer_count(t, p, -1);
    if (was_head) rearm(t);
}

/* Off the pending lists and asked to close; it still counts until gone. */
static void give_up(tracked *c, fc_conn_closed why)
{
    fc_conntrack *t = c->t;
    remove_pending(c);
    c->closing = true;
    t->closing++;
    t->closed[why]++;
    if (c->bound) t->close(c->conn, t->ctx);
}

/* Room for one more: the oldest pending connection of the peer with most. */
static bool make_room(fc_conntrack *t)
{
    if (!t->most) return false;
    give_up(t->by_pending[t->most]->phead, FC_CONN_CLOSED_EVICTED);
    return true;
}

static void on_deadline(uv_timer_t *timer)
{
    fc_conntrack *t = timer->data;
    uint64_t now = fc_now_ns(), limit = (uint64_t)t->lim.header_ms * 1000000u;
    while (t->head && t->head->since_ns + limit <= now)
        give_up(t->head, FC_CONN_CLOSED_HEADER_TIMEOUT);
    rearm(t);
}

/* ---- the interface ---- */

int fc_conntrack_new(fc_loop *loop, const fc_conntrack_limits *limits, fc_conntrack_close_fn close,
                     void *ctx, fc_conntrack **out)
{
    if (!limits->max_total || !limits->max_pending || !limits->max_per_peer || !limits->header_ms)
        return -EINVAL;
    fc_conntrack *t = calloc(1, sizeof *t);
    peer **lists = calloc((size_t)limits->max_pending + 1, sizeof *lists);
    if (!t || !lists) {
        free(t);
        free(lists);
        return -ENOMEM;
    }
    t->loop = loop;
    t->lim = *limits;
    t->close = close;
    t->ctx = ctx;
    t->by_pending = lists;
    uv_timer_init(&loop->uv, &t->timer);
    t->timer.data = t;
    *out = t;
    return 0;
}

int fc_conntrack_admit(fc_conntrack *t, const struct sockaddr_storage *ss, tracked **out,
                       fc_conn_refused *why)
{
    uint8_t key[9];
    peer_key(ss, key);
    peer *p = find_peer(t, key);
    if (p && p->count >= t->lim.max_per_peer) {
        t->refused[ *why = FC_CONN_REFUSED_PEER]++;
        return -ENOSPC;
    }
    /* Room is made from the pending connections only: an active one (a
     * request being answered, a viewer) is never pushed out by a new one.
     * Those given up on count until lws has closed them, within a loop turn,
     * so what is open never passes the bound by more than one accept burst. */
    if ((t->open - t->closing >= t->lim.max_total && !make_room(t)) ||
        t->open >= (uint64_t)t->lim.max_total + FC_CONNTRACK_CLOSING_MAX) {
        t->refused[ *why = FC_CONN_REFUSED_FULL]++;
        return -ENOSPC;
    }
    if (t->pending >= t->lim.max_pending) make_room(t);
    tracked *c = calloc(1, sizeof *c);
    if (c && !p && (p = calloc(1, sizeof *p))) {
        memcpy(p->key, key, 9);
        size_t b = bucket_of(key);
        p->next = t->buckets[b];
        t->buckets[b] = p;
    }
    if (!c || !p) {
        free(c);
        t->refused[ *why = FC_CONN_REFUSED_FULL]++; /* out of memory: as good as full */
        return -ENOSPC;
    }
    p->count++;
    c->t = t;
    c->p = p;
    t->open++;
    add_pending(c);
    *out = c;
    return 0;
}

static void release(tracked *c)
{
    fc_conntrack *t = c->t;
    if (c->on_gone) c->on_gone(c->gone_arg);
    remove_pending(c);
    if (c->closing) t->closing--;
    t->open--;
    drop_peer(t, c->p);
    free(c);
    if (t->shutting && t->open == 0 && t->timer_closed) {
        free(t->by_pending);
        free(t);
    }
}

void fc_tracked_bind(tracked *c, void *conn)
{
    c->bound = true;
    c->conn = conn;
    if (!conn || c->gone) {
        release(c);
        return;
    }
    /* Given up on while the owner was taking it: close it now. */
    if (c->closing) c->t->close(conn, c->t->ctx);
}

void fc_tracked_on_gone(tracked *c, void (*fn)(void *arg), void *arg)
{
    c->on_gone = fn;
    c->gone_arg = arg;
}

void fc_tracked_active(tracked *c)
{
    remove_pending(c);
}

void fc_tracked_pending(tracked *c)
{
    if (c->pending || c->closing) return;
    /* A kept-alive connection is bounded as a new one is: without room made,
     * a peer's count could pass max_pending (and its list, by_pending). */
    if (c->t->pending >= c->t->lim.max_pending) make_room(c->t);
    add_pending(c);
}

void fc_tracked_gone(tracked *c)
{
    if (!c->bound) {
        c->gone = true;
        return;
    }
    release(c);
}

void fc_conntrack_get_stats(const fc_conntrack *t, fc_conntrack_stats *out)
{
    out->open = t->open;
    out->pending = t->pending;
    memcpy(out->refused, t->refused, sizeof out->refused);
    memcpy(out->closed, t->closed, sizeof out->closed);
}

static void on_timer_closed(uv_handle_t *h)
{
    fc_conntrack *t = h->data;
    t->timer_closed = true;
    if (t->open == 0) {
        free(t->by_pending);
        free(t);
    }
}

void fc_conntrack_close(fc_conntrack *t)
{
    if (!t || t->shutting) return;
    t->shutting = true;
    uv_close((uv_handle_t *)&t->timer, on_timer_closed);
}
