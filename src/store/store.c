/* The store: one SQLite connection, the thread that writes through it and
 * the start-up read. Invariants:
 *   - conn_mu is held by whoever uses `db`: the store thread for the length
 *     of one write, fc_store_load for its snapshot. Never the queue's lock,
 *     so submitting never waits for a disk.
 *   - Writes commit one at a time in the order they were submitted; each is
 *     one transaction, and its `done` is posted only after COMMIT returned.
 *   - SQLite is given no busy handler: its handler retries by sleeping, and
 *     the file has one writer, this thread. Another process holding the write
 *     lock makes a write fail at once with -EBUSY instead. */
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "core/clock.h"
#include "core/loop.h"
#include "store/schema.h"
#include "store/sql.h"

#define STORE_PATH_MAX 1024

enum { ST_INSERT, ST_INSERT_QUALITY, ST_UPDATE, ST_DELETE_QUALITY, ST_DELETE, ST_COUNT };

static const char *const statements[ST_COUNT] = {
    [ST_INSERT] = "INSERT INTO streams (id, spec, encode_fps, detect, detect_fps, created_at, "
                  "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    [ST_INSERT_QUALITY] =
        "INSERT INTO stream_quality (stream_id, tier, quality) VALUES (?1, ?2, ?3)",
    [ST_UPDATE] =
        "UPDATE streams SET encode_fps = ?2, detect = ?3, detect_fps = ?4, updated_at = ?5 "
        "WHERE id = ?1 RETURNING spec, created_at",
    [ST_DELETE_QUALITY] = "DELETE FROM stream_quality WHERE stream_id = ?1",
    [ST_DELETE] = "DELETE FROM streams WHERE id = ?1",
};

struct fc_store {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    pthread_mutex_t conn_mu;
    pthread_mutex_t mu; /* the queue: head, tail, queued, stopping */
    pthread_cond_t cv;
    fc_job *head, *tail;
    size_t queued;
    bool stopping;
    bool running; /* the thread was started */
    pthread_t thread;
    char path[STORE_PATH_MAX];
};

/* Settings that are not set are NULL in the file. */
static void bind_settings(sqlite3_stmt *s, int first, const fc_store_stream *row)
{
    if (row->encode_fps > 0)
        sqlite3_bind_double(s, first, row->encode_fps);
    else
        sqlite3_bind_null(s, first);
    if (row->detect >= 0)
        sqlite3_bind_int(s, first + 1, row->detect);
    else
        sqlite3_bind_null(s, first + 1);
    if (row->detect_fps > 0)
        sqlite3_bind_double(s, first + 2, row->detect_fps);
    else
        sqlite3_bind_null(s, first + 2);
}

/* Runs a statement that returns no rows; SQLITE_OK or the error. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_qualities(fc_store *st, const fc_store_stream *row)
{
    sqlite3_stmt *s = st->st[ST_INSERT_QUALITY];
    for (int t = 0; t < FC_TIER_COUNT; t++) {
        if (!row->quality[t]) continue;
        sqlite3_bind_text(s, 1, row->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, fc_tier_name((fc_tier)t), -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 3, row->quality[t]);
        int rc = step_done(s);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

static int do_insert(fc_store *st, fc_store_stream *row, double now)
{
    sqlite3_stmt *s = st->st[ST_INSERT];
    sqlite3_bind_text(s, 1, row->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, row->spec, -1, SQLITE_STATIC);
    bind_settings(s, 3, row);
    sqlite3_bind_double(s, 6, now);
    int rc = step_done(s);
    if (rc == SQLITE_OK) rc = insert_qualities(st, row);
    if (rc == SQLITE_OK) row->created = row->updated = now;
    return rc;
}

/* SQLITE_NOTFOUND (not otherwise returned by a step) for an unknown id. */
static int do_update(fc_store *st, fc_store_stream *row, double now)
{
    sqlite3_stmt *s = st->st[ST_UPDATE];
    sqlite3_bind_text(s, 1, row->id, -1, SQLITE_STATIC);
    bind_settings(s, 2, row);
    sqlite3_bind_double(s, 5, now);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        snprintf(row->spec, sizeof row->spec, "%s", (const char *)sqlite3_column_text(s, 0));
        row->created = sqlite3_column_double(s, 1);
        row->updated = now;
        rc = sqlite3_step(s);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_NOTFOUND;
    }
    sqlite3_reset(s);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st->st[ST_DELETE_QUALITY], 1, row->id, -1, SQLITE_STATIC);
        rc = step_done(st->st[ST_DELETE_QUALITY]);
    }
    return rc == SQLITE_OK ? insert_qualities(st, row) : rc;
}

static int do_delete(fc_store *st, const fc_store_stream *row)
{
    sqlite3_stmt *s = st->st[ST_DELETE];
    sqlite3_bind_text(s, 1, row->id, -1, SQLITE_STATIC);
    int rc = step_done(s);
    /* Its quality rows go with it (ON DELETE CASCADE). */
    return rc == SQLITE_OK && sqlite3_changes(st->db) == 0 ? SQLITE_NOTFOUND : rc;
}

