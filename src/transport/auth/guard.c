#include "transport/auth/guard.h"

#include <errno.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/clock.h"
#include "transport/auth/peerlimit.h"
#include "transport/auth/viewtoken.h"
#include "transport/conn.h"
#include "transport/control.h"

/* Room for "Bearer ", the longest key and some blanks; a longer header is
 * no key of ours. */
#define AUTH_HEADER_MAX (FC_API_KEY_MAX + 32)
/* lws copies a URL argument with its "name=" in front. */
#define URLARG_MAX (FC_VIEW_TOKEN_MAX + FC_API_KEY_MAX + 8)
/* What a refused peer is told to wait: the limiter drains one failure per
 * 1 / FC_PEER_LIMIT_PER_SEC seconds. */
#define RETRY_AFTER "5"
/* lws names no constant for it. */
#define STATUS_TOO_MANY_REQUESTS 429

/* Why a request was refused, for /metrics; the client is told none of it. */
enum {
    KEY_MISSING,
    KEY_WRONG,
    TOKEN_MISSING,
    TOKEN_REFUSED, /* fc_view_tokens counts why */
    RATE_LIMITED,
    REFUSALS
};
static const char *const refusal_names[REFUSALS] = {"key_missing", "key_wrong", "token_missing",
                                                    "token_refused", "rate_limited"};

enum { ACCEPT_KEY, ACCEPT_TOKEN, ACCEPTS };
static const char *const accept_names[ACCEPTS] = {"api_key", "viewer_token"};

struct fc_auth {
    fc_api_key *key;
    fc_view_tokens *tokens;
    fc_viewer_policy viewers;
    fc_peer_limit *limit;
    uint64_t refused[REFUSALS];
    uint64_t accepted[ACCEPTS];
};

const char *fc_viewer_policy_name(fc_viewer_policy p)
{
    return p == FC_VIEWERS_TOKEN ? "required" : "off";
}

int fc_auth_new(fc_api_key *key, fc_viewer_policy viewers, fc_auth **out, char *err, size_t errlen)
{
    *out = NULL;
    if (viewers == FC_VIEWERS_TOKEN && !key) {
        fc_api_key_free(key);
        snprintf(err, errlen, "viewer tokens are signed with the API key: give one");
        return -EINVAL;
    }
    fc_auth *a = calloc(1, sizeof *a);
    int rc = a ? fc_peer_limit_new(FC_PEER_LIMIT_SLOTS, FC_PEER_LIMIT_BURST, FC_PEER_LIMIT_PER_SEC,
                                   &a->limit)
               : -ENOMEM;
    if (rc == 0 && key) rc = fc_view_tokens_new(key, &a->tokens);
    if (rc != 0) {
        snprintf(err, errlen, "authentication: out of memory");
        fc_api_key_free(key);
        if (a) fc_peer_limit_free(a->limit);
        free(a);
        return rc;
    }
    a->key = key;
    a->viewers = viewers;
    *out = a;
    return 0;
}

void fc_auth_free(fc_auth *a)
{
    if (!a) return;
    fc_api_key_free(a->key);
    fc_view_tokens_free(a->tokens);
    fc_peer_limit_free(a->limit);
    free(a);
}

bool fc_auth_has_key(const fc_auth *a)
{
    return a && a->key;
}

fc_viewer_policy fc_auth_viewers(const fc_auth *a)
{
    return a ? a->viewers : FC_VIEWERS_OPEN;
}

/* ---- the checks ---- */

static fc_auth *auth_of(fc_conn *c)
{
    return fc_conn_env(c)->auth;
}

/* The peer's address; a socket without one (it cannot happen on TCP) is
 * one anonymous peer. */
static void peer_of(fc_conn *c, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof *ss;
    memset(ss, 0, sizeof *ss);
    if (getpeername(lws_get_socket_fd(fc_conn_wsi(c)), (struct sockaddr *)ss, &len) != 0)
        ss->ss_family = AF_UNSPEC;
}

typedef enum { PASS, FAIL, LIMITED } verdict;

static verdict blocked(fc_auth *a, const struct sockaddr_storage *peer)
{
    if (!fc_peer_limit_blocked(a->limit, (const struct sockaddr *)peer, fc_now_ns())) return PASS;
    a->refused[RATE_LIMITED]++;
    return LIMITED;
}

static verdict failed(fc_auth *a, const struct sockaddr_storage *peer, int why)
{
    a->refused[why]++;
    fc_peer_limit_failed(a->limit, (const struct sockaddr *)peer, fc_now_ns());
    return FAIL;
}

