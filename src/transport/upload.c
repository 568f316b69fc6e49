#include "transport/upload.h"

#include <inttypes.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "transport/auth/guard.h"
#include "transport/conn.h"
#include "transport/multipart.h"
#include "transport/upload_store.h"
#include "transport/utf8.h"

enum { UP_AUDIO = 0, UP_SOURCE = 1, UP_FIELDS = 2 };
static const char *const upload_fields[UP_FIELDS] = {"audio", "source"};

/* Multipart framing around the files (boundaries, part headers): a body may
 * be this much over the two files' limits. */
#define FRAMING_MAX (64u << 10)
/* How long a refused upload's body may take to be read and dropped. */
#define DISCARD_SECS 10
#define HTTP_STATUS_INSUFFICIENT_STORAGE 507

typedef struct upload_conn upload_conn;

/* One upload: lws's multipart parser hands each file's bytes to file_cb;
 * they are kept in memory (bounded by the limits), then a worker job checks
 * their types by content and writes them into the media directory, and the
 * loop answers. It outlives its connection when that closes while the job
 * runs. */
typedef struct fc_upload {
    fc_job job;
    upload_conn *uc; /* NULL once the connection is gone */
    fc_server_env *env;
    struct lws_spa *spa;
    int cur; /* field receiving content, -1 for none */
    fc_buf file[UP_FIELDS];
    bool seen[UP_FIELDS], stored[UP_FIELDS];
    unsigned status; /* an error status, 0 while all is well */
    fc_upload_refused reason;
    char err[600];
    char name[UP_FIELDS][64];
    bool submitted;
    fc_multipart_end end; /* how the body ended, which lws_spa does not say */
    uint64_t length;      /* Content-Length */
    uint64_t received;    /* body bytes so far */
    uint64_t start_ns;    /* when the headers were in */
} fc_upload;

struct upload_conn {
    fc_conn *conn;
    fc_upload *up; /* in progress */
};

static void upload_fail(fc_upload *up, unsigned status, fc_upload_refused reason, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));
static void upload_fail(fc_upload *up, unsigned status, fc_upload_refused reason, const char *fmt,
                        ...)
{
    if (up->status) return;
    up->status = status;
    up->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(up->err, sizeof up->err, fmt, ap);
    va_end(ap);
}

static void upload_free(fc_upload *up)
{
    up->env->uploads_active--;
    if (up->spa) lws_spa_destroy(up->spa);
    for (int i = 0; i < UP_FIELDS; i++)
        fc_buf_free(&up->file[i]);
    free(up);
}

/* An error answer that says why; `error` may quote client bytes. */
static int refuse(fc_conn *c, unsigned status, fc_upload_refused reason, const char *error)
{
    fc_conn_env(c)->uploads_refused[reason]++;
    char clean[sizeof((fc_upload *)0)->err];
    fc_utf8_clean(clean, sizeof clean, error, strlen(error));
    return fc_conn_respond_json(c, status, json_pack("{s:s}", "error", clean));
}

static int file_cb(void *data, const char *name, const char *filename, char *buf, int len,
                   enum lws_spa_fileupload_states state)
{
    (void)filename; /* never used: stored files get generated names */
    fc_upload *up = data;
    if (state == LWS_UFS_OPEN) {
        up->cur = -1;
        for (int i = 0; i < UP_FIELDS; i++)
            if (strcmp(name, upload_fields[i]) == 0) up->cur = i;
        if (up->cur < 0)
            upload_fail(up, HTTP_STATUS_BAD_REQUEST, FC_UPLOAD_REFUSED_MALFORMED,
                        "unknown field '%.64s' (use audio, source)", name);
        else if (up->seen[up->cur])
            upload_fail(up, HTTP_STATUS_BAD_REQUEST, FC_UPLOAD_REFUSED_MALFORMED,
                        "field '%s' given twice", name);
        else
            up->seen[up->cur] = true;
        return 0;
    }
    if ((state != LWS_UFS_CONTENT && state != LWS_UFS_FINAL_CONTENT) || up->cur < 0 || up->status ||
        len <= 0)
        return 0;
    bool audio = up->cur == UP_AUDIO;
    size_t limit = audio ? up->env->max_upload_audio : up->env->max_upload_image;
    fc_buf *b = &up->file[up->cur];
    if (b->len + (size_t)len > limit) {
        upload_fail(up, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, FC_UPLOAD_REFUSED_TOO_LARGE,
                    "%s larger than %zu bytes (--max-upload-%s)", upload_fields[up->cur], limit,
                    audio ? "audio" : "image");
        fc_buf_free(b);
        return 0;
    }
    fc_buf_append(b, buf, (size_t)len);
    if (b->failed)
        upload_fail(up, HTTP_STATUS_INTERNAL_SERVER_ERROR, FC_UPLOAD_REFUSED_FAILED,
                    "out of memory holding the upload");
    return 0;
}