/* One write, one transaction. Store thread, under conn_mu. */
static int run_write(fc_store *st, fc_store_write *w)
{
    static const char *const verbs[] = {"adding", "updating", "removing"};
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        double now = fc_wall_seconds();
        rc = w->op == FC_STORE_INSERT   ? do_insert(st, &w->row, now)
             : w->op == FC_STORE_UPDATE ? do_update(st, &w->row, now)
                                        : do_delete(st, &w->row);
        if (rc == SQLITE_OK) rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_clear_bindings(st->st[i]);
    if (rc == SQLITE_OK) return 0;
    if (rc == SQLITE_NOTFOUND) {
        snprintf(w->err, sizeof w->err, "%s: no stream '%s' is stored", st->path, w->row.id);
        return -ENOENT;
    }
    if (fc_sql_errno(rc) == -EEXIST) {
        snprintf(w->err, sizeof w->err, "%s: a stream '%s' is already stored", st->path, w->row.id);
        return -EEXIST;
    }
    char what[96];
    snprintf(what, sizeof what, "%s stream '%s'", verbs[w->op], w->row.id);
    return fc_sql_fail(st->db, rc, st->path, what, w->err, sizeof w->err);
}

static void *store_main(void *arg)
{
    fc_store *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->head && !st->stopping)
            pthread_cond_wait(&st->cv, &st->mu);
        fc_job *job = st->head;
        if (!job) break;
        st->head = job->next;
        if (!st->head) st->tail = NULL;
        st->queued--;
        pthread_mutex_unlock(&st->mu);

        fc_store_write *w = fc_container_of(job, fc_store_write, job);
        uint64_t cpu0 = fc_thread_cpu_ns();
        pthread_mutex_lock(&st->conn_mu);
        w->result = run_write(st, w);
        pthread_mutex_unlock(&st->conn_mu);
        job->cpu_ns = fc_thread_cpu_ns() - cpu0;
        job->posted_ns = fc_now_ns();
        /* From here the write is its owner's again: it may be freed at once. */
        fc_loop_post_done(job->loop, job);

        pthread_mutex_lock(&st->mu);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* SQLite's open of a file that does not exist yet in a directory it may not
 * write falls back to opening it read-only and reports that errno (ENOENT),
 * which blames the wrong thing: say what is wrong with the directory. */
static int open_failed(sqlite3 *db, int rc, const char *path, char *err, size_t errlen)
{
    struct stat sb;
    char parent[sizeof((fc_store *)0)->path];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(parent, sizeof parent, ".");
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        if (stat(parent, &sb) != 0) {
            int e = errno;
            snprintf(err, errlen, "%s: cannot create it: directory %s: %s", path, parent,
                     strerror(e));
            return -e;
        }
        if (access(parent, W_OK) != 0) {
            int e = errno;
            snprintf(err, errlen, "%s: cannot create it: directory %s is not writable (%s)", path,
                     parent, strerror(e));
            return -e;
        }
    }
    return fc_sql_fail(db, rc, path, "opening it", err, errlen);
}

void fc_store_close(fc_store *st)
{
    if (!st) return;
    if (st->running) {
        pthread_mutex_lock(&st->mu);
        st->stopping = true;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
        pthread_join(st->thread, NULL);
        pthread_mutex_destroy(&st->mu);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->conn_mu);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(st->st[i]);
    sqlite3_close(st->db);
    free(st);
}

int fc_store_open(const char *path, fc_store **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "no database path given (a file, or :memory:)");
        return -EINVAL;
    }
    fc_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    if (strlen(path) >= sizeof st->path) {
        snprintf(err, errlen, "database path is longer than %zu bytes", sizeof st->path - 1);
        free(st);
        return -ENAMETOOLONG;
    }
    strcpy(st->path, path);
    /* NOMUTEX: conn_mu already keeps the connection to one thread at a time. */
    int rc = sqlite3_open_v2(path, &st->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                                 SQLITE_OPEN_EXRESCODE,
                             NULL);
    int ret = rc == SQLITE_OK ? fc_store_schema_prepare(st->db, path, err, errlen)
                              : open_failed(st->db, rc, path, err, errlen);
    for (int i = 0; i < ST_COUNT && ret == 0; i++) {
        rc = sqlite3_prepare_v3(st->db, statements[i], -1, SQLITE_PREPARE_PERSISTENT, &st->st[i],
                                NULL);
        if (rc != SQLITE_OK)
            ret = fc_sql_fail(st->db, rc, path, "preparing its statements", err, errlen);
    }
    if (ret == 0) {
        pthread_mutex_init(&st->conn_mu, NULL);
        pthread_mutex_init(&st->mu, NULL);
        pthread_cond_init(&st->cv, NULL);
        rc = pthread_create(&st->thread, NULL, store_main, st);
        if (rc != 0) {
            snprintf(err, errlen, "%s: cannot start the store thread: %s", path, strerror(rc));
            pthread_mutex_destroy(&st->conn_mu);
            pthread_mutex_destroy(&st->mu);
            pthread_cond_destroy(&st->cv);
            ret = -rc;
        } else {
            st->running = true;
            pthread_setname_np(st->thread, "fc-store");
        }
    }
    if (ret != 0) {
        fc_store_close(st);
        return ret;
    }
    *out = st;
    return 0;
}

