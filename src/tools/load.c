#include "tools/load.h"

#include <errno.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/protocol.h"

/* Whole text messages the client keeps to parse (hello, errors). */
#define MAX_TEXT 4096
/* How long closing clients get for their close handshake before the sockets
 * are simply dropped. */
#define CLOSE_GRACE_MS 2000
/* libwebsockets reads this much per recv() and hands payload to us in chunks
 * of up to RX_CHUNK, so a 100 KB frame costs a couple of callbacks, not 25. */
#define READ_BUF 65536
#define RX_CHUNK 65536

/* ----------------------------------------------------------------- state */

typedef struct client {
    fc_load_client pub;
    fc_load *load;
    struct lws *wsi;
    uint64_t connect_ns;
    bool done; /* its wsi is gone */
    bool got_hello;
    bool closing; /* we asked for the close */
    bool peer_closed;
    /* the message being received */
    bool in_msg, msg_binary;
    size_t msg_len;
    uint8_t head[FC_HEADER_SIZE + 2]; /* header and the first payload bytes */
    uint8_t tail[2];                  /* the last two bytes so far */
    size_t text_len;
    char text[MAX_TEXT + 1];
} client;

struct fc_load {
    fc_load_config cfg;
    uv_loop_t *uv;
    struct lws_context *ctx;
    struct lws_protocols protocols[2];
    client *clients;
    int next;       /* next client to connect */
    int connecting; /* handshakes in flight */
    int settled;    /* clients past their handshake (open or failed) */
    int done;       /* clients whose connection is gone */
    bool ready_sent, stopping, finished;
    uv_timer_t pump;  /* runs connects and completion outside lws callbacks */
    uv_timer_t grace; /* bounds the close handshakes */
};

static void on_pump(uv_timer_t *t);

/* lws must not be re-entered from its own callbacks (connect, destroy), so
 * follow-up work runs from a zero-delay timer instead. */
static void schedule(fc_load *l)
{
    if (!l->finished) uv_timer_start(&l->pump, on_pump, 0, 0);
}

