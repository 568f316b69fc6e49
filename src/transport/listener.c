#include "transport/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "transport/host.h"

#define LISTEN_BACKLOG 511
/* Connections taken per readiness event on one socket: enough to drain a
 * burst, few enough that one socket cannot hold the loop. */
#define ACCEPTS_PER_WAKE 64
/* Out of file descriptors: accepting pauses this long rather than spin on a
 * listening socket that stays readable. */
#define EMFILE_PAUSE_MS 100

typedef struct listen_sock {
    uv_poll_t poll;
    int fd;
    char address[64];
    struct fc_listener *owner;
} listen_sock;

struct fc_listener {
    fc_loop *loop;
    fc_listener_accept_fn cb;
    void *ctx;
    fc_conntrack *track;
    fc_conntrack_limits lim;
    listen_sock sock[FC_LISTEN_MAX];
    size_t n;
    int port;
    uv_timer_t pause;
    int open_handles; /* closed when it reaches 0 after fc_listener_close */
    bool closing;
    fc_ratelimit emfile_log;
};

void fc_sockaddr_format(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        snprintf(out, outlen, "[%s]:%d", ip, ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, outlen, "%s:%d", ip, ntohs(a->sin_port));
    }
}

static void set_port(struct sockaddr *sa, int port)
{
    if (sa->sa_family == AF_INET6)
        ((struct sockaddr_in6 *)sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)sa)->sin_port = htons((uint16_t)port);
}

static void on_readable(uv_poll_t *h, int status, int events);

/* A connection past the limits: one short answer, best effort (the socket
 * is new, so it takes it), then closed. Nobody else ever sees it. */
static void refuse(fc_listener *l, int fd, fc_conn_refused why)
{
    char body[160], msg[320];
    if (why == FC_CONN_REFUSED_PEER)
        snprintf(body, sizeof body,
                 "too many connections from your address: %u at once "
                 "(--max-peer-connections)\n",
                 l->lim.max_per_peer);
    else
        snprintf(body, sizeof body, "server full: %u connections at once; try again\n",
                 l->lim.max_total);
    int n = snprintf(msg, sizeof msg,
                     "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s",
                     strlen(body), body);
    (void)send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    close(fd);
}

static void on_pause_over(uv_timer_t *t)
{
    fc_listener *l = t->data;
    for (size_t i = 0; i < l->n && !l->closing; i++)
        uv_poll_start(&l->sock[i].poll, UV_READABLE, on_readable);
}

static void on_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    listen_sock *s = h->data;
    fc_listener *l = s->owner;
    if (status < 0) return;
    for (int i = 0; i < ACCEPTS_PER_WAKE; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof peer;
        int fd = accept4(s->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            fc_tracked *t;
            fc_conn_refused why;
            if (fc_conntrack_admit(l->track, &peer, &t, &why) == 0)
                l->cb(fd, &peer, t, l->ctx);
            else
                refuse(l, fd, why);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            uint64_t suppressed = 0;
            if (fc_ratelimit_allow(&l->emfile_log, fc_now_ns(), &suppressed))
                fc_warn("listener %s: cannot accept (%s); pausing %d ms (%llu more since the "
                        "last line)",
                        s->address, strerror(errno), EMFILE_PAUSE_MS,
                        (unsigned long long)suppressed);
            for (size_t k = 0; k < l->n; k++)
                uv_poll_stop(&l->sock[k].poll);
            uv_timer_start(&l->pause, on_pause_over, EMFILE_PAUSE_MS, 0);
        }
        return; /* EAGAIN: drained */
    }
}

static int bind_one(fc_listener *l, const struct addrinfo *ai, int port, char *err, size_t errlen)
{
    listen_sock *s = &l->sock[l->n];
    struct sockaddr_storage addr;
    memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
    set_port((struct sockaddr *)&addr, port);
    fc_sockaddr_format(&addr, s->address, sizeof s->address);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s", s->address, strerror(e));
        return -e;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, ai->ai_addrlen) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        int e = errno;
        snprintf(err, errlen, "cannot listen on %s: %s%s", s->address, strerror(e),
                 e == EADDRNOTAVAIL ? " (not an address of this machine)" : "");
        close(fd);
        return -e;
    }
    socklen_t alen = sizeof addr;
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    fc_sockaddr_format(&addr, s->address, sizeof s->address);
    if (l->port == 0)
        l->port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                   : ((struct sockaddr_in *)&addr)->sin_port);
    s->fd = fd;
    s->owner = l;
    int rc = uv_poll_init_socket(&l->loop->uv, &s->poll, fd);
    if (rc != 0) {
        snprintf(err, errlen, "cannot watch %s: %s", s->address, uv_strerror(rc));
        close(fd);
        return rc;
    }
    s->poll.data = s;
    l->open_handles++;
    l->n++;
    uv_poll_start(&s->poll, UV_READABLE, on_readable);
    return 0;
}

