/* fc_janus (janus.h). One state machine, kept in one file past the usual
 * length because every transition touches both halves of it: the session
 * (connect, long poll, unreachable, lost) and the mountpoints riding on it
 * (pending, creating, ready, suspended, replaced, doomed). Read it top down:
 * requests, connection state, the long poll, mountpoints, answers, life
 * cycle. */
#include "transport/janus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "transport/http_client.h"
#include "transport/janus_api.h"

#define MAX_ANSWER (64u << 10)
/* Janus answers an idle long poll after 30 s (janus_http.c). */
#define LONG_POLL_MS 30000u
#define RETRY_FIRST_MS 250u
#define RETRY_MAX_MS 5000u

typedef enum {
    MP_PENDING,    /* to be created */
    MP_CREATING,   /* create in flight */
    MP_READY,      /* exists, ports known */
    MP_SUSPENDED,  /* was ready, Janus unreachable: may still exist */
    MP_REPLACE,    /* its id exists in Janus already: destroy, then create */
    MP_FAILED,     /* Janus refused it */
    MP_DOOMED,     /* freed by the caller: destroy if it may exist, then free */
    MP_DESTROYING, /* destroy in flight (doomed or replace) */
} mp_state;

struct fc_janus_mountpoint {
    fc_janus *j;
    fc_janus_mountpoint *next;
    mp_state state;
    bool exists;   /* it may exist in Janus */
    bool doomed;   /* the caller freed it */
    bool replaced; /* already destroyed once because its id was taken */
    uint64_t id;
    char *description, *video_fmtp;
    fc_rtp_codec video;
    bool audio;
    fc_janus_ports ports;
    fc_janus_mp_events ev;
};

typedef enum {
    OP_NONE,
    OP_SESSION, /* create a session */
    OP_ATTACH,  /* attach the Streaming plugin */
    OP_CHECK,   /* is our session still there (after being unreachable)? */
    OP_CREATE,  /* a mountpoint */
    OP_DESTROY, /* a mountpoint */
    OP_GOODBYE, /* destroy the session, when closing */
} op_kind;

struct fc_janus {
    uv_loop_t *loop;
    fc_httpc *http;
    char host[48];
    int port;
    char path[128];
    char *admin_key;
    unsigned timeout_ms, max_mps, n_mps;
    void (*on_state)(fc_janus_state, const char *, void *);
    void *arg;

    fc_janus_state state;
    char why[640];
    uint64_t session, handle;
    uint64_t txn;

    op_kind op;
    fc_janus_mountpoint *op_mp;
    fc_httpc_req *op_req, *poll_req;
    fc_janus_mountpoint *mps;

    uv_timer_t retry;
    unsigned backoff_ms;
    /* While callbacks run from a walk over the mountpoints, pump() must not
     * free any of them under the walk. */
    int walking;

    bool closing, closed;
    void (*done)(void *);
    void *done_arg;
};

static void pump(fc_janus *j);
static void connect_janus(fc_janus *j);
static void start_poll(fc_janus *j);
static void unreachable(fc_janus *j, const char *why);

const char *fc_janus_state_name(fc_janus_state s)
{
    switch (s) {
    case FC_JANUS_CONNECTING:
        return "connecting";
    case FC_JANUS_READY:
        return "ready";
    case FC_JANUS_UNREACHABLE:
        return "unreachable";
    }
    return "?";
}

static void set_state(fc_janus *j, fc_janus_state s, const char *why)
{
    bool changed = s != j->state || strcmp(why ? why : "", j->why) != 0;
    j->state = s;
    snprintf(j->why, sizeof j->why, "%s", why ? why : "");
    if (!changed) return;
    if (s == FC_JANUS_UNREACHABLE)
        fc_warn("janus: %s", j->why);
    else
        fc_info("janus: %s%s%s", fc_janus_state_name(s), why ? ": " : "", why ? why : "");
    if (j->on_state && !j->closing) j->on_state(s, j->why, j->arg);
}