static void upload_work(fc_job *job)
{
    fc_upload *up = fc_container_of(job, fc_upload, job);
    for (int i = 0; i < UP_FIELDS && !up->status; i++) {
        if (!up->seen[i]) continue;
        const fc_buf *b = &up->file[i];
        fc_media_type t = fc_media_sniff((const uint8_t *)b->data, b->len);
        if (i == UP_AUDIO && !fc_media_is_audio(t)) {
            upload_fail(up, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE, FC_UPLOAD_REFUSED_TYPE,
                        "audio is not WAV, FLAC, OGG or MP3 (judged by its content)");
        } else if (i == UP_SOURCE && !fc_media_is_image(t)) {
            upload_fail(up, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE, FC_UPLOAD_REFUSED_TYPE,
                        "source is not a PNG, JPEG or WebP image (judged by its content)");
        } else {
            char err[300];
            if (fc_media_store(up->env->media, (const uint8_t *)b->data, b->len, t, up->name[i],
                               sizeof up->name[i], err, sizeof err) != 0)
                upload_fail(up, HTTP_STATUS_INTERNAL_SERVER_ERROR, FC_UPLOAD_REFUSED_FAILED, "%s",
                            err);
            else
                up->stored[i] = true;
        }
    }
}

static int respond(fc_conn *c, fc_upload *up)
{
    if (up->status) return refuse(c, up->status, up->reason, up->err);
    json_t *obj = json_object();
    if (up->seen[UP_AUDIO]) json_object_set_new(obj, "audio_path", json_string(up->name[UP_AUDIO]));
    if (up->seen[UP_SOURCE])
        json_object_set_new(obj, "source_path", json_string(up->name[UP_SOURCE]));
    return fc_conn_respond_json(c, HTTP_STATUS_OK, obj);
}

static void upload_done(fc_job *job)
{
    fc_upload *up = fc_container_of(job, fc_upload, job);
    /* What was written counts against the quota from now on; the room kept
     * for what was not is given back. */
    for (int i = 0; i < UP_FIELDS; i++) {
        if (up->stored[i])
            fc_upload_store_commit(up->env->upload_store, up->name[i], up->file[i].len);
        else if (up->seen[i])
            fc_upload_store_cancel(up->env->upload_store, 1, up->file[i].len);
    }
    if (up->uc) {
        up->uc->up = NULL;
        /* The connection closes after this answer: what the client sent
         * behind the upload waited in lws's buffer while input was held, and
         * lws 4.1.6, going through it after a worker's answer, can loop
         * without end (a request with a body behind the upload, then the end
         * of the input: the multipart fuzzer's find). */
        if (respond(up->uc->conn, up) != 0) fc_conn_drop(up->uc->conn);
    }
    upload_free(up);
}

/* A refused upload's body is still coming: lws reads it to its length and
 * drops it, for DISCARD_SECS at most (then the connection closes, see
 * upload_timer), so a refusal never holds a connection for long. */
static int refuse_early(fc_conn *c, unsigned status, fc_upload_refused reason, const char *error)
{
    fc_conn_set_timer(c, (int64_t)DISCARD_SECS * 1000000);
    return refuse(c, status, reason, error);
}

/* The next time the upload must be checked: when the bytes it has will no
 * longer be enough for --upload-min-rate, or at --upload-timeout. */
static void arm_timer(fc_conn *c, const fc_upload *up)
{
    const fc_server_env *env = fc_conn_env(c);
    uint64_t deadline = up->start_ns + (uint64_t)env->upload_timeout_s * 1000000000ull;
    uint64_t enough = up->start_ns + FC_UPLOAD_GRACE_SECS * 1000000000ull +
                      (uint64_t)((double)up->received * 1e9 /
                                 (double)(env->upload_min_rate ? env->upload_min_rate : 1));
    uint64_t at = enough < deadline ? enough : deadline, now = fc_now_ns();
    fc_conn_set_timer(c, at > now ? (int64_t)((at - now) / 1000) + 1 : 1);
}

