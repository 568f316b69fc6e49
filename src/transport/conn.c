#include "transport/conn.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(LWS_PRE <= FC_FRAME_HEADROOM, "frames and events leave too little headroom for lws");

#define CLOSE_POLICY 1008

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
    char close_reason[100];
    fc_buf rx;   /* a text message being reassembled */
    fc_buf body; /* HTTP: LWS_PRE bytes of headroom, then the response body */
    size_t body_off;
};

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
    c->method = method;
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
        snprintf(c->close_reason, sizeof c->close_reason, "%.90s", reason);
    }
    lws_callback_on_writable(c->wsi);
}

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
    lws_callback_on_writable(c->wsi);
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
    return fc_conn_send_json(c, json_pack("{s:s, s:s}", "type", "error", "message", msg));
}

void fc_conn_refuse(fc_conn *c, int code, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fc_conn_send_error(c, msg);
    fc_conn_close_soon(c, code, msg);
}

int fc_conn_write(fc_conn *c, uint8_t *data, size_t len, bool binary)
{
    /* lws writes its WebSocket header into the headroom in front of `data`;
     * for a shared frame the bytes it writes are the same for everyone. */
    return lws_write(c->wsi, data, len, binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < 0 ? -1 : 0;
}

int fc_conn_flush(fc_conn *c)
{
    text_msg *m = c->text_head;
    if (m) {
        c->text_head = m->next;
        if (!c->text_head) c->text_tail = NULL;
        c->texts--;
        int rc = fc_conn_write(c, m->data + LWS_PRE, m->len, false);
        free(m);
        if (rc != 0) return -1;
        lws_callback_on_writable(c->wsi);
        return 1;
    }
    if (c->close_code) {
        /* Not `return -1`: from a writeable callback that makes this lws
         * version treat the socket as dead and drop the close frame. Asking
         * for a close here instead sends our code and reason on the next
         * writeable turn and waits for the peer's answering close. */
        lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
                         (unsigned char *)c->close_reason, strlen(c->close_reason));
        lws_close_free_wsi(c->wsi, (enum lws_close_status)c->close_code, "framecast close");
        return 1;
    }
    return 0;
}

int fc_conn_receive(fc_conn *c, const void *in, size_t len, size_t max, const char **msg,
                    size_t *msglen)
{
    if (c->rx.len + len > max) {
        fc_buf_free(&c->rx);
        if (lws_is_final_fragment(c->wsi)) {
            char why[80];
            snprintf(why, sizeof why, "control message larger than %zu bytes", max);
            fc_conn_send_error(c, why);
        }
        return 0;
    }
    fc_buf_append(&c->rx, in, len);
    if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi)) return 0;
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

int fc_conn_respond_status(fc_conn *c, unsigned status, const char *reason)
{
    lws_return_http_status(c->wsi, status, reason);
    return lws_http_transaction_completed(c->wsi) ? -1 : 0;
}

/* `name` (lws's spelling, "retry-after:") and `value`: one more header, or
 * NULL. */
static int respond(fc_conn *c, unsigned status, const char *ctype, const char *name,
                   const char *value, fc_buf *body)
{
    if (body->failed) {
        fc_buf_free(body);
        return fc_conn_respond_status(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    }
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    size_t len = body->len - LWS_PRE;
    if (lws_add_http_common_headers(c->wsi, status, ctype, len, &p, end) ||
        lws_add_http_header_by_name(c->wsi, (const unsigned char *)"cache-control:",
                                    (const unsigned char *)"no-store", 8, &p, end) ||
        (name &&
         lws_add_http_header_by_name(c->wsi, (const unsigned char *)name,
                                     (const unsigned char *)value, (int)strlen(value), &p, end)) ||
        lws_finalize_write_http_header(c->wsi, start, &p, end)) {
        fc_buf_free(body);
        return -1;
    }
    fc_buf_free(&c->body);
    c->body = *body;
    c->body_off = LWS_PRE;
    *body = (fc_buf){0};
    lws_callback_on_writable(c->wsi);
    return 0;
}

int fc_conn_respond(fc_conn *c, unsigned status, const char *ctype, fc_buf *body)
{
    return respond(c, status, ctype, NULL, NULL, body);
}

int fc_conn_respond_not_found(fc_conn *c, const char *path)
{
    fc_buf body;
    fc_conn_body_init(&body);
    fc_buf_printf(&body, "not found: %s\n", path);
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

int fc_conn_http_writeable(fc_conn *c)
{
    if (!c->body.data) return 0;
    size_t left = c->body.len - c->body_off;
    size_t chunk = left > 16384 ? 16384 : left;
    bool last = chunk == left;
    /* The bytes before body_off were already sent (or are the initial
     * headroom), so lws may use them for framing. */
    int n = lws_write(c->wsi, (unsigned char *)c->body.data + c->body_off, chunk,
                      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP);
    if (n < 0) return -1;
    c->body_off += chunk;
    if (!last) {
        lws_callback_on_writable(c->wsi);
        return 0;
    }
    fc_buf_free(&c->body);
    return lws_http_transaction_completed(c->wsi) ? -1 : 0;
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
    fc_buf_free(&c->body);
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