/* ---- requests ---- */

static void on_answer(int status, const char *body, size_t len, const char *err, void *arg);

/* POSTs one JSON request to the session (or the root, or the handle) as the
 * one operation in flight. Steals `msg`. */
static void post(fc_janus *j, op_kind op, fc_janus_mountpoint *mp, json_t *msg, bool to_handle)
{
    char path[sizeof j->path + 48];
    if (op == OP_SESSION)
        snprintf(path, sizeof path, "%s", j->path);
    else if (to_handle)
        snprintf(path, sizeof path, "%s/%" PRIu64 "/%" PRIu64, j->path, j->session, j->handle);
    else
        snprintf(path, sizeof path, "%s/%" PRIu64, j->path, j->session);
    char txn[32];
    snprintf(txn, sizeof txn, "fc-%" PRIu64, ++j->txn);
    json_object_set_new(msg, "transaction", json_string(txn));
    char *body = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    j->op = op;
    j->op_mp = mp;
    char err[200];
    fc_httpc_request rq = {.method = "POST",
                           .host = j->host,
                           .port = j->port,
                           .path = path,
                           .content_type = "application/json",
                           .body = body,
                           .body_len = body ? strlen(body) : 0,
                           .timeout_ms = j->timeout_ms};
    int rc =
        body ? fc_httpc_start(j->http, &rq, on_answer, j, &j->op_req, err, sizeof err) : -ENOMEM;
    free(body);
    if (rc != 0) {
        /* Nothing is in flight now: the same as a request that failed. */
        j->op = OP_NONE;
        j->op_mp = NULL;
        char why[sizeof err + 40];
        snprintf(why, sizeof why, "cannot send a request to Janus: %s",
                 body ? err : "out of memory");
        unreachable(j, why);
    }
}

static json_t *message(json_t *body)
{
    json_t *m = json_pack("{s:s}", "janus", "message");
    json_object_set_new(m, "body", body);
    return m;
}

/* ---- connection state ---- */

static void stop_requests(fc_janus *j)
{
    fc_httpc_cancel(j->op_req);
    fc_httpc_cancel(j->poll_req);
    j->op_req = j->poll_req = NULL;
    j->op = OP_NONE;
    j->op_mp = NULL;
}

static void on_retry(uv_timer_t *t)
{
    connect_janus(t->data);
}

static void finish_close(fc_janus *j);

/* Janus cannot be reached (or answered nonsense): mountpoints stop being
 * usable until it answers again. */
static void unreachable(fc_janus *j, const char *why)
{
    stop_requests(j);
    if (j->closing) {
        finish_close(j);
        return;
    }
    uv_timer_start(&j->retry, on_retry, j->backoff_ms, 0);
    j->backoff_ms = j->backoff_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : j->backoff_ms * 2;
    set_state(j, FC_JANUS_UNREACHABLE, why);
    j->walking++;
    for (fc_janus_mountpoint *mp = j->mps; mp; mp = mp->next) {
        if (mp->state == MP_READY) {
            mp->state = MP_SUSPENDED;
            if (mp->ev.lost) mp->ev.lost(mp, why, mp->ev.arg);
        } else if (mp->state == MP_CREATING) {
            /* Created or not, we cannot know: with an id of ours a destroy
             * can find out, and a new create replaces it. */
            mp->state = MP_PENDING;
            mp->exists = mp->id != 0;
        } else if (mp->state == MP_DESTROYING) {
            mp->state = mp->doomed ? MP_DOOMED : MP_REPLACE;
        }
    }
    j->walking--;
}

/* Our session is gone: Janus restarted (or expired the session), and every
 * mountpoint must be created again. */