static int upload_open(fc_conn *c, void *state, const char *path)
{
    upload_conn *uc = state;
    fc_server_env *env = fc_conn_env(c);
    uc->conn = c;
    if (strcmp(path, "/upload") != 0 || !env->media || !env->avatar || !env->upload_store)
        return fc_conn_respond_not_found(c, path);
    if (fc_conn_method(c) != LWSHUMETH_POST)
        return fc_conn_respond_status(c, HTTP_STATUS_METHOD_NOT_ALLOWED,
                                      "only POST /upload is served");
    int rc;
    if (!fc_auth_http_change(c, &rc)) return rc;
    /* server.c has checked the Content-Length: digits, one of them. */
    char cl[32] = "";
    lws_hdr_copy(fc_conn_wsi(c), cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
    uint64_t length = strtoull(cl, NULL, 10);
    uint64_t most = (uint64_t)env->max_upload_image + env->max_upload_audio + FRAMING_MAX;
    if (length > most) {
        /* Not read at all: the connection closes after the answer. */
        char why[200];
        snprintf(why, sizeof why,
                 "upload of %" PRIu64 " bytes: more than the %" PRIu64
                 " two files may take (--max-upload-image, --max-upload-audio)",
                 length, most);
        return refuse(c, HTTP_STATUS_REQ_ENTITY_TOO_LARGE, FC_UPLOAD_REFUSED_TOO_LARGE, why);
    }
    /* Each upload holds its files in memory until a worker has written them:
     * the number at once bounds that memory, with the per-file limits. */
    if (env->uploads_active >= FC_UPLOADS_MAX)
        return refuse_early(c, HTTP_STATUS_SERVICE_UNAVAILABLE, FC_UPLOAD_REFUSED_BUSY,
                            "too many uploads at once; try again");
    char ctype[256] = "", boundary[FC_MULTIPART_BOUNDARY_MAX + 1], err[160];
    lws_hdr_copy(fc_conn_wsi(c), ctype, sizeof ctype, WSI_TOKEN_HTTP_CONTENT_TYPE);
    if (fc_multipart_boundary(ctype, boundary, sizeof boundary, err, sizeof err) != 0)
        return refuse_early(c, HTTP_STATUS_BAD_REQUEST, FC_UPLOAD_REFUSED_MALFORMED, err);
    fc_upload *up = calloc(1, sizeof *up);
    if (!up) return fc_conn_respond_status(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    up->uc = uc;
    up->env = env;
    up->cur = -1;
    up->length = length;
    up->start_ns = fc_now_ns();
    fc_multipart_end_init(&up->end, boundary);
    env->uploads_active++;
    /* No parameter names: lws 4.1.6 keeps the values of named fields that
     * are not files in its storage, and once they fill it to its last byte
     * it writes the next part past the end (a heap overflow the multipart
     * fuzzer found). Files go to file_cb and never use that storage, except
     * as a bounce buffer; fields that are not files are ignored. */
    lws_spa_create_info_t info = {
        .max_storage = 1024,
        .opt_cb = file_cb,
        .opt_data = up,
    };
    up->spa = lws_spa_create_via_info(fc_conn_wsi(c), &info);
    if (!up->spa) {
        upload_free(up);
        return fc_conn_respond_status(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    }
    uc->up = up;
    /* A slot is held only while the body comes at a decent pace: a client
     * that trickles it (or stalls) loses it (upload_timer). */
    arm_timer(c, up);
    return 0;
}

static int upload_body(fc_conn *c, void *state, const void *in, size_t len)
{
    (void)c;
    fc_upload *up = ((upload_conn *)state)->up;
    if (!up || up->submitted) return 0;
    up->received += len;
    fc_multipart_end_feed(&up->end, in, len);
    if (lws_spa_process(up->spa, in, (int)len) != 0)
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, FC_UPLOAD_REFUSED_MALFORMED,
                    "malformed multipart body");
    return 0;
}

/* Too slow, or not in by the deadline: the slot goes back, the client is
 * told why and the connection closes (the rest of its body is not read).
 * Also the end of a refused upload's time to drop its body. */
static int upload_timer(fc_conn *c, void *state)
{
    upload_conn *uc = state;
    fc_upload *up = uc->up;
    if (!up) return -1; /* a refused body still coming after DISCARD_SECS */
    if (up->submitted) return 0;
    const fc_server_env *env = fc_conn_env(c);
    uint64_t now = fc_now_ns(), elapsed = now - up->start_ns;
    double secs = (double)elapsed / 1e9;
    double grace = FC_UPLOAD_GRACE_SECS;
    char why[200];
    if (elapsed >= (uint64_t)env->upload_timeout_s * 1000000000ull)
        snprintf(why, sizeof why,
                 "upload not complete after %u s (%" PRIu64 " of %" PRIu64
                 " bytes; --upload-timeout)",
                 env->upload_timeout_s, up->received, up->length);
    else if (secs > grace && (double)up->received < (secs - grace) * (double)env->upload_min_rate)
        snprintf(why, sizeof why,
                 "upload too slow: %" PRIu64 " bytes in %.1f s, under %" PRIu64
                 " bytes/s after the first %d s (--upload-min-rate)",
                 up->received, secs, env->upload_min_rate, FC_UPLOAD_GRACE_SECS);
    else {
        arm_timer(c, up);
        return 0;
    }
    uc->up = NULL;
    upload_free(up);
    refuse(c, HTTP_STATUS_REQUEST_TIMEOUT, FC_UPLOAD_REFUSED_SLOW, why);
    return -1;
}

static int upload_body_done(fc_conn *c, void *state)
{
    upload_conn *uc = state;
    fc_upload *up = uc->up;
    if (!up || up->submitted) return 0;
    fc_conn_set_timer(c, -1);
    lws_spa_finalize(up->spa);
    lws_spa_destroy(up->spa);
    up->spa = NULL;
    fc_server_env *env = fc_conn_env(c);
    if (up->received != up->length) {
        /* lws_spa ended lws's body at the closing boundary: what follows
         * it must not be read as the next request. */
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, FC_UPLOAD_REFUSED_MALFORMED,
                    "data after the closing boundary (%" PRIu64 " of %" PRIu64
                    " bytes read): refused",
                    up->received, up->length);
    } else if (!fc_multipart_end_closed(&up->end)) {
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, FC_UPLOAD_REFUSED_MALFORMED,
                    "multipart body without its closing boundary (cut short?): nothing stored");
    }
    if (!up->status && !up->seen[UP_AUDIO] && !up->seen[UP_SOURCE])
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, FC_UPLOAD_REFUSED_MALFORMED,
                    "no file: send fields audio and/or source");
    size_t files = 0;
    uint64_t bytes = 0;
    for (int i = 0; i < UP_FIELDS; i++)
        if (up->seen[i]) {
            files++;
            bytes += up->file[i].len;
        }
    char err[400];
    if (!up->status && fc_upload_store_reserve(env->upload_store, files, bytes, err, sizeof err))
        upload_fail(up, HTTP_STATUS_INSUFFICIENT_STORAGE, FC_UPLOAD_REFUSED_QUOTA, "%s", err);
    if (up->status) {
        uc->up = NULL;
        int rc = respond(c, up);
        upload_free(up);
        return rc;
    }
    up->job = (fc_job){.work = upload_work,
                       .done = upload_done,
                       .loop = env->loop,
                       .role = FC_ROLE_OTHER,
                       .cls = FC_JOB_SETUP};
    if (fc_pool_submit(env->pool, &up->job) != 0) {
        /* The set-up queue is full (sessions being prepared, other uploads
         * being written): come back rather than queue without bound. */
        fc_upload_store_cancel(env->upload_store, files, bytes);
        uc->up = NULL;
        upload_free(up);
        return refuse(c, HTTP_STATUS_SERVICE_UNAVAILABLE, FC_UPLOAD_REFUSED_BUSY,
                      "server busy: uploads are being stored; try again");
    }
    up->submitted = true;
    /* The answer comes from the job's done; nothing behind this request is
     * read before it. */
    fc_conn_hold_input(c);
    return 0;
}

static void upload_closed(fc_conn *c, void *state)
{
    (void)c;
    upload_conn *uc = state;
    fc_upload *up = uc->up;
    uc->up = NULL;
    if (!up) return;
    if (up->submitted)
        up->uc = NULL; /* the job frees it */
    else
        upload_free(up);
}

const fc_endpoint fc_upload_endpoint = {
    .prefixes = (const char *const[]){"/upload", NULL},
    .state_size = sizeof(upload_conn),
    .open = upload_open,
    .body = upload_body,
    .body_done = upload_body_done,
    .timer = upload_timer,
    .closed = upload_closed,
};
