/* The kernel's floor for fanning a stream out over TCP: what one thread
 * pays to write one message of SIZE bytes to each of N loopback sockets,
 * FPS times a second, with nothing else around it — no WebSocket library,
 * no event loop, no queues. bench/send-floor.mjs runs it beside framecast's
 * own fan-out (bench/fanout-ws.mjs) so the two are measured in one run.
 *
 *   send-floor --subscribers N --bytes SIZE [--fps 30] [--seconds 10]
 *              [--mode send|uring]
 *
 * send:  one send() per message, as framecast's write path does when a
 *        socket has room (docs/architecture.md, "Writing a WebSocket").
 * uring: every socket's message of a tick in one io_uring submission, the
 *        batching the fan-out would need to pay one system call per frame
 *        instead of one per subscriber (built only where liburing is).
 *
 * The receivers are a child process (epoll, read and discard), so their CPU
 * is not counted; on loopback the receiving side's TCP processing runs in
 * the sender's context and is counted, as it is for framecast. The sender's
 * CPU is its process CPU clock (io_uring's worker threads included) over the
 * window after one second of warm-up. Prints one JSON object. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef FC_HAVE_URING
#include <liburing.h>
#endif

struct options {
    int subscribers;
    size_t bytes;
    int fps;
    double seconds;
    bool uring;
};

struct tally {
    uint64_t sent;   /* whole messages written */
    uint64_t short_; /* messages the socket had no room for (or part of) */
};

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static int parse(int argc, char **argv, struct options *o)
{
    *o = (struct options){.subscribers = 100, .bytes = 14706, .fps = 30, .seconds = 10};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--subscribers"))
            o->subscribers = atoi(v);
        else if (!strcmp(k, "--bytes"))
            o->bytes = (size_t)atol(v);
        else if (!strcmp(k, "--fps"))
            o->fps = atoi(v);
        else if (!strcmp(k, "--seconds"))
            o->seconds = atof(v);
        else if (!strcmp(k, "--mode"))
            o->uring = !strcmp(v, "uring");
        else
            return -1;
    }
    if (argc % 2 == 0 || o->subscribers < 1 || o->subscribers > 4096 || o->bytes < 1 ||
        o->bytes > (16u << 20) || o->fps < 1 || o->seconds <= 0)
        return -1;
    return 0;
}

/* The child: connect every receiver, then read and discard until the
 * sender closes them all. */
static void receive(int port, int n)
{
    int ep = epoll_create1(0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
            die("connect");
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    static char buf[256 << 10];
    struct epoll_event evs[64];
    for (int open = n; open > 0;) {
        int k = epoll_wait(ep, evs, 64, -1);
        for (int i = 0; i < k; i++) {
            ssize_t r;
            while ((r = read(evs[i].data.fd, buf, sizeof buf)) > 0) {
            }
            if (r == 0) {
                close(evs[i].data.fd);
                open--;
            }
        }
    }
    _exit(0);
}

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 4096) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        die("listen");
    *port = ntohs(a.sin_port);
    return fd;
}

/* Accept the receivers as framecast's sockets are: non-blocking, Nagle off. */
static void accept_all(int lfd, int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        fds[i] = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
        if (fds[i] < 0) die("accept");
        int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
}

static void send_tick(const int *fds, int n, const char *msg, size_t len, struct tally *t)
{
    for (int i = 0; i < n; i++) {
        ssize_t w = send(fds[i], msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w == (ssize_t)len)
            t->sent++;
        else
            t->short_++;
    }
}

#ifdef FC_HAVE_URING
static void uring_tick(struct io_uring *ring, const int *fds, int n, const char *msg, size_t len,
                       struct tally *t)
{
    for (int i = 0; i < n; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
        io_uring_prep_send(sqe, fds[i], msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    io_uring_submit_and_wait(ring, (unsigned)n);
    struct io_uring_cqe *cqe;
    for (int i = 0; i < n; i++) {
        io_uring_wait_cqe(ring, &cqe);
        if (cqe->res == (int)len)
            t->sent++;
        else
            t->short_++;
        io_uring_cqe_seen(ring, cqe);
    }
}
#endif

/* Pace ticks on absolute deadlines, as a 30 fps stream publishes. */
static void run(const struct options *o, const int *fds, double *cpu, struct tally *counted)
{
    char *msg = malloc(o->bytes);
    memset(msg, 0x5a, o->bytes);
#ifdef FC_HAVE_URING
    struct io_uring ring;
    if (o->uring && io_uring_queue_init((unsigned)o->subscribers, &ring, 0) < 0) die("io_uring");
#endif
    const long period_ns = 1000000000L / o->fps;
    const int warm = o->fps, ticks = warm + (int)(o->seconds * o->fps);
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    struct tally t = {0};
    double cpu0 = 0;
    for (int k = 0; k < ticks; k++) {
        if (k == warm) {
            t = (struct tally){0};
            cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        }
#ifdef FC_HAVE_URING
        if (o->uring)
            uring_tick(&ring, fds, o->subscribers, msg, o->bytes, &t);
        else
#endif
            send_tick(fds, o->subscribers, msg, o->bytes, &t);
        next.tv_nsec += period_ns;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
    }
    *cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    *counted = t;
    free(msg);
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: send-floor --subscribers N --bytes SIZE [--fps 30] "
                        "[--seconds 10] [--mode send|uring]\n");
        return 2;
    }
#ifndef FC_HAVE_URING
    if (o.uring) {
        fprintf(stderr, "send-floor: built without liburing; --mode uring is not here\n");
        return 2;
    }
#endif
    signal(SIGPIPE, SIG_IGN);
    int port, lfd = listen_loopback(&port);
    pid_t child = fork();
    if (child == 0) receive(port, o.subscribers);
    int *fds = calloc((size_t)o.subscribers, sizeof *fds);
    accept_all(lfd, fds, o.subscribers);
    double cpu;
    struct tally t;
    run(&o, fds, &cpu, &t);
    for (int i = 0; i < o.subscribers; i++)
        close(fds[i]);
    waitpid(child, NULL, 0);
    printf("{\"mode\":\"%s\",\"subscribers\":%d,\"bytes\":%zu,\"fps\":%d,\"seconds\":%.1f,"
           "\"messages\":%llu,\"short\":%llu,\"cpu_percent\":%.2f,\"us_per_message\":%.2f}\n",
           o.uring ? "uring" : "send", o.subscribers, o.bytes, o.fps, o.seconds,
           (unsigned long long)t.sent, (unsigned long long)t.short_, 100 * cpu / o.seconds,
           t.sent ? 1e6 * cpu / (double)t.sent : 0.0);
    return 0;
}