int fc_store_submit(fc_store *st, fc_store_write *w)
{
    w->err[0] = '\0';
    int rc = fc_store_row_check(w->op, &w->row, w->err, sizeof w->err);
    if (rc != 0) return rc;
    w->result = 0;
    w->job.next = NULL;
    pthread_mutex_lock(&st->mu);
    if (st->queued >= FC_STORE_QUEUE_MAX) {
        pthread_mutex_unlock(&st->mu);
        snprintf(w->err, sizeof w->err, "%s: %d writes are already waiting for the disk", st->path,
                 FC_STORE_QUEUE_MAX);
        return -EAGAIN;
    }
    if (st->tail)
        st->tail->next = &w->job;
    else
        st->head = &w->job;
    st->tail = &w->job;
    st->queued++;
    pthread_cond_signal(&st->cv);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

/* Text column `col` into dst, refusing what does not fit (a file edited with
 * its checks off) rather than cutting it. */
static int column_text(sqlite3_stmt *s, int col, char *dst, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(s, col);
    size_t n = (size_t)sqlite3_column_bytes(s, col);
    if (!t || n >= cap) return -1;
    memcpy(dst, t, n + 1);
    return 0;
}

static int read_qualities(sqlite3_stmt *q, fc_store_stream *row)
{
    sqlite3_bind_text(q, 1, row->id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        fc_tier t;
        if (fc_tier_parse((const char *)sqlite3_column_text(q, 0), &t) == 0)
            row->quality[t] = sqlite3_column_int(q, 1);
    }
    sqlite3_reset(q);
    sqlite3_clear_bindings(q);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Reads every row; under conn_mu, inside one read transaction. */
static int read_rows(fc_store *st, sqlite3_stmt *s, sqlite3_stmt *q, size_t max_rows,
                     fc_store_stream **rows, size_t *n, char *err, size_t errlen)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == max_rows) {
            snprintf(err, errlen, "%s holds more than %zu streams, the most this server takes",
                     st->path, max_rows);
            return -E2BIG;
        }
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            ncap = ncap > max_rows ? max_rows : ncap;
            fc_store_stream *grown = realloc(*rows, ncap * sizeof **rows);
            if (!grown) {
                snprintf(err, errlen, "%s: out of memory reading its streams", st->path);
                return -ENOMEM;
            }
            *rows = grown;
            cap = ncap;
        }
        fc_store_stream *row = &(*rows)[*n];
        memset(row, 0, sizeof *row);
        if (column_text(s, 0, row->id, sizeof row->id) != 0 ||
            column_text(s, 1, row->spec, sizeof row->spec) != 0) {
            snprintf(err, errlen, "%s: stream %zu has an id or spec too long to be framecast's",
                     st->path, *n + 1);
            return -EBADMSG;
        }
        row->encode_fps = sqlite3_column_double(s, 2);
        row->detect = sqlite3_column_type(s, 3) == SQLITE_NULL ? -1 : sqlite3_column_int(s, 3);
        row->detect_fps = sqlite3_column_double(s, 4);
        row->created = sqlite3_column_double(s, 5);
        row->updated = sqlite3_column_double(s, 6);
        rc = read_qualities(q, row);
        if (rc != SQLITE_OK) break;
        char why[FC_STORE_SPEC_MAX + 192];
        if (fc_store_row_check(FC_STORE_INSERT, row, why, sizeof why) != 0) {
            snprintf(err, errlen, "%s: stored stream '%s': %s", st->path, row->id, why);
            return -EBADMSG;
        }
        (*n)++;
    }
    return rc == SQLITE_DONE
               ? 0
               : fc_sql_fail(st->db, rc, st->path, "reading its streams", err, errlen);
}

int fc_store_load(fc_store *st, size_t max_rows, fc_store_stream **rows, size_t *n, char *err,
                  size_t errlen)
{
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *s = NULL, *q = NULL;
    pthread_mutex_lock(&st->conn_mu);
    int rc = sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(st->db,
                                "SELECT id, spec, encode_fps, detect, detect_fps, created_at, "
                                "updated_at FROM streams ORDER BY created_at, id",
                                -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(
            st->db, "SELECT tier, quality FROM stream_quality WHERE stream_id = ?1", -1, &q, NULL);
    int ret = rc == SQLITE_OK
                  ? read_rows(st, s, q, max_rows, rows, n, err, errlen)
                  : fc_sql_fail(st->db, rc, st->path, "reading its streams", err, errlen);
    sqlite3_finalize(s);
    sqlite3_finalize(q);
    if (sqlite3_get_autocommit(st->db) == 0) sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&st->conn_mu);
    if (ret != 0) {
        free(*rows);
        *rows = NULL;
        *n = 0;
    }
    return ret;
}