/* `presented` (len bytes, or NULL: none given) against the key. */
static verdict check_key(fc_auth *a, const struct sockaddr_storage *peer, const char *presented,
                         size_t len)
{
    if (blocked(a, peer) != PASS) return LIMITED;
    if (!presented) return failed(a, peer, KEY_MISSING);
    if (fc_api_key_check(a->key, presented, len) != 0) return failed(a, peer, KEY_WRONG);
    a->accepted[ACCEPT_KEY]++;
    return PASS;
}

/* The value of URL argument `name` ("key="), or NULL when absent or too
 * long to be a credential of ours. */
static const char *urlarg(fc_conn *c, const char *name, char *buf, int len)
{
    return lws_get_urlarg_by_name(fc_conn_wsi(c), name, buf, len);
}

static int respond_refusal(fc_conn *c, verdict v)
{
    if (v == LIMITED)
        return fc_conn_respond_json_with(
            c, STATUS_TOO_MANY_REQUESTS, "retry-after:", RETRY_AFTER,
            json_pack("{s:s}", "error", "too many failed attempts; try again later"));
    return fc_conn_respond_json_with(c, HTTP_STATUS_UNAUTHORIZED,
                                     "www-authenticate:", "Bearer realm=\"framecast\"",
                                     json_pack("{s:s}", "error", "unauthorized"));
}

static void close_refused(fc_conn *c, verdict v)
{
    if (v == LIMITED)
        fc_conn_refuse(c, FC_CLOSE_TOO_MANY_FAILURES, "too many failed attempts");
    else
        fc_conn_refuse(c, FC_CLOSE_UNAUTHORIZED, "unauthorized");
}

/* The Authorization header's verdict (none at all counts as a missing key). */
static verdict check_header(fc_auth *a, fc_conn *c)
{
    struct sockaddr_storage peer;
    peer_of(c, &peer);
    struct lws *wsi = fc_conn_wsi(c);
    char hdr[AUTH_HEADER_MAX];
    int n = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    if (n <= 0) return check_key(a, &peer, NULL, 0);
    const char *cred;
    size_t len;
    if (n >= (int)sizeof hdr ||
        lws_hdr_copy(wsi, hdr, sizeof hdr, WSI_TOKEN_HTTP_AUTHORIZATION) < 0 ||
        fc_api_key_bearer(hdr, &cred, &len) != 0) {
        if (blocked(a, &peer) != PASS) return LIMITED;
        return failed(a, &peer, KEY_WRONG);
    }
    return check_key(a, &peer, cred, len);
}

bool fc_auth_http_change(fc_conn *c, int *rc)
{
    fc_auth *a = auth_of(c);
    if (!fc_auth_has_key(a)) return true;
    verdict v = check_header(a, c);
    if (v == PASS) return true;
    *rc = respond_refusal(c, v);
    return false;
}

int fc_auth_http_probe(fc_conn *c, int *rc)
{
    fc_auth *a = auth_of(c);
    if (!fc_auth_has_key(a)) return 1;
    if (lws_hdr_total_length(fc_conn_wsi(c), WSI_TOKEN_HTTP_AUTHORIZATION) <= 0) return 0;
    verdict v = check_header(a, c);
    if (v == PASS) return 1;
    *rc = respond_refusal(c, v);
    return -1;
}

int fc_auth_ws_open(fc_conn *c, bool *allowed)
{
    fc_auth *a = auth_of(c);
    *allowed = !fc_auth_has_key(a);
    if (*allowed) return 0;
    char buf[URLARG_MAX];
    const char *key = urlarg(c, "key=", buf, sizeof buf);
    if (!key) return 0;
    struct sockaddr_storage peer;
    peer_of(c, &peer);
    verdict v = check_key(a, &peer, key, strlen(key));
    if (v != PASS) {
        close_refused(c, v);
        return -1;
    }
    *allowed = true;
    return 0;
}

bool fc_auth_ws_message(fc_conn *c, const char *text, size_t len, bool *allowed)
{
    json_t *obj;
    const char *type;
    char err[64];
    /* Not a message of ours when it does not parse: its endpoint answers. */
    if (fc_control_parse(text, len, &obj, &type, err, sizeof err) != 0) return false;
    if (strcmp(type, "auth") != 0) {
        json_decref(obj);
        return false;
    }
    fc_auth *a = auth_of(c);
    verdict v = PASS;
    if (fc_auth_has_key(a)) {
        json_t *k = json_object_get(obj, "key");
        struct sockaddr_storage peer;
        peer_of(c, &peer);
        v = check_key(a, &peer, json_is_string(k) ? json_string_value(k) : NULL,
                      json_is_string(k) ? json_string_length(k) : 0);
    }
    json_decref(obj);
    if (v != PASS) {
        *allowed = false;
        close_refused(c, v);
        return true;
    }
    *allowed = true;
    fc_conn_send_json(c, json_pack("{s:s}", "type", "authenticated"));
    return true;
}

