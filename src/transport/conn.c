#include "transport/conn.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job.h"
#include "transport/close_codes.h"
#include "transport/conntrack.h"
#include "transport/utf8.h"
#include "transport/ws_wake.h"

_Static_assert(LWS_PRE <= FC_FRAME_HEADROOM, "frames and events leave too little headroom for lws");

/* Longest error text sent to a client, cleaned (utf8.h). */
#define ERROR_TEXT_MAX 1024
/* Our reason for holding a connection's input (lws's rx flow control bits;
 * bit 0 is lws's own "user bool"). */
#define RXFLOW_RESPONSE (1 << 1)
/* Messages one WebSocket writes in one turn at most, so that one with a deep
 * queue and a fast reader does not hold the loop from the others. */
#define TURN_MESSAGES 8

/* A text message waiting to go out. */
typedef struct text_msg {
    struct text_msg *next;
    size_t len;
    unsigned char data[]; /* LWS_PRE bytes, then the text */
} text_msg;

struct fc_conn {
    fc_conn *prev, *next; /* the server's open WebSockets */
    struct lws *wsi;
    fc_server_env *env;
    const fc_endpoint *ep;
    bool websocket, released;
    int method;
    text_msg *text_head, *text_tail;
    size_t texts;
    int close_code; /* non-zero: close with this once the texts are out */
    char close_reason[FC_CONN_CLOSE_REASON_MAX + 1];
    fc_buf rx;       /* a text message being reassembled */
    bool rx_discard; /* dropping a message over the limit, up to its final fragment */
    /* Writing (conn.h, "Writing"): on the server's wake list, in a turn (and
     * of which kind), asked to write more during it, a direct write failed,
     * behind (see room_for_next). */
    fc_ws_wake_link wake;
    bool in_turn, more, write_failed, behind;
    fc_ws_turn_kind turn_kind;

    /* HTTP */
    bool head;       /* a HEAD request: the headers only */
    bool held;       /* reading nothing: an answer is pending (conn.h) */
    bool body_ended; /* the request's body is all in (or it had none) */
    bool draining;   /* answered before its body: the body is read and dropped, then close */
};

/* A body still coming after an answer given before it (a refused upload) is
 * read and dropped, up to this many bytes within FC_CONN_DRAIN_MS, so that
 * the client, still sending it, sees the answer and not a reset; a larger
 * one, or one too slow, is cut off. */
#define FC_CONN_DRAIN_MAX (32u << 20)
#define FC_CONN_DRAIN_MS 10000