int fc_listener_open(fc_loop *loop, const char *host, int port, const fc_conntrack_limits *limits,
                     fc_listener_accept_fn cb, fc_conntrack_close_fn close, void *ctx,
                     fc_listener **out, char *err, size_t errlen)
{
    *out = NULL;
    struct addrinfo *res;
    int g = fc_host_resolve(host, &res);
    if (g != 0) {
        snprintf(err, errlen, "cannot listen on '%s': %s", host, gai_strerror(g));
        return -EINVAL;
    }
    fc_listener *l = calloc(1, sizeof *l);
    if (!l) {
        freeaddrinfo(res);
        snprintf(err, errlen, "listener: out of memory");
        return -ENOMEM;
    }
    l->loop = loop;
    l->cb = cb;
    l->ctx = ctx;
    l->lim = *limits;
    int trc = fc_conntrack_new(loop, limits, close, ctx, &l->track);
    if (trc != 0) {
        freeaddrinfo(res);
        free(l);
        snprintf(err, errlen, "%s",
                 trc == -EINVAL ? "listener: connection limits and the header timeout must be "
                                  "at least 1"
                                : "listener: out of memory");
        return trc;
    }
    l->port = port;
    l->emfile_log = (fc_ratelimit)FC_RATELIMIT_INIT(5);
    uv_timer_init(&loop->uv, &l->pause);
    l->pause.data = l;
    l->open_handles = 1;
    int rc = 0;
    for (const struct addrinfo *ai = res; ai && rc == 0; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
        bool dup = false; /* getaddrinfo repeats addresses per protocol */
        for (size_t i = 0; i < l->n; i++) {
            struct sockaddr_storage a;
            memcpy(&a, ai->ai_addr, ai->ai_addrlen);
            set_port((struct sockaddr *)&a, l->port);
            char text[64];
            fc_sockaddr_format(&a, text, sizeof text);
            dup |= strcmp(text, l->sock[i].address) == 0;
        }
        if (dup) continue;
        if (l->n == FC_LISTEN_MAX) break;
        rc = bind_one(l, ai, l->port, err, errlen);
    }
    freeaddrinfo(res);
    if (rc == 0 && l->n == 0) {
        snprintf(err, errlen, "cannot listen on '%s': it has no IPv4 or IPv6 address", host);
        rc = -EADDRNOTAVAIL;
    }
    *out = l;
    if (rc != 0) fc_listener_close(l);
    if (rc != 0) *out = NULL;
    return rc;
}

int fc_listener_port(const fc_listener *l)
{
    return l->port;
}

size_t fc_listener_count(const fc_listener *l)
{
    return l->n;
}

const char *fc_listener_address(const fc_listener *l, size_t i)
{
    return i < l->n ? l->sock[i].address : "";
}

static void on_handle_closed(uv_handle_t *h)
{
    fc_listener *l;
    if (h->type == UV_TIMER) {
        l = h->data;
    } else {
        listen_sock *s = h->data;
        l = s->owner;
        close(s->fd);
    }
    if (--l->open_handles == 0) free(l);
}

void fc_listener_defer_accept(fc_listener *l, int secs)
{
    for (size_t i = 0; i < l->n; i++)
        setsockopt(l->sock[i].fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
}

void fc_listener_get_stats(const fc_listener *l, fc_conntrack_stats *out)
{
    fc_conntrack_get_stats(l->track, out);
}

void fc_listener_close(fc_listener *l)
{
    if (!l || l->closing) return;
    l->closing = true;
    /* The records of connections still open go as lws closes them. */
    fc_conntrack_close(l->track);
    for (size_t i = 0; i < l->n; i++)
        uv_close((uv_handle_t *)&l->sock[i].poll, on_handle_closed);
    uv_close((uv_handle_t *)&l->pause, on_handle_closed);
}