static void fail(client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(client *c, const char *fmt, ...)
{
    if (c->pub.error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->pub.error, sizeof c->pub.error, fmt, ap);
    va_end(ap);
    c->pub.state = FC_LOAD_FAILED;
}

/* A client left CONNECTING (handshake done, or gone before it was). */
static void settle(client *c)
{
    fc_load *l = c->load;
    l->connecting--;
    l->settled++;
    schedule(l);
}

static void mark_done(client *c)
{
    if (c->done) return;
    fc_load *l = c->load;
    bool was_connecting = c->pub.state == FC_LOAD_CONNECTING ||
                          (c->pub.state == FC_LOAD_FAILED && c->pub.connect_ms < 0);
    if (c->pub.state == FC_LOAD_CONNECTING && !c->pub.error[0])
        fail(c, "connection closed during the handshake");
    if (c->pub.state == FC_LOAD_OPEN) c->pub.state = FC_LOAD_CLOSED;
    c->done = true;
    c->wsi = NULL;
    if (was_connecting) settle(c);
    l->done++;
    schedule(l);
}

/* ------------------------------------------------------------- messages */

static unsigned tier_bit(const char *q)
{
    if (!q) return 0;
    if (strcmp(q, "high") == 0) return 1;
    if (strcmp(q, "medium") == 0) return 2;
    if (strcmp(q, "low") == 0) return 4;
    return 0;
}

static int on_text(client *c)
{
    json_error_t jerr;
    json_t *msg = json_loadb(c->text, c->text_len, 0, &jerr);
    const char *type = msg ? json_string_value(json_object_get(msg, "type")) : NULL;
    int rc = 0;
    if (!type) {
        fail(c, "malformed text message (%s): %.60s", msg ? "no string \"type\"" : jerr.text,
             c->text);
        rc = -1;
    } else if (strcmp(type, "hello") == 0) {
        const char *codec = json_string_value(json_object_get(msg, "codec"));
        if (!codec || strlen(codec) >= sizeof c->pub.codec) {
            fail(c, "hello without a codec");
            rc = -1;
        } else {
            snprintf(c->pub.codec, sizeof c->pub.codec, "%s", codec);
            c->got_hello = true;
        }
    } else if (strcmp(type, "error") == 0) {
        const char *m = json_string_value(json_object_get(msg, "message"));
        fail(c, "server error: %s", m ? m : "(no message)");
    } else if (strcmp(type, "tier") == 0) {
        /* The tier the frames that follow are in (docs/protocol.md). */
        c->pub.tiers_seen |= tier_bit(json_string_value(json_object_get(msg, "tier")));
    }
    json_decref(msg);
    return rc;
}

static int on_frame(client *c)
{
    fc_load_client *p = &c->pub;
    if (!c->got_hello) {
        fail(c, "binary message before the hello");
        return -1;
    }
    if (c->msg_len < FC_HEADER_SIZE) {
        fail(c,
             "truncated header: a %zu-byte message after frame %u (a frame starts with a "
             "16-byte header)",
             c->msg_len, p->last_id);
        return -1;
    }
    /* With exactly the header's bytes, fc_header_read fills every field and
     * reports -2 unless the header announces an empty payload; the length is
     * compared with the whole message below. */
    fc_header h;
    fc_header_read(c->head, FC_HEADER_SIZE, &h);
    size_t payload = c->msg_len - FC_HEADER_SIZE;
    if (h.payload_len != payload) {
        fail(c, "length mismatch: frame %u header says %u payload bytes, message carries %zu",
             h.frame_id, h.payload_len, payload);
        return -1;
    }
    if (p->frames_total > 0 && h.frame_id <= p->last_id) {
        fail(c, "frame ids not increasing: frame %u after frame %u", h.frame_id, p->last_id);
        return -1;
    }
    if (strcmp(p->codec, "jpeg") == 0) {
        if (payload < 4 || c->head[16] != 0xFF || c->head[17] != 0xD8 || c->tail[0] != 0xFF ||
            c->tail[1] != 0xD9) {
            fail(c, "frame %u: payload of %zu bytes is not a JPEG (no SOI/EOI markers)", h.frame_id,
                 payload);
            return -1;
        }
    } else {
        fail(c, "hello announces codec '%s', which this client cannot check", p->codec);
        return -1;
    }
    uint64_t now = fc_now_ns();
    if (p->frames_total > 0 && h.frame_id > p->last_id + 1) p->gaps += h.frame_id - p->last_id - 1;
    if (p->first_frame_ms < 0) p->first_frame_ms = (double)(now - c->connect_ns) / 1e6;
    p->last_id = h.frame_id;
    p->frames_total++;
    if (p->frames == 0) p->first_ns = now;
    p->last_ns = now;
    p->frames++;
    p->bytes += c->msg_len;
    fc_lat_hist_add(&p->latency, (fc_wall_seconds() - h.timestamp) * 1e3);
    return 0;
}

static int on_receive(client *c, struct lws *wsi, const uint8_t *in, size_t len)
{
    if (!c->in_msg) {
        c->in_msg = true;
        c->msg_binary = lws_frame_is_binary(wsi);
        c->msg_len = 0;
        c->text_len = 0;
    }
    if (c->msg_binary) {
        if (c->msg_len < sizeof c->head) {
            size_t n = sizeof c->head - c->msg_len;
            memcpy(c->head + c->msg_len, in, n < len ? n : len);
        }
        if (len >= 2) {
            memcpy(c->tail, in + len - 2, 2);
        } else if (len == 1) {
            c->tail[0] = c->tail[1];
            c->tail[1] = in[0];
        }
    } else {
        if (c->text_len + len > MAX_TEXT) {
            fail(c, "text message larger than %d bytes", MAX_TEXT);
            return -1;
        }
        memcpy(c->text + c->text_len, in, len);
        c->text_len += len;
        c->text[c->text_len] = '\0';
    }
    c->msg_len += len;
    if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi)) return 0;
    c->in_msg = false;
    if (c->closing) return 0;
    return c->msg_binary ? on_frame(c) : on_text(c);
}