/* The endpoint's state follows the fc_conn, aligned for anything. */
#define STATE_OFFSET                                                                               \
    ((sizeof(fc_conn) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * _Alignof(max_align_t))

size_t fc_conn_size(size_t state_size)
{
    return STATE_OFFSET + state_size;
}

void fc_conn_init(fc_conn *c, struct lws *wsi, fc_server_env *env, const fc_endpoint *ep,
                  bool websocket, int method)
{
    memset(c, 0, fc_conn_size(ep ? ep->state_size : 0));
    c->wsi = wsi;
    c->env = env;
    c->ep = ep;
    c->websocket = websocket;
    c->head = method == LWSHUMETH_HEAD;
    /* HEAD is GET without the body; the endpoints answer it as GET. */
    c->method = c->head ? LWSHUMETH_GET : method;
}

int fc_conn_method(const fc_conn *c)
{
    return c->method;
}

fc_server_env *fc_conn_env(const fc_conn *c)
{
    return c->env;
}

struct lws *fc_conn_wsi(const fc_conn *c)
{
    return c->wsi;
}

void *fc_conn_state(fc_conn *c)
{
    return (char *)c + STATE_OFFSET;
}

const fc_endpoint *fc_conn_endpoint(const fc_conn *c)
{
    return c->ep;
}

bool fc_conn_is_websocket(const fc_conn *c)
{
    return c->websocket;
}

void fc_conn_want_write(fc_conn *c)
{
    if (c->in_turn) {
        c->more = true; /* the turn goes on with it, while the socket has room */
        return;
    }
    fc_ws_wakes *w = c->env ? c->env->ws_wakes : NULL;
    if (!c->websocket || c->close_code || !w || !fc_ws_wakes_add(w, &c->wake))
        lws_callback_on_writable(c->wsi);
}

bool fc_conn_texts_pending(const fc_conn *c)
{
    return c->text_head != NULL;
}

void fc_conn_close_soon(fc_conn *c, int code, const char *reason)
{
    if (!c->close_code) {
        c->close_code = code;
        /* Valid UTF-8, cut between characters, or browsers fail the
         * connection instead of reporting the code. */
        fc_utf8_clean(c->close_reason, sizeof c->close_reason, reason, strlen(reason));
    }
    lws_callback_on_writable(c->wsi);
}

static void set_hold(fc_conn *c, bool hold);

int fc_conn_send_text(fc_conn *c, const char *text)
{
    if (c->texts >= FC_CONN_MAX_TEXTS) {
        fc_conn_close_soon(c, CLOSE_POLICY, "too many messages waiting: read the answers");
        return -ENOBUFS;
    }
    size_t n = strlen(text);
    text_msg *m = malloc(sizeof *m + LWS_PRE + n);
    if (!m) return -ENOMEM;
    m->next = NULL;
    m->len = n;
    memcpy(m->data + LWS_PRE, text, n);
    if (c->text_tail)
        c->text_tail->next = m;
    else
        c->text_head = m;
    c->text_tail = m;
    c->texts++;
    if (c->texts >= FC_CONN_TEXTS_HOLD) set_hold(c, true);
    fc_conn_want_write(c);
    return 0;
}

int fc_conn_send_json(fc_conn *c, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    int rc = s ? fc_conn_send_text(c, s) : -ENOMEM;
    free(s);
    return rc;
}

int fc_conn_send_error(fc_conn *c, const char *msg)
{
    /* jansson refuses invalid UTF-8: without cleaning, a message that
     * quotes the client's bytes would not go out at all. */
    char text[ERROR_TEXT_MAX];
    fc_utf8_clean(text, sizeof text, msg, strlen(msg));
    return fc_conn_send_json(c, json_pack("{s:s, s:s}", "type", "error", "message", text));
}

void fc_conn_refuse(fc_conn *c, int code, const char *fmt, ...)
{
    char msg[ERROR_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fc_conn_send_error(c, msg);
    fc_conn_close_soon(c, code, msg);
}

int fc_conn_write(fc_conn *c, uint8_t *data, size_t len, bool binary)
{
    if (c->env && c->env->ws_wakes) c->env->ws_wakes->messages[c->turn_kind]++;
    /* lws writes its WebSocket header into the headroom in front of `data`
     * and sends header and payload with one send(); for a shared frame the
     * bytes it writes are the same for everyone. */
    return lws_write(c->wsi, data, len, binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < 0 ? -1 : 0;
}

/* The oldest queued text. Whatever the endpoint has comes after it: the
 * turn goes on. */
static int write_text(fc_conn *c)
{
    text_msg *m = c->text_head;
    c->text_head = m->next;
    if (!c->text_head) c->text_tail = NULL;
    c->texts--;
    if (c->texts <= FC_CONN_TEXTS_RESUME) set_hold(c, false);
    int rc = fc_conn_write(c, m->data + LWS_PRE, m->len, false);
    free(m);
    c->more = true;
    return rc;
}

/* Only from lws's writeable callback. Not `return -1` there: that makes
 * this lws version treat the socket as dead and drop the close frame.
 * Asking for a close here instead sends our code and reason on the next
 * writeable turn and waits for the peer's answering close. `c` may be gone
 * when it returns. */
static void close_now(fc_conn *c)
{
    lws_close_reason(c->wsi, (enum lws_close_status)c->close_code, (unsigned char *)c->close_reason,
                     strlen(c->close_reason));
    lws_close_free_wsi(c->wsi, (enum lws_close_status)c->close_code, "framecast close");
}

/* Whether the next message may be written now. Never while lws still holds
 * part of an earlier one. A connection that keeps up (its last turn wrote
 * everything it had, whole) is taken to have room, which saves a poll() per
 * message; were the socket full after all, lws keeps what it could not send,
 * at most that one message, and the connection is behind from then on. One
 * that is behind asks poll() first (lws_send_pipe_choked), until a turn of
 * it ends with nothing left. */
static bool room_for_next(fc_conn *c)
{
    return c->behind ? !lws_send_pipe_choked(c->wsi) : !lws_partial_buffered(c->wsi);
}

/* One turn of writing: the queued texts, then the close once they are out,
 * else the endpoint's messages, one `writeable` call each, for as long as
 * something asks for more (fc_conn_want_write), the socket has room
 * (room_for_next) and the turn's bound is not reached. Whatever
 * is left waits for lws's writeable callback: lws holds at most the unsent
 * tail of one message. A direct turn neither closes (that needs lws's
 * callback) nor fails the connection: it leaves both to the callback.
 * 0, or -1 (writeable turns only) to have lws close the connection. */
static int turn(fc_conn *c, fc_ws_turn_kind kind)
{
    fc_ws_wakes *w = c->env->ws_wakes;
    fc_ws_wakes_remove(&c->wake); /* whatever it asked for, this turn serves */
    if (c->write_failed) {
        if (kind == FC_WS_TURN_WRITEABLE) return -1;
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (w) w->turns[kind]++;
    c->turn_kind = kind;
    for (int n = 0;; n++) {
        if (!c->text_head && c->close_code) {
            if (kind == FC_WS_TURN_WRITEABLE) {
                close_now(c);
                return 0;
            }
            break;
        }
        if (n == TURN_MESSAGES) break;
        if ((n > 0 || kind == FC_WS_TURN_DIRECT) && !room_for_next(c)) {
            if (w) w->choked++;
            break;
        }
        if (!c->text_head && (c->released || !c->ep || !c->ep->writeable)) return 0;
        c->in_turn = true;
        c->more = false;
        int rc = c->text_head ? write_text(c) : c->ep->writeable(c, fc_conn_state(c));
        c->in_turn = false;
        if (rc < 0) {
            if (kind == FC_WS_TURN_WRITEABLE) return -1;
            c->write_failed = true;
            break;
        }
        if (!c->more) {
            c->behind = lws_partial_buffered(c->wsi);
            return 0;
        }
    }
    c->behind = true;
    lws_callback_on_writable(c->wsi);
    return 0;
}

int fc_conn_writeable(fc_conn *c)
{
    return turn(c, FC_WS_TURN_WRITEABLE);
}

void fc_conn_woken(fc_ws_wake_link *link, bool now)
{
    fc_conn *c = fc_container_of(link, fc_conn, wake);
    if (now)
        turn(c, FC_WS_TURN_DIRECT);
    else
        lws_callback_on_writable(c->wsi);
}

int fc_conn_receive(fc_conn *c, const void *in, size_t len, size_t max, const char **msg,
                    size_t *msglen)
{
    bool last = lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi);
    if (c->rx_discard || c->rx.len + len > max) {
        /* Too long: nothing of it is kept, not even a tail that would
         * parse on its own; accumulation starts again with the next
         * message, and the client hears why once this one has ended. */
        fc_buf_free(&c->rx);
        c->rx_discard = !last;
        if (last) {
            char why[96];
            snprintf(why, sizeof why, "control message larger than %zu bytes: dropped", max);
            fc_conn_send_error(c, why);
            c->env->texts_dropped++;
        }
        return 0;
    }
    fc_buf_append(&c->rx, in, len);
    if (!last) return 0;
    if (c->rx.failed) {
        fc_buf_free(&c->rx);
        return 0;
    }
    *msg = c->rx.data ? c->rx.data : "";
    *msglen = c->rx.len;
    return 1;
}

void fc_conn_receive_done(fc_conn *c)
{
    fc_buf_free(&c->rx);
}

void fc_conn_body_init(fc_buf *body)
{
    *body = (fc_buf){0};
    fc_buf_append(body, (const char[LWS_PRE]){0}, LWS_PRE);
}

/* Reading nothing more for now (a pending HTTP answer, a WebSocket's
 * answers piling up), or again. */
static void set_hold(fc_conn *c, bool hold)
{
    if (c->held == hold) return;
    c->held = hold;
    /* PROCESS_NOW: this is also called outside a callback of this wsi (a
     * worker's result), where lws would otherwise apply it later. */
    lws_rx_flow_control(
        c->wsi, (hold ? LWS_RXFLOW_REASON_APPLIES_DISABLE : LWS_RXFLOW_REASON_APPLIES_ENABLE) |
                    RXFLOW_RESPONSE | LWS_RXFLOW_REASON_FLAG_PROCESS_NOW);
}

void fc_conn_hold_input(fc_conn *c)
{
    set_hold(c, true);
}

void fc_conn_set_timer(fc_conn *c, int64_t us)
{
    lws_set_timer_usecs(c->wsi, us < 0 ? LWS_SET_TIMER_USEC_CANCEL : us);
}

/* At once: lws's "kill at the next timeout check" (LWS_TO_KILL_ASYNC), asked
 * from outside its service, can wait seconds for that check, and meanwhile a
 * connection with input behind its answer wakes the loop without end. Sync
 * is safe here: no callback of this wsi is running. */
void fc_conn_drop(fc_conn *c)
{
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

/* Answered before the body came: read it to its end and drop it (server.c
 * asks fc_conn_draining), then close; true if that is what happens now. */
static bool drain_body(fc_conn *c)
{
    if (c->body_ended || c->websocket) return false;
    char cl[32] = "";
    if (lws_hdr_copy(c->wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) return false;
    unsigned long long n = strtoull(cl, NULL, 10);
    if (n == 0 || n > FC_CONN_DRAIN_MAX) return false;
    c->draining = true;
    fc_conn_set_timer(c, (int64_t)FC_CONN_DRAIN_MS * 1000);
    return true;
}

bool fc_conn_draining(const fc_conn *c)
{
    return c->draining;
}

void fc_conn_body_ended(fc_conn *c)
{
    c->body_ended = true;
}

/* The response goes out whole, now: headers and body in two writes (lws
 * keeps what the socket does not take and sends it first), and then the
 * connection closes (Connection: close): one request per connection for
 * the answers framecast writes itself (static files, which lws serves, keep
 * the connection alive). lws 4.1 reads nothing more of the connection before
 * the answer, so a client that half-closed after its request gets all of it,
 * and what it pipelined behind is never read. Why not keep-alive: with some
 * pipelined bytes behind an answer, lws 4.1 spins forever in
 * lws_service_do_ripe_rxflow and the loop serves nobody; the fuzzer found
 * eleven such inputs (tests/fuzz/known-hangs/, replayed by
 * tests/integration/framing.test.mjs).
 *
 * `name` (lws's spelling, "retry-after:") and `value`: one more header, or
 * NULL. Returns -1: lws closes the connection once all of it is sent; 0
 * while a body still coming is drained first (drain_body). */
static int respond(fc_conn *c, unsigned status, const char *ctype, const char *name,
                   const char *value, fc_buf *body)
{
    if (body->failed) {
        fc_buf_free(body);
        fc_conn_body_init(body);
        fc_buf_printf(body, "out of memory\n");
        status = HTTP_STATUS_INTERNAL_SERVER_ERROR;
        ctype = "text/plain; charset=utf-8";
    }
    if (body->failed) {
        fc_buf_free(body);
        return -1;
    }
    set_hold(c, false);
    size_t len = body->len - LWS_PRE;
    unsigned char hdr[LWS_PRE + 1024];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(c->wsi, status, ctype, len, &p, end) == 0 &&
        lws_add_http_header_by_name(c->wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) == 0 &&
        (!name || lws_add_http_header_by_name(c->wsi, (const unsigned char *)name,
                                              (const unsigned char *)value, (int)strlen(value), &p,
                                              end) == 0) &&
        lws_add_http_header_by_token(c->wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close",
                                     5, &p, end) == 0 &&
        lws_finalize_write_http_header(c->wsi, start, &p, end) == 0 && !c->head && len)
        lws_write(c->wsi, (unsigned char *)body->data + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
    fc_buf_free(body);
    return drain_body(c) ? 0 : -1;
}

int fc_conn_respond(fc_conn *c, unsigned status, const char *ctype, fc_buf *body)
{
    return respond(c, status, ctype, NULL, NULL, body);
}

int fc_conn_respond_status(fc_conn *c, unsigned status, const char *reason)
{
    fc_buf body;
    fc_conn_body_init(&body);
    fc_buf_printf(&body, "%s\n", reason);
    return fc_conn_respond(c, status, "text/plain; charset=utf-8", &body);
}

int fc_conn_respond_not_found(fc_conn *c, const char *path)
{
    char clean[1100];
    fc_utf8_clean(clean, sizeof clean, path, strlen(path));
    fc_buf body;
    fc_conn_body_init(&body);
    fc_buf_printf(&body, "not found: %s\n", clean);
    return fc_conn_respond(c, HTTP_STATUS_NOT_FOUND, "text/plain; charset=utf-8", &body);
}

int fc_conn_respond_json_with(fc_conn *c, unsigned status, const char *name, const char *value,
                              json_t *obj)
{
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    fc_buf body;
    fc_conn_body_init(&body);
    if (text)
        fc_buf_append(&body, text, strlen(text));
    else
        body.failed = true;
    free(text);
    return respond(c, status, "application/json", name, value, &body);
}

int fc_conn_respond_json(fc_conn *c, unsigned status, json_t *obj)
{
    return fc_conn_respond_json_with(c, status, NULL, NULL, obj);
}

int fc_conn_reject(struct lws *wsi, unsigned status, const char *reason)
{
    char text[512];
    size_t n = fc_utf8_clean(text, sizeof text - 1, reason, strlen(reason));
    text[n++] = '\n';
    unsigned char buf[LWS_PRE + 2048];
    unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;
    if (lws_add_http_header_status(wsi, status, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
                                     (const unsigned char *)"text/plain; charset=utf-8", 25, &p,
                                     end) ||
        lws_add_http_header_content_length(wsi, n, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
                                     &p, end) ||
        lws_finalize_http_header(wsi, &p, end) || (size_t)(end - p) < n)
        return -1;
    memcpy(p, text, n);
    p += n;
    lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP);
    return -1;
}

int fc_conn_query(fc_conn *c, char *out, size_t outlen)
{
    size_t n = 0;
    for (int i = 0;; i++) {
        size_t sep = n ? 1 : 0;
        if (n + sep >= outlen) return -E2BIG;
        int len = lws_hdr_copy_fragment(c->wsi, out + n + sep, (int)(outlen - n - sep),
                                        WSI_TOKEN_HTTP_URI_ARGS, i);
        if (len < 0) {
            /* -1 is both "no such fragment" and "it does not fit". */
            if ((size_t)lws_hdr_fragment_length(c->wsi, WSI_TOKEN_HTTP_URI_ARGS, i) >=
                outlen - n - sep)
                return -E2BIG;
            break;
        }
        if (sep) out[n] = '&';
        n += sep + (size_t)len;
    }
    out[n] = '\0';
    /* lws turns an empty query (a bare trailing '?') into "/", as it does an
     * empty path; "/" is no option either way. */
    if (strcmp(out, "/") == 0) out[n = 0] = '\0';
    return (int)n;
}

void fc_conn_release(fc_conn *c)
{
    if (c->released) return;
    c->released = true;
    if (c->ep && c->ep->closed) c->ep->closed(c, fc_conn_state(c));
}

void fc_conn_cleanup(fc_conn *c)
{
    while (c->text_head) {
        text_msg *m = c->text_head;
        c->text_head = m->next;
        free(m);
    }
    c->text_tail = NULL;
    c->texts = 0;
    fc_buf_free(&c->rx);
    c->rx_discard = false;
    fc_ws_wakes_remove(&c->wake);
}

void fc_conn_link(fc_conn **head, fc_conn *c)
{
    c->prev = NULL;
    c->next = *head;
    if (*head) (*head)->prev = c;
    *head = c;
}

void fc_conn_unlink(fc_conn **head, fc_conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else if (*head == c)
        *head = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

fc_conn *fc_conn_next(const fc_conn *c)
{
    return c->next;
}