static void session_lost(fc_janus *j, const char *why)
{
    stop_requests(j);
    j->session = j->handle = 0;
    if (j->closing) {
        finish_close(j);
        return;
    }
    char lost[sizeof j->why + 64];
    snprintf(lost, sizeof lost, "Janus lost our session (restarted?): %s", why);
    set_state(j, FC_JANUS_CONNECTING, lost);
    j->walking++;
    for (fc_janus_mountpoint *mp = j->mps; mp; mp = mp->next) {
        bool tell = mp->state == MP_READY;
        if (mp->state == MP_READY || mp->state == MP_SUSPENDED || mp->state == MP_CREATING ||
            mp->state == MP_REPLACE)
            mp->state = MP_PENDING;
        else if (mp->state == MP_DESTROYING)
            mp->state = MP_DOOMED;
        mp->replaced = false;
        /* Last: the callback may free it (then it is doomed, not pending). */
        if (tell && mp->ev.lost) mp->ev.lost(mp, lost, mp->ev.arg);
    }
    j->walking--;
    connect_janus(j);
}

static void ready(fc_janus *j)
{
    j->backoff_ms = RETRY_FIRST_MS;
    set_state(j, FC_JANUS_READY, NULL);
    /* The session survived: what was ready still is, at the same ports. */
    j->walking++;
    for (fc_janus_mountpoint *mp = j->mps; mp; mp = mp->next) {
        if (mp->state != MP_SUSPENDED) continue;
        mp->state = MP_READY;
        if (mp->ev.ready) mp->ev.ready(mp, &mp->ports, mp->ev.arg);
    }
    j->walking--;
    start_poll(j);
    pump(j);
}

static void connect_janus(fc_janus *j)
{
    if (j->op != OP_NONE || j->closing) return;
    if (j->state != FC_JANUS_UNREACHABLE)
        set_state(j, FC_JANUS_CONNECTING, j->why[0] ? j->why : NULL);
    if (j->session && j->handle)
        post(j, OP_CHECK, NULL, json_pack("{s:s}", "janus", "keepalive"), false);
    else
        post(j, OP_SESSION, NULL, json_pack("{s:s}", "janus", "create"), false);
}

/* ---- the long poll ---- */

/* Why a request failed, for the state: "Janus at URL: reason". */
static void failure(fc_janus *j, int status, const char *err, char *why, size_t cap)
{
    if (err)
        snprintf(why, cap, "Janus at http://%s:%d%s: %s", j->host, j->port, j->path, err);
    else
        snprintf(why, cap, "Janus at http://%s:%d%s answered HTTP %d (is it Janus's API?)", j->host,
                 j->port, j->path, status);
}

static void on_poll(int status, const char *body, size_t len, const char *err, void *arg)
{
    fc_janus *j = arg;
    j->poll_req = NULL;
    char why[sizeof j->why];
    if (status == 404) {
        /* Janus's answer to a long poll on a session it does not know. */
        session_lost(j, "the long poll found no such session (HTTP 404)");
        return;
    }
    if (status != 200) {
        failure(j, status, err, why, sizeof why);
        unreachable(j, why);
        return;
    }
    fc_janus_answer a;
    char perr[200];
    if (fc_janus_answer_parse(body, len, &a, perr, sizeof perr) != 0) {
        snprintf(why, sizeof why, "Janus's long poll answer: %s", perr);
        unreachable(j, why);
        return;
    }
    if (a.session_gone) {
        snprintf(why, sizeof why, "%s (%d)", a.reason, a.code);
        session_lost(j, why);
        return;
    }
    /* Keepalives, and events for a handle without a PeerConnection, need
     * nothing from us. */
    start_poll(j);
}

static void start_poll(fc_janus *j)
{
    if (j->poll_req || !j->session || j->closing) return;
    char path[sizeof j->path + 48], err[200];
    snprintf(path, sizeof path, "%s/%" PRIu64 "?maxev=10", j->path, j->session);
    fc_httpc_request rq = {.method = "GET",
                           .host = j->host,
                           .port = j->port,
                           .path = path,
                           .timeout_ms = LONG_POLL_MS + j->timeout_ms};
    if (fc_httpc_start(j->http, &rq, on_poll, j, &j->poll_req, err, sizeof err) != 0) {
        /* Without it a dead Janus would go unnoticed: as if it failed. */
        char why[sizeof err + 40];
        snprintf(why, sizeof why, "cannot start the long poll: %s", err);
        unreachable(j, why);
    }
}