static void on_peer_close(client *c, const uint8_t *in, size_t len)
{
    c->peer_closed = true;
    if (c->closing || c->pub.error[0] || c->pub.stalled) return;
    int code = len >= 2 ? in[0] << 8 | in[1] : 0;
    fail(c, "closed by the server: code %d%s%.*s", code, len > 2 ? ", " : "",
         len > 2 ? (int)(len - 2) : 0, len > 2 ? (const char *)in + 2 : "");
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                    size_t len)
{
    client *c = user;
    switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        if (c) {
            fail(c, "cannot connect to ws://%s:%d%s: %s", c->load->cfg.host, c->load->cfg.port,
                 c->pub.path, in ? (const char *)in : "connection failed");
            mark_done(c);
        }
        return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        c->pub.state = FC_LOAD_OPEN;
        c->pub.connect_ms = (double)(fc_now_ns() - c->connect_ns) / 1e6;
        settle(c);
        if (c->pub.stalled) lws_rx_flow_control(wsi, 0);
        return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        return on_receive(c, wsi, in, len);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        on_peer_close(c, in, len);
        return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (c->closing) {
            lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, (unsigned char *)"done", 4);
            return -1;
        }
        return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
        if (c && !c->closing && !c->peer_closed && !c->pub.error[0] && !c->pub.stalled)
            fail(c, "connection dropped by the server without a close frame");
        return 0;
    case LWS_CALLBACK_WSI_DESTROY:
        if (c) mark_done(c);
        return 0;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------ lifecycle */

static void connect_one(fc_load *l, client *c)
{
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = l->ctx;
    ci.address = l->cfg.host;
    ci.port = l->cfg.port;
    ci.path = c->pub.path;
    ci.host = l->cfg.host;
    ci.origin = l->cfg.host;
    ci.ietf_version_or_minus_one = -1;
    ci.userdata = c;
    ci.pwsi = &c->wsi;
    /* No subprotocol goes on the wire (like a browser's `new WebSocket(url)`);
     * this only binds our callback. */
    ci.local_protocol_name = l->protocols[0].name;
    l->connecting++;
    c->connect_ns = fc_now_ns();
    if (!lws_client_connect_via_info(&ci) && !c->done) {
        fail(c, "cannot start a connection to ws://%s:%d%s", l->cfg.host, l->cfg.port, c->pub.path);
        mark_done(c);
    }
}

/* The handles live in the fc_load, which fc_load_free releases after uv_run. */
static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void finish(fc_load *l)
{
    l->finished = true;
    uv_timer_stop(&l->grace);
    /* Never from inside an lws callback: this runs from the pump timer. On a
     * foreign loop this only starts the teardown; fc_load_free finishes it. */
    lws_context_destroy(l->ctx);
    uv_close((uv_handle_t *)&l->pump, close_cb);
    uv_close((uv_handle_t *)&l->grace, close_cb);
    if (l->cfg.on_finished) l->cfg.on_finished(l, l->cfg.arg);
}

static void on_pump(uv_timer_t *t)
{
    fc_load *l = t->data;
    if (l->finished) return;
    while (!l->stopping && l->next < l->cfg.clients && l->connecting < l->cfg.max_connecting)
        connect_one(l, &l->clients[l->next++]);
    if (!l->ready_sent && l->settled == l->cfg.clients) {
        l->ready_sent = true;
        if (l->cfg.on_ready) l->cfg.on_ready(l, l->cfg.arg);
    }
    if (l->done == l->cfg.clients && !l->finished) finish(l);
}

static void on_grace(uv_timer_t *t)
{
    fc_load *l = t->data;
    if (!l->finished) finish(l);
}

static void log_emit(int level, const char *line)
{
    (void)level;
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        n--;
    fc_warn("lws: %.*s", (int)n, line);
}

int fc_load_raise_fd_limit(long fds, char *msg, size_t msglen)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        int e = errno;
        snprintf(msg, msglen, "cannot read the open-file limit: %s", strerror(e));
        return -e;
    }
    if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur >= fds) return 0;
    struct rlimit want = rl;
    want.rlim_cur = (rlim_t)fds;
    if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < fds)
        want.rlim_max = (rlim_t)fds; /* only root may; tried, then reported */
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) return 0;
    int e = errno;
    if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < fds) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(msg, msglen,
             "cannot raise the open-file limit to %ld (soft %ld, hard %ld): %s; fewer "
             "connections will succeed (raise it with `ulimit -n %ld`)",
             fds, (long)rl.rlim_cur, (long)rl.rlim_max, strerror(e), fds);
    return -e;
}

