/* POST /upload as framecast drives it: each input is the bytes a client
 * sends on one connection (request line, headers, the multipart body, and
 * whatever follows), written to a real framecast HTTP server in this process
 * over loopback, which parses them with lws (its HTTP parser and lws_spa,
 * the multipart parser) and framecast's checks around them (server.c's
 * framing, multipart.h, upload.c, the upload store). The client half-closes
 * after its bytes and reads until the server closes; every answer must be
 * complete HTTP. Stored files expire after a second, so runs of millions of
 * inputs keep the scratch media directory small. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "avatar/generator.h"
#include "avatar/media.h"
#include "avatar/session.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"
#include "fuzz.h"
#include "stream/registry.h"
#include "transport/listener.h"
#include "transport/server.h"

/* Says which check failed (the aborts are otherwise one site). */
static void fail(const char *why)
{
    fprintf(stderr, "fuzz_multipart: %s\n", why);
    abort();
}

static fc_loop loop;
static fc_pool *pool;
static fc_metrics *metrics;
static fc_media media;
static fc_generator_lib gen;
static fc_avatar_env avatar;
static fc_stream_set streams;
static fc_http_server *srv;
static uv_timer_t watchdog;
static int port;

static void on_watchdog(uv_timer_t *t)
{
    (void)t; /* wakes uv_run so the client side is looked at again */
}

static void start_server(void)
{
    char dir[] = "/tmp/fc-fuzz-upload-XXXXXX", err[600];
    if (!mkdtemp(dir) || fc_loop_init(&loop) != 0 || fc_pool_create(1, &pool) != 0)
        fail("cannot set up");
    metrics = fc_metrics_new();
    int q[FC_TIER_COUNT] = {85, 75, 60};
    if (!metrics || fc_media_open(dir, &media, err, sizeof err) != 0 ||
        fc_generator_load(NULL, &gen, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_multipart: %s\n", err);
        abort();
    }
    fc_avatar_env_init(&avatar, &loop, pool, gen.gen, &media, q, 8);
    fc_http_server_config cfg = {
        .host = "127.0.0.1",
        .pool = pool,
        .queue_default = 8,
        .ping_secs = 10,
        .hangup_secs = 20,
        .max_clients = 64,
        .max_pending = 64,
        .max_peer_connections = 1024,
        .header_timeout_s = 10,
        .avatar = &avatar,
        .media = &media,
        .max_upload_image = 64 << 10,
        .max_upload_audio = 64 << 10,
        .upload_timeout_s = 60,
        .upload_min_rate = 1,
        .upload_max_files = 1 << 20,
        .upload_quota = 1ull << 40,
        .upload_expiry_s = 1,
    };
    if (fc_http_server_start(&loop, &cfg, &streams, metrics, &srv, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_multipart: %s\n", err);
        abort();
    }
    port = fc_listener_port(fc_http_server_listener(srv));
    uv_timer_init(&loop.uv, &watchdog);
}

/* Some complete responses, then the end of the stream: each status line is
 * followed by its headers' end. */
static void check_answers(const char *got, size_t n)
{
    const char *p = got, *end = got + n;
    while (p < end) {
        if (end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0) fail("not a status line");
        if (memcmp(p + 9, "101", 3) == 0) return; /* a WebSocket from here on */
        const char *h = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!h) fail("headers cut short");
        const char *cl = memmem(p, (size_t)(h - p), "content-length: ", 16);
        size_t len = cl ? strtoul(cl + 16, NULL, 10) : 0;
        size_t rest = (size_t)(end - (h + 4));
        /* A HEAD answer has a length and no body: what follows it is the
         * next status line, or nothing. */
        if (len && (rest == 0 || (rest >= 7 && memcmp(h + 4, "HTTP/1.", 7) == 0))) len = 0;
        if (rest < len) fail("a body cut short");
        p = h + 4 + len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (256 << 10)) return 0;
    if (!srv) start_server();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS))
        fail("cannot connect");
    static char got[1 << 20];
    size_t off = 0, n = 0;
    bool eof = false;
    for (int turns = 0; !eof && turns < 20000; turns++) {
        if (off < size) {
            ssize_t w = send(fd, data + off, size - off, MSG_NOSIGNAL);
            if (w > 0) off += (size_t)w;
            if (w < 0 && errno != EAGAIN && errno != ENOTCONN) off = size; /* closed on us */
            if (off == size) shutdown(fd, SHUT_WR);
        } else if (size == 0 && off == 0) {
            shutdown(fd, SHUT_WR);
            off = 1;
        }
        for (;;) {
            ssize_t r = recv(fd, got + n, sizeof got - n, 0);
            if (r > 0 && n + (size_t)r < sizeof got) {
                n += (size_t)r;
                continue;
            }
            if (r == 0 || (r < 0 && errno != EAGAIN)) eof = true;
            break;
        }
        if (eof) break;
        uv_timer_start(&watchdog, on_watchdog, 5, 0);
        uv_run(&loop.uv, UV_RUN_ONCE);
    }
    close(fd);
    if (!eof) fail("the server never finished with the connection");
    check_answers(got, n);
    return 0;
}