/* ---- mountpoints ---- */

static json_t *stream(const char *type, const char *mid, const char *codec, int pt,
                      const char *fmtp, const char *iface, bool rtcp)
{
    json_t *s = json_pack("{s:s, s:s, s:i, s:i, s:s, s:s}", "type", type, "mid", mid, "port", 0,
                          "pt", pt, "codec", codec, "iface", iface);
    if (rtcp) json_object_set_new(s, "rtcpport", json_integer(0)); /* 0: Janus picks it */
    if (fmtp) json_object_set_new(s, "fmtp", json_string(fmtp));
    return s;
}

static void send_create(fc_janus *j, fc_janus_mountpoint *mp)
{
    json_t *media = json_array();
    if (mp->video)
        json_array_append_new(media, stream("video", "v", fc_rtp_codec_name(mp->video),
                                            FC_JANUS_VIDEO_PT, mp->video_fmtp, j->host, true));
    if (mp->audio)
        json_array_append_new(media, stream("audio", "a", "opus", FC_JANUS_AUDIO_PT,
                                            "sprop-stereo=0", j->host, false));
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:o}", "request", "create", "type",
                             "rtp", "admin_key", j->admin_key, "secret", j->admin_key, "is_private",
                             1, "permanent", 0, "media", media);
    if (mp->id) json_object_set_new(body, "id", json_integer((json_int_t)mp->id));
    if (mp->description) json_object_set_new(body, "description", json_string(mp->description));
    mp->state = MP_CREATING;
    post(j, OP_CREATE, mp, message(body), true);
}

static void send_destroy(fc_janus *j, fc_janus_mountpoint *mp)
{
    json_t *body = json_pack("{s:s, s:I, s:s, s:b}", "request", "destroy", "id", (json_int_t)mp->id,
                             "secret", j->admin_key, "permanent", 0);
    mp->state = MP_DESTROYING;
    post(j, OP_DESTROY, mp, message(body), true);
}

static void unlink_free(fc_janus *j, fc_janus_mountpoint *mp)
{
    for (fc_janus_mountpoint **p = &j->mps; *p; p = &(*p)->next) {
        if (*p == mp) {
            *p = mp->next;
            break;
        }
    }
    j->n_mps--;
    free(mp->description);
    free(mp->video_fmtp);
    free(mp);
}

static void fail(fc_janus_mountpoint *mp, const char *why)
{
    mp->state = MP_FAILED;
    fc_warn("janus: mountpoint %" PRIu64 ": %s", mp->id, why);
    if (mp->ev.failed) mp->ev.failed(mp, why, mp->ev.arg);
}

static void created(fc_janus *j, fc_janus_mountpoint *mp, const fc_janus_answer *a)
{
    char why[300];
    if (a->plugin_code == FC_STREAMING_CANT_CREATE && mp->id && !mp->replaced && !mp->doomed) {
        /* "A stream with the provided ID already exists": ours from before
         * (an earlier run, or a session Janus expired). */
        fc_info("janus: mountpoint %" PRIu64 " exists already; replacing it", mp->id);
        mp->replaced = true;
        mp->exists = true;
        mp->state = MP_REPLACE;
        return;
    }
    if (!a->created) {
        if (mp->doomed) {
            mp->state = MP_DOOMED;
            return;
        }
        snprintf(why, sizeof why, "Janus refused to create it: %s (%d)",
                 a->plugin_code ? a->plugin_reason : "no stream in the answer", a->plugin_code);
        fail(mp, why);
        return;
    }
    mp->exists = true;
    mp->id = a->ports.id;
    if (mp->doomed) {
        mp->state = MP_DOOMED;
        return;
    }
    if ((mp->video && (!a->ports.video || !a->ports.video_rtcp)) ||
        (mp->audio && !a->ports.audio)) {
        /* It exists but is no use; it is destroyed when the caller frees it. */
        fail(mp, "Janus's answer to create names no ports for its streams");
        return;
    }
    mp->ports = a->ports;
    if (!mp->ports.host[0]) snprintf(mp->ports.host, sizeof mp->ports.host, "%s", j->host);
    mp->state = MP_READY;
    fc_info("janus: mountpoint %" PRIu64 " ready (video %d, rtcp %d, audio %d on %s)", mp->ports.id,
            mp->ports.video, mp->ports.video_rtcp, mp->ports.audio, mp->ports.host);
    if (mp->ev.ready) mp->ev.ready(mp, &mp->ports, mp->ev.arg);
}