int fc_load_start(uv_loop_t *loop, const fc_load_config *cfg, fc_load **out, char *err,
                  size_t errlen)
{
    if (cfg->clients < 1 || cfg->npaths < 1) {
        snprintf(err, errlen, "load: nothing to connect");
        return -EINVAL;
    }
    fc_load *l = calloc(1, sizeof *l);
    client *cs = calloc((size_t)cfg->clients, sizeof *cs);
    if (!l || !cs) {
        free(l);
        free(cs);
        snprintf(err, errlen, "load: out of memory for %d clients", cfg->clients);
        return -ENOMEM;
    }
    l->cfg = *cfg;
    if (l->cfg.max_connecting < 1) l->cfg.max_connecting = 64;
    l->uv = loop;
    l->clients = cs;
    for (int i = 0; i < cfg->clients; i++) {
        client *c = &cs[i];
        c->load = l;
        c->pub.index = i;
        c->pub.path = cfg->paths[i % cfg->npaths];
        c->pub.stalled = i / cfg->npaths < cfg->stall;
        c->pub.connect_ms = c->pub.first_frame_ms = -1;
    }
    l->protocols[0] = (struct lws_protocols){
        .name = "framecast-load",
        .callback = callback,
        .rx_buffer_size = RX_CHUNK,
    };

    lws_set_log_level(LLL_ERR, log_emit);
    void *foreign[1] = {loop};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = l->protocols;
    info.options = LWS_SERVER_OPTION_LIBUV;
    info.foreign_loops = foreign;
    info.pt_serv_buf_size = READ_BUF;
    /* lws sizes its descriptor table once, here. */
    info.fd_limit_per_thread = (unsigned)cfg->clients + 64;
    info.user = l;
    l->ctx = lws_create_context(&info);
    if (!l->ctx) {
        snprintf(err, errlen, "load: cannot create the libwebsockets client context");
        free(cs);
        free(l);
        return -ENOMEM;
    }
    uv_timer_init(loop, &l->pump);
    uv_timer_init(loop, &l->grace);
    l->pump.data = l->grace.data = l;
    uv_timer_start(&l->pump, on_pump, 0, 0);
    *out = l;
    return 0;
}

void fc_load_mark(fc_load *l)
{
    for (int i = 0; i < l->cfg.clients; i++) {
        fc_load_client *p = &l->clients[i].pub;
        p->frames = p->bytes = p->gaps = 0;
        p->first_ns = p->last_ns = 0;
        memset(&p->latency, 0, sizeof p->latency);
    }
}

void fc_load_stop(fc_load *l)
{
    if (l->stopping || l->finished) return;
    l->stopping = true;
    for (int i = 0; i < l->cfg.clients; i++) {
        client *c = &l->clients[i];
        if (c->done || !c->wsi) continue;
        c->closing = true;
        if (c->pub.state == FC_LOAD_OPEN) lws_callback_on_writable(c->wsi);
    }
    uv_timer_start(&l->grace, on_grace, CLOSE_GRACE_MS, 0);
    schedule(l);
}

int fc_load_count(const fc_load *l)
{
    return l->cfg.clients;
}

const fc_load_client *fc_load_client_at(const fc_load *l, int i)
{
    return &l->clients[i].pub;
}

int fc_load_failed(const fc_load *l)
{
    int n = 0;
    for (int i = 0; i < l->cfg.clients; i++)
        n += l->clients[i].pub.state == FC_LOAD_FAILED;
    return n;
}

void fc_load_free(fc_load *l)
{
    if (!l) return;
    /* lws 4.1 on a foreign loop frees the context only when destroyed again
     * after the loop has run its handle closes; without this it leaks. */
    if (l->ctx) lws_context_destroy(l->ctx);
    free(l->clients);
    free(l);
}
