#include "transport/upload.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transport/conn.h"

enum { UP_AUDIO = 0, UP_SOURCE = 1, UP_FIELDS = 2 };
static const char *const upload_fields[UP_FIELDS] = {"audio", "source"};

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
    bool seen[UP_FIELDS];
    unsigned status; /* an error status, 0 while all is well */
    char err[300];
    char name[UP_FIELDS][64];
    bool submitted;
} fc_upload;

struct upload_conn {
    fc_conn *conn;
    fc_upload *up; /* in progress */
};

static void upload_fail(fc_upload *up, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void upload_fail(fc_upload *up, unsigned status, const char *fmt, ...)
{
    if (up->status) return;
    up->status = status;
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
            upload_fail(up, HTTP_STATUS_BAD_REQUEST, "unknown field '%.64s' (use audio, source)",
                        name);
        else if (up->seen[up->cur])
            upload_fail(up, HTTP_STATUS_BAD_REQUEST, "field '%s' given twice", name);
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
        upload_fail(up, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
                    "%s larger than %zu bytes (--max-upload-%s)", upload_fields[up->cur], limit,
                    audio ? "audio" : "image");
        fc_buf_free(b);
        return 0;
    }
    fc_buf_append(b, buf, (size_t)len);
    if (b->failed)
        upload_fail(up, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory holding the upload");
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
            upload_fail(up, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                        "audio is not WAV, FLAC, OGG or MP3 (judged by its content)");
        } else if (i == UP_SOURCE && !fc_media_is_image(t)) {
            upload_fail(up, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
                        "source is not a PNG, JPEG or WebP image (judged by its content)");
        } else {
            char err[300];
            if (fc_media_store(up->env->media, (const uint8_t *)b->data, b->len, t, up->name[i],
                               sizeof up->name[i], err, sizeof err) != 0)
                upload_fail(up, HTTP_STATUS_INTERNAL_SERVER_ERROR, "%s", err);
        }
    }
}

static int respond(fc_conn *c, fc_upload *up)
{
    json_t *obj = json_object();
    if (up->status) {
        json_object_set_new(obj, "error", json_string(up->err));
    } else {
        if (up->seen[UP_AUDIO])
            json_object_set_new(obj, "audio_path", json_string(up->name[UP_AUDIO]));
        if (up->seen[UP_SOURCE])
            json_object_set_new(obj, "source_path", json_string(up->name[UP_SOURCE]));
    }
    return fc_conn_respond_json(c, up->status ? up->status : HTTP_STATUS_OK, obj);
}

static void upload_done(fc_job *job)
{
    fc_upload *up = fc_container_of(job, fc_upload, job);
    if (up->uc) {
        up->uc->up = NULL;
        if (respond(up->uc->conn, up) != 0) fc_conn_drop(up->uc->conn);
    }
    upload_free(up);
}

static int upload_open(fc_conn *c, void *state, const char *path)
{
    upload_conn *uc = state;
    fc_server_env *env = fc_conn_env(c);
    uc->conn = c;
    if (strcmp(path, "/upload") != 0 || !env->media || !env->avatar)
        return fc_conn_respond_not_found(c, path);
    if (fc_conn_method(c) != LWSHUMETH_POST)
        return fc_conn_respond_status(c, HTTP_STATUS_METHOD_NOT_ALLOWED,
                                      "only POST /upload is served");
    /* Each upload holds its files in memory until a worker has written them:
     * the number at once bounds that memory, with the per-file limits. */
    if (env->uploads_active >= FC_UPLOADS_MAX)
        return fc_conn_respond_json(
            c, HTTP_STATUS_SERVICE_UNAVAILABLE,
            json_pack("{s:s}", "error", "too many uploads at once; try again"));
    fc_upload *up = calloc(1, sizeof *up);
    if (!up) return fc_conn_respond_status(c, HTTP_STATUS_INTERNAL_SERVER_ERROR, "out of memory");
    up->uc = uc;
    up->env = env;
    up->cur = -1;
    env->uploads_active++;
    lws_spa_create_info_t info = {
        .param_names = upload_fields,
        .count_params = UP_FIELDS,
        .max_storage = 1024,
        .opt_cb = file_cb,
        .opt_data = up,
    };
    up->spa = lws_spa_create_via_info(fc_conn_wsi(c), &info);
    if (!up->spa) {
        upload_free(up);
        return fc_conn_respond_status(c, HTTP_STATUS_BAD_REQUEST,
                                      "POST /upload wants multipart/form-data");
    }
    uc->up = up;
    return 0;
}

static int upload_body(fc_conn *c, void *state, const void *in, size_t len)
{
    (void)c;
    fc_upload *up = ((upload_conn *)state)->up;
    if (!up || up->submitted) return 0;
    if (lws_spa_process(up->spa, in, (int)len) != 0)
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, "malformed multipart body");
    return 0;
}

static int upload_body_done(fc_conn *c, void *state)
{
    upload_conn *uc = state;
    fc_upload *up = uc->up;
    if (!up || up->submitted) return 0;
    lws_spa_finalize(up->spa);
    lws_spa_destroy(up->spa);
    up->spa = NULL;
    if (!up->status && !up->seen[UP_AUDIO] && !up->seen[UP_SOURCE])
        upload_fail(up, HTTP_STATUS_BAD_REQUEST, "no file: send fields audio and/or source");
    if (up->status) {
        uc->up = NULL;
        int rc = respond(c, up);
        upload_free(up);
        return rc;
    }
    up->submitted = true;
    fc_server_env *env = fc_conn_env(c);
    up->job = (fc_job){
        .work = upload_work, .done = upload_done, .loop = env->loop, .role = FC_ROLE_OTHER};
    fc_pool_submit(env->pool, &up->job);
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
    .closed = upload_closed,
};