static void destroyed(fc_janus *j, fc_janus_mountpoint *mp, const fc_janus_answer *a)
{
    bool gone = a->plugin_code == 0 || a->plugin_code == FC_STREAMING_NO_SUCH_MOUNTPOINT;
    mp->exists = !gone;
    if (mp->doomed) {
        if (!gone)
            fc_warn("janus: cannot destroy mountpoint %" PRIu64 ": %s (%d)", mp->id,
                    a->plugin_reason, a->plugin_code);
        unlink_free(j, mp);
        return;
    }
    if (!gone) {
        char why[300];
        snprintf(why, sizeof why, "its id is taken in Janus by a mountpoint we cannot destroy: %s",
                 a->plugin_reason);
        fail(mp, why);
        return;
    }
    /* The one in the way is gone: create ours. */
    mp->state = MP_PENDING;
}

/* Starts the next request if Janus is ready and none is in flight. */
static void pump(fc_janus *j)
{
    if (j->state != FC_JANUS_READY || j->op != OP_NONE || j->walking || j->closed) return;
    for (fc_janus_mountpoint *mp = j->mps, *next; mp; mp = next) {
        next = mp->next;
        if (mp->state == MP_DOOMED && !mp->exists) {
            unlink_free(j, mp);
            continue;
        }
        if (mp->state == MP_DOOMED || mp->state == MP_REPLACE) {
            send_destroy(j, mp);
            return;
        }
        if (mp->state == MP_PENDING) {
            send_create(j, mp);
            return;
        }
    }
    if (j->closing) post(j, OP_GOODBYE, NULL, json_pack("{s:s}", "janus", "destroy"), false);
}

/* ---- answers ---- */

static void on_answer(int status, const char *body, size_t len, const char *err, void *arg)
{
    fc_janus *j = arg;
    op_kind op = j->op;
    fc_janus_mountpoint *mp = j->op_mp;
    j->op_req = NULL;
    j->op = OP_NONE;
    j->op_mp = NULL;
    char why[sizeof j->why];
    fc_janus_answer a;
    char perr[200];
    if (status != 200 || fc_janus_answer_parse(body, len, &a, perr, sizeof perr) != 0) {
        if (status != 200)
            failure(j, status, err, why, sizeof why);
        else
            snprintf(why, sizeof why, "Janus at http://%s:%d%s: %s", j->host, j->port, j->path,
                     perr);
        unreachable(j, why); /* a create in flight may or may not have happened */
        return;
    }
    if (a.kind == FC_JANUS_ANSWER_ERROR) {
        snprintf(why, sizeof why, "%s (%d)", a.reason, a.code);
        if (a.session_gone) {
            session_lost(j, why);
        } else if (op == OP_GOODBYE) {
            finish_close(j);
        } else if (mp) {
            if (mp->doomed)
                unlink_free(j, mp);
            else
                fail(mp, why);
            pump(j);
        } else {
            char full[sizeof j->why + 64];
            snprintf(full, sizeof full, "Janus refused %s: %s",
                     op == OP_ATTACH ? "to attach the Streaming plugin" : "a session", why);
            unreachable(j, full);
        }
        return;
    }
    switch (op) {
    case OP_SESSION:
        j->session = a.id;
        if (!j->session) {
            unreachable(j, "Janus's answer to create names no session id");
            return;
        }
        post(j, OP_ATTACH, NULL,
             json_pack("{s:s, s:s}", "janus", "attach", "plugin", "janus.plugin.streaming"), false);
        return;
    case OP_ATTACH:
        j->handle = a.id;
        if (!j->handle) {
            unreachable(j, "Janus's answer to attach names no handle id");
            return;
        }
        fc_info("janus: session %" PRIu64 " with the Streaming plugin at http://%s:%d%s",
                j->session, j->host, j->port, j->path);
        ready(j);
        return;
    case OP_CHECK:
        ready(j);
        return;
    case OP_CREATE:
        created(j, mp, &a);
        break;
    case OP_DESTROY:
        destroyed(j, mp, &a);
        break;
    case OP_GOODBYE:
        finish_close(j);
        return;
    case OP_NONE:
        break;
    }
    pump(j);
}