bool fc_auth_ws_change(fc_conn *c, bool allowed)
{
    if (allowed) return true;
    fc_auth *a = auth_of(c);
    struct sockaddr_storage peer;
    peer_of(c, &peer);
    verdict v = blocked(a, &peer);
    if (v == PASS) v = failed(a, &peer, KEY_MISSING);
    close_refused(c, v);
    return false;
}

bool fc_auth_ws_view(fc_conn *c, const char *stream)
{
    fc_auth *a = auth_of(c);
    if (fc_auth_viewers(a) == FC_VIEWERS_OPEN) return true;
    struct sockaddr_storage peer;
    peer_of(c, &peer);
    verdict v = blocked(a, &peer);
    char buf[URLARG_MAX];
    const char *token = v == PASS ? urlarg(c, "token=", buf, sizeof buf) : NULL;
    if (v == PASS && token) {
        int64_t now = (int64_t)fc_wall_seconds();
        if (fc_view_token_check(a->tokens, token, stream, now) == 0) {
            a->accepted[ACCEPT_TOKEN]++;
            return true;
        }
        v = failed(a, &peer, TOKEN_REFUSED);
    } else if (v == PASS) {
        /* The key holder may watch anything. */
        const char *key = urlarg(c, "key=", buf, sizeof buf);
        if (key) {
            v = check_key(a, &peer, key, strlen(key));
            if (v == PASS) return true;
        } else {
            v = failed(a, &peer, TOKEN_MISSING);
        }
    }
    close_refused(c, v);
    return false;
}

/* ---- metrics ---- */

static void metric_refused(fc_metrics_out *out, void *ctx)
{
    const fc_auth *a = ctx;
    for (int i = 0; i < REFUSALS; i++) {
        char labels[48];
        snprintf(labels, sizeof labels, "reason=\"%s\"", refusal_names[i]);
        fc_metrics_sample(out, labels, (double)a->refused[i]);
    }
}

static void metric_accepted(fc_metrics_out *out, void *ctx)
{
    const fc_auth *a = ctx;
    for (int i = 0; i < ACCEPTS; i++) {
        char labels[48];
        snprintf(labels, sizeof labels, "credential=\"%s\"", accept_names[i]);
        fc_metrics_sample(out, labels, (double)a->accepted[i]);
    }
}

static void metric_tokens(fc_metrics_out *out, void *ctx)
{
    const fc_auth *a = ctx;
    fc_view_token_counts n = {0};
    if (a->tokens) fc_view_tokens_counts(a->tokens, &n);
    const struct {
        const char *name;
        uint64_t v;
    } rows[] = {{"accepted", n.accepted},
                {"malformed", n.malformed},
                {"bad_signature", n.bad_signature},
                {"foreign_stream", n.foreign_stream},
                {"expired", n.expired}};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        char labels[48];
        snprintf(labels, sizeof labels, "result=\"%s\"", rows[i].name);
        fc_metrics_sample(out, labels, (double)rows[i].v);
    }
}

static void metric_peers(fc_metrics_out *out, void *ctx)
{
    fc_peer_limit_stats st;
    fc_peer_limit_stats_get(((const fc_auth *)ctx)->limit, &st);
    fc_metrics_sample(out, NULL, (double)st.peers);
}

static void metric_evicted(fc_metrics_out *out, void *ctx)
{
    fc_peer_limit_stats st;
    fc_peer_limit_stats_get(((const fc_auth *)ctx)->limit, &st);
    fc_metrics_sample(out, NULL, (double)st.evicted);
}

static const fc_metric_family families[] = {
    {"fc_auth_refused_total", FC_METRIC_COUNTER,
     "Requests and WebSockets refused for their credentials (401/4401) or for failing too often "
     "(429/4429), by reason.",
     metric_refused},
    {"fc_auth_accepted_total", FC_METRIC_COUNTER,
     "Credentials checked and accepted, by kind (no key configured: nothing is checked).",
     metric_accepted},
    {"fc_viewer_tokens_checked_total", FC_METRIC_COUNTER,
     "Viewer tokens checked on /ws/streams/{id}, by result.", metric_tokens},
    {"fc_auth_failing_peers", FC_METRIC_GAUGE,
     "Peers (IPv4 addresses, IPv6 /64s) with recent failed authentications.", metric_peers},
    {"fc_auth_failing_peers_evicted_total", FC_METRIC_COUNTER,
     "Failing peers forgotten to make room in the fixed table.", metric_evicted},
};

int fc_auth_metrics_register(fc_auth *a, fc_metrics *m)
{
    return fc_metrics_register_table(m, families, sizeof families / sizeof *families, a);
}