/* ---- life cycle ---- */

/* http://IP:PORT/PATH, IP v4 or v6 (in brackets), PATH without a trailing /. */
static int parse_url(fc_janus *j, const char *url, char *err, size_t errlen)
{
    char copy[300];
    const char *prot, *addr, *path;
    int port = 0;
    if (strlen(url) >= sizeof copy) {
        snprintf(err, errlen, "janus: URL %s is too long", url);
        return -EINVAL;
    }
    snprintf(copy, sizeof copy, "%s", url);
    if (lws_parse_uri(copy, &prot, &addr, &port, &path) != 0 || strcmp(prot, "http") != 0 ||
        port <= 0 || port > 65535) {
        snprintf(err, errlen, "janus: %s is not an http://ADDRESS:PORT/PATH URL", url);
        return -EINVAL;
    }
    unsigned char bin[16];
    if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1) {
        snprintf(err, errlen,
                 "janus: %s: give Janus's address as an IP address (its mountpoints' ports are "
                 "bound there and framecast sends RTP to it)",
                 url);
        return -EINVAL;
    }
    if (strlen(path) + 2 > sizeof j->path) {
        snprintf(err, errlen, "janus: %s: the path is longer than %zu bytes", url,
                 sizeof j->path - 2);
        return -EINVAL;
    }
    snprintf(j->host, sizeof j->host, "%s", addr);
    j->port = port;
    /* lws_parse_uri drops the leading '/'. */
    snprintf(j->path, sizeof j->path, "/%s", path);
    size_t n = strlen(j->path);
    while (n > 1 && j->path[n - 1] == '/')
        j->path[--n] = '\0';
    return 0;
}

int fc_janus_open(uv_loop_t *loop, const fc_janus_config *cfg, fc_janus **out, char *err,
                  size_t errlen)
{
    if (!cfg->url || !cfg->admin_key || !cfg->admin_key[0]) {
        snprintf(err, errlen, "janus: needs the API URL and the Streaming plugin's admin key");
        return -EINVAL;
    }
    fc_janus *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "janus: out of memory");
        return -ENOMEM;
    }
    int rc = parse_url(j, cfg->url, err, errlen);
    if (rc != 0) {
        free(j);
        return rc;
    }
    j->admin_key = strdup(cfg->admin_key);
    rc = j->admin_key ? fc_httpc_new(loop, MAX_ANSWER, &j->http, err, errlen) : -ENOMEM;
    if (rc != 0) {
        if (!j->admin_key) snprintf(err, errlen, "janus: out of memory");
        free(j->admin_key);
        free(j);
        return rc;
    }
    j->loop = loop;
    j->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    j->max_mps = cfg->max_mountpoints ? cfg->max_mountpoints : 256;
    j->on_state = cfg->on_state;
    j->arg = cfg->arg;
    j->backoff_ms = RETRY_FIRST_MS;
    uv_timer_init(loop, &j->retry);
    j->retry.data = j;
    *out = j;
    connect_janus(j);
    return 0;
}

fc_janus_state fc_janus_status(const fc_janus *j, const char **why)
{
    if (why) *why = j->why;
    return j->state;
}

int fc_janus_mountpoint_new(fc_janus *j, const fc_janus_mp_config *cfg,
                            const fc_janus_mp_events *ev, fc_janus_mountpoint **out, char *err,
                            size_t errlen)
{
    if (j->closing) {
        snprintf(err, errlen, "janus: closing");
        return -ESHUTDOWN;
    }
    if ((!cfg->video && !cfg->audio) ||
        (cfg->video && cfg->video != FC_RTP_VP8 && cfg->video != FC_RTP_H264)) {
        snprintf(err, errlen, "janus: a mountpoint needs VP8 or H.264 video, Opus audio, or both");
        return -EINVAL;
    }
    if (j->n_mps >= j->max_mps) {
        snprintf(err, errlen, "janus: %u mountpoints already, the most this server keeps",
                 j->n_mps);
        return -ENOSPC;
    }
    fc_janus_mountpoint *mp = calloc(1, sizeof *mp);
    if (mp && cfg->description) mp->description = strdup(cfg->description);
    if (mp && cfg->video_fmtp) mp->video_fmtp = strdup(cfg->video_fmtp);
    if (!mp || (cfg->description && !mp->description) || (cfg->video_fmtp && !mp->video_fmtp)) {
        if (mp) {
            free(mp->description);
            free(mp->video_fmtp);
            free(mp);
        }
        snprintf(err, errlen, "janus: out of memory");
        return -ENOMEM;
    }
    mp->j = j;
    mp->id = cfg->id;
    mp->video = cfg->video;
    mp->audio = cfg->audio;
    mp->ev = *ev;
    mp->state = MP_PENDING;
    /* Appended: mountpoints are created in the order they were asked for. */
    fc_janus_mountpoint **p = &j->mps;
    while (*p)
        p = &(*p)->next;
    *p = mp;
    j->n_mps++;
    *out = mp;
    pump(j);
    return 0;
}

void fc_janus_mountpoint_free(fc_janus_mountpoint *mp)
{
    if (!mp || mp->doomed) return;
    fc_janus *j = mp->j;
    mp->doomed = true;
    mp->ev = (fc_janus_mp_events){0};
    /* One in flight finishes first; its answer sees `doomed`. */
    if (mp->state == MP_CREATING || mp->state == MP_DESTROYING) return;
    mp->state = MP_DOOMED;
    /* Never created: nothing to tell Janus (unless a walk holds the list). */
    if (!mp->exists && !j->walking) {
        unlink_free(j, mp);
        return;
    }
    pump(j);
}

static void finish_close(fc_janus *j)
{
    if (!j->closing || j->closed) return;
    j->closed = true;
    stop_requests(j);
    uv_close((uv_handle_t *)&j->retry, NULL);
    fc_httpc_close(j->http);
    if (j->done) j->done(j->done_arg);
}

void fc_janus_close(fc_janus *j, void (*done)(void *arg), void *arg)
{
    if (j->closing) return;
    j->closing = true;
    j->done = done;
    j->done_arg = arg;
    j->walking++;
    for (fc_janus_mountpoint *mp = j->mps; mp; mp = mp->next)
        fc_janus_mountpoint_free(mp);
    j->walking--;
    fc_httpc_cancel(j->poll_req);
    j->poll_req = NULL;
    if (j->state != FC_JANUS_READY) {
        finish_close(j);
        return;
    }
    pump(j);
}

void fc_janus_free(fc_janus *j)
{
    if (!j) return;
    while (j->mps)
        unlink_free(j, j->mps);
    fc_httpc_free(j->http);
    free(j->admin_key);
    free(j);
}
