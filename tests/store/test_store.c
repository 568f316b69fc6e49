/* The store: writes through its thread with completions on a real fc_loop,
 * start-up reads, the checks at open, the bounded queue. Files live in a
 * fresh directory under /tmp; ":memory:" where no file is needed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "core/clock.h"
#include "core/loop.h"
#include "store/store.h"

typedef struct req {
    fc_store_write w;
    int done;
    pthread_t thread;
    const char *check_path; /* if set, `done` looks at the file from another connection */
    long long seen_rows;
} req;

static fc_loop loop;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/fc-store-XXXXXX");
    if (!mkdtemp(dir) || fc_loop_init(&loop) != 0) return -1;
    chmod(dir, 0755); /* the read-only test's other user must reach it */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fc_loop_close(&loop);
    uv_run(&loop.uv, UV_RUN_DEFAULT);
    uv_loop_close(&loop.uv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void file_path(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

static long long count_rows(const char *path, const char *id)
{
    sqlite3 *db;
    sqlite3_stmt *s;
    long long n = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM streams WHERE id = ?1", -1, &s, NULL) ==
            SQLITE_OK) {
        sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) n = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return n;
}

static void on_done(fc_job *job)
{
    req *r = fc_container_of(job, req, w.job);
    r->done = 1;
    r->thread = pthread_self();
    if (r->check_path) r->seen_rows = count_rows(r->check_path, r->w.row.id);
}

static void row_init(fc_store_stream *row, const char *id, const char *spec)
{
    memset(row, 0, sizeof *row);
    snprintf(row->id, sizeof row->id, "%s", id);
    snprintf(row->spec, sizeof row->spec, "%s", spec);
    row->detect = -1;
}

static void submit(fc_store *st, req *r, fc_store_op op, const fc_store_stream *row)
{
    memset(r, 0, sizeof *r);
    r->w.op = op;
    r->w.row = *row;
    r->w.job.done = on_done;
    r->w.job.loop = &loop;
    int rc = fc_store_submit(st, &r->w);
    if (rc != 0) fail_msg("submit: %s", r->w.err);
}

/* Waits on the loop (blocking in epoll) until `done` has run. */
static void wait_done(req *r)
{
    while (!r->done)
        uv_run(&loop.uv, UV_RUN_ONCE);
}

/* One write, waited for; returns its result. */
static int write_row(fc_store *st, fc_store_op op, const fc_store_stream *row, req *r)
{
    submit(st, r, op, row);
    wait_done(r);
    assert_true(pthread_equal(r->thread, loop.thread));
    return r->w.result;
}

static fc_store *open_ok(const char *path)
{
    fc_store *st;
    char err[1024];
    int rc = fc_store_open(path, &st, err, sizeof err);
    if (rc != 0) fail_msg("open %s: %s", path, err);
    return st;
}

static void crud_round_trip(void **state)
{
    (void)state;
    fc_store *st = open_ok(":memory:");
    fc_store_stream row, *rows;
    size_t n;
    char err[1024];
    req r;
    row_init(&row, "lobby", "synthetic:procedural,id=lobby,size=640x360");
    row.encode_fps = 10;
    row.detect = 1;
    row.quality[FC_TIER_HIGH] = 90;
    row.quality[FC_TIER_LOW] = 40;
    assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), 0);
    assert_true(r.w.row.created > 1e9 && r.w.row.updated == r.w.row.created);
    double created = r.w.row.created;

    assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), -EEXIST);
    assert_non_null(strstr(r.w.err, "'lobby' is already stored"));

    assert_int_equal(fc_store_load(st, 10, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, "lobby");
    assert_string_equal(rows[0].spec, "synthetic:procedural,id=lobby,size=640x360");
    assert_true(rows[0].encode_fps == 10 && rows[0].detect == 1 && rows[0].detect_fps == 0);
    assert_int_equal(rows[0].quality[FC_TIER_HIGH], 90);
    assert_int_equal(rows[0].quality[FC_TIER_MEDIUM], 0);
    assert_int_equal(rows[0].quality[FC_TIER_LOW], 40);
    free(rows);

    /* An update replaces every setting, leaves the spec alone and says what
     * it was. */
    fc_store_stream patch;
    row_init(&patch, "lobby", "");
    patch.detect = 0;
    patch.detect_fps = 5;
    patch.quality[FC_TIER_MEDIUM] = 70;
    assert_int_equal(write_row(st, FC_STORE_UPDATE, &patch, &r), 0);
    assert_string_equal(r.w.row.spec, "synthetic:procedural,id=lobby,size=640x360");
    assert_true(r.w.row.created == created && r.w.row.updated >= created);
    assert_int_equal(fc_store_load(st, 10, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_true(rows[0].encode_fps == 0 && rows[0].detect == 0 && rows[0].detect_fps == 5);
    assert_int_equal(rows[0].quality[FC_TIER_HIGH], 0);
    assert_int_equal(rows[0].quality[FC_TIER_MEDIUM], 70);
    assert_int_equal(rows[0].quality[FC_TIER_LOW], 0);
    assert_true(rows[0].created == created);
    free(rows);

    row_init(&patch, "nobody", "");
    assert_int_equal(write_row(st, FC_STORE_UPDATE, &patch, &r), -ENOENT);
    assert_non_null(strstr(r.w.err, "no stream 'nobody' is stored"));
    assert_int_equal(write_row(st, FC_STORE_DELETE, &patch, &r), -ENOENT);

    row_init(&patch, "lobby", "");
    assert_int_equal(write_row(st, FC_STORE_DELETE, &patch, &r), 0);
    assert_int_equal(fc_store_load(st, 10, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    free(rows);
    /* Deleting took its quality rows along: the id can be added afresh. */
    assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), 0);
    fc_store_close(st);
}

static void rows_come_back_after_reopen(void **state)
{
    (void)state;
    char path[128];
    file_path(path, sizeof path, "reopen.db");
    fc_store *st = open_ok(path);
    fc_store_stream row;
    req r;
    const char *ids[] = {"b", "a", "c"};
    for (int i = 0; i < 3; i++) {
        row_init(&row, ids[i], "synthetic:procedural");
        row.quality[FC_TIER_MEDIUM] = 50 + i;
        assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), 0);
    }
    fc_store_close(st);

    st = open_ok(path);
    fc_store_stream *rows;
    size_t n;
    char err[1024];
    assert_int_equal(fc_store_load(st, 10, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(rows[i].id, ids[i]); /* oldest first, not by name */
        assert_int_equal(rows[i].quality[FC_TIER_MEDIUM], 50 + i);
    }
    free(rows);
    /* More rows than the caller takes is an error, not a silent cut. */
    assert_int_equal(fc_store_load(st, 2, &rows, &n, err, sizeof err), -E2BIG);
    assert_non_null(strstr(err, "more than 2 streams"));
    assert_non_null(strstr(err, path));
    fc_store_close(st);

    /* The file says what it is: WAL, framecast's, schema version 1. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    const char *checks[][2] = {{"PRAGMA journal_mode", "wal"},
                               {"PRAGMA user_version", "1"},
                               {"PRAGMA application_id", "1178825588"}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sqlite3_prepare_v2(db, checks[i][0], -1, &s, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        assert_string_equal((const char *)sqlite3_column_text(s, 0), checks[i][1]);
        sqlite3_finalize(s);
    }
    sqlite3_close(db);
}

/* `done` runs only after COMMIT: another connection already sees the row. */
static void done_comes_after_the_commit(void **state)
{
    (void)state;
    char path[128];
    file_path(path, sizeof path, "commit.db");
    fc_store *st = open_ok(path);
    fc_store_stream row;
    row_init(&row, "cam7", "synthetic:procedural");
    for (int i = 0; i < 5; i++) {
        req r;
        submit(st, &r, i % 2 ? FC_STORE_DELETE : FC_STORE_INSERT, &row);
        r.check_path = path;
        wait_done(&r);
        assert_int_equal(r.w.result, 0);
        assert_int_equal(r.seen_rows, i % 2 ? 0 : 1);
    }
    fc_store_close(st);
}

static void bad_rows_are_refused_naming_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *id, *spec;
        double encode_fps, detect_fps;
        int detect, tier, quality;
        const char *needle;
    } bad[] = {
        {"a/b", "synthetic:procedural", 0, 0, -1, 0, 0, "id 'a/b'"},
        {"", "synthetic:procedural", 0, 0, -1, 0, 0, "id ''"},
        {"cam0", "teleport:x", 0, 0, -1, 0, 0,
         "spec: source spec 'teleport:x': unknown source type"},
        {"cam0", "synthetic:procedural,id=cam1", 0, 0, -1, 0, 0, "id=cam1 is not the stream's"},
        {"cam0", "synthetic:procedural", 500, 0, -1, 0, 0, "encode_fps 500"},
        {"cam0", "synthetic:procedural", -1, 0, -1, 0, 0, "encode_fps -1"},
        {"cam0", "synthetic:procedural", 0, 0, 2, 0, 0, "detect 2"},
        {"cam0", "synthetic:procedural", 0, 241, -1, 0, 0, "detect_fps 241"},
        {"cam0", "synthetic:procedural", 0, 0, -1, FC_TIER_LOW, 101, "quality.low 101"},
        {"cam0", "synthetic:procedural", 0, 0, -1, FC_TIER_HIGH, -5, "quality.high -5"},
    };
    fc_store *st = open_ok(":memory:");
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        req r = {0};
        row_init(&r.w.row, bad[i].id, bad[i].spec);
        r.w.row.encode_fps = bad[i].encode_fps;
        r.w.row.detect_fps = bad[i].detect_fps;
        r.w.row.detect = bad[i].detect;
        r.w.row.quality[bad[i].tier] = bad[i].quality;
        r.w.op = FC_STORE_INSERT;
        r.w.job.done = on_done;
        r.w.job.loop = &loop;
        assert_int_equal(fc_store_submit(st, &r.w), -EINVAL);
        if (!strstr(r.w.err, bad[i].needle))
            fail_msg("row %zu: error '%s' does not say '%s'", i, r.w.err, bad[i].needle);
        assert_false(r.done);
    }
    /* A spec longer than the file's check allows. */
    req r = {0};
    row_init(&r.w.row, "cam0", "synthetic:procedural");
    memset(r.w.row.spec, 'x', sizeof r.w.row.spec);
    r.w.op = FC_STORE_INSERT;
    assert_int_equal(fc_store_submit(st, &r.w), -EINVAL);
    assert_non_null(strstr(r.w.err, "spec is longer than 2047 bytes"));
    fc_store_close(st);
}

static void exec_on(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void expect_open_error(const char *path, const char *needle)
{
    fc_store *st = NULL;
    char err[1024] = "";
    int rc = fc_store_open(path, &st, err, sizeof err);
    if (rc == 0) fail_msg("%s opened, expected an error saying '%s'", path, needle);
    assert_true(rc < 0);
    assert_null(st);
    if (!strstr(err, path) || !strstr(err, needle))
        fail_msg("error '%s' does not name %s and say '%s'", err, path, needle);
}

static void write_file(const char *path, const void *data, size_t len, off_t at)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, data, len, at), (ssize_t)len);
    close(fd);
}

static void bad_files_are_clear_errors(void **state)
{
    (void)state;
    char path[160], err[1024];
    fc_store *st;
    assert_int_equal(fc_store_open("", &st, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "no database path"));

    expect_open_error("/nonexistent-dir/framecast.db",
                      "cannot create it: directory /nonexistent-dir: No such file or directory");
    expect_open_error(dir, "Is a directory");

    file_path(path, sizeof path, "text.db");
    char text[4096];
    memset(text, 'x', sizeof text);
    write_file(path, text, sizeof text, 0);
    expect_open_error(path, "not an SQLite database: file is not a database");

    file_path(path, sizeof path, "other.db");
    exec_on(path, "CREATE TABLE photos (name TEXT)");
    expect_open_error(path, "an SQLite database that is not framecast's");
    file_path(path, sizeof path, "app.db");
    exec_on(path, "PRAGMA application_id=42");
    expect_open_error(path, "an SQLite database of another program (application_id 42)");

    file_path(path, sizeof path, "future.db");
    exec_on(path, "PRAGMA application_id=1178825588; PRAGMA user_version=99");
    expect_open_error(path, "schema version 99 is newer than this framecast's (1)");

    /* A quality row whose stream is gone (written with foreign keys off). */
    file_path(path, sizeof path, "orphan.db");
    fc_store_close(open_ok(path));
    exec_on(path, "INSERT INTO stream_quality VALUES ('gone', 'high', 50)");
    expect_open_error(path, "a row of stream_quality refers to a missing row of streams");

    /* A row the checks pass but the spec parser no longer takes. */
    file_path(path, sizeof path, "oldspec.db");
    fc_store_close(open_ok(path));
    exec_on(path, "INSERT INTO streams (id, spec, created_at, updated_at) VALUES "
                  "('cam9', 'teleport:mars', 1, 1)");
    st = open_ok(path);
    fc_store_stream *rows;
    size_t n;
    assert_int_equal(fc_store_load(st, 10, &rows, &n, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "stored stream 'cam9': spec: source spec 'teleport:mars'"));
    assert_non_null(strstr(err, path));
    fc_store_close(st);
}

/* Garbage over a table's pages, where only a whole check finds it. */
static void a_corrupt_file_is_refused(void **state)
{
    (void)state;
    char path[160];
    file_path(path, sizeof path, "corrupt.db");
    fc_store *st = open_ok(path);
    fc_store_stream row;
    req r;
    for (int i = 0; i < 60; i++) {
        char id[16];
        snprintf(id, sizeof id, "cam%d", i);
        row_init(&row, id, "synthetic:image=/a/long/path/to/a/picture/of/some/size.png");
        row.quality[i % 3] = 1 + i;
        assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), 0);
    }
    fc_store_close(st); /* the last connection checkpoints: all is in the main file */
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size >= 4 * 4096);
    /* Pages 2 and 3 (the streams table and its index) become noise. */
    static unsigned char junk[2 * 4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 37 + 11);
    write_file(path, junk, sizeof junk, 4096);
    expect_open_error(path, "corrupt");
}

/* Files this user may not write, opened by a child that is not root (as
 * root, permissions would not apply): a read-only file, a writable file in
 * a directory it may not write (SQLite needs its -wal and -shm files there),
 * and a new file in that directory. */
static void unwritable_files_are_refused(void **state)
{
    (void)state;
    char ro[160], rw[160], fresh[160];
    file_path(ro, sizeof ro, "readonly.db");
    file_path(rw, sizeof rw, "writable.db");
    file_path(fresh, sizeof fresh, "new.db");
    fc_store_close(open_ok(ro));
    fc_store_close(open_ok(rw));
    assert_int_equal(chmod(ro, 0444), 0);
    assert_int_equal(chmod(rw, 0666), 0);
    /* As root the other user cannot write the 0755 directory; as anybody
     * else the directory is made read-only for the child's sake. */
    assert_int_equal(chmod(dir, geteuid() == 0 ? 0755 : 0555), 0);
    const char *paths[] = {ro, rw, fresh};
    const char *needles[] = {"can only be read", "must both be writable", "is not writable"};
    for (int i = 0; i < 3; i++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(3);
            fc_store *st;
            char err[1024] = "";
            if (fc_store_open(paths[i], &st, err, sizeof err) == 0)
                snprintf(err, sizeof err, "opened");
            if (write(fds[1], err, strlen(err)) < 0) _exit(4);
            _exit(0);
        }
        close(fds[1]);
        char msg[1024] = "";
        ssize_t len = 0, k;
        while ((k = read(fds[0], msg + len, sizeof msg - 1 - (size_t)len)) > 0)
            len += k;
        close(fds[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (!strstr(msg, paths[i]) || !strstr(msg, needles[i]))
            fail_msg("error '%s' does not name %s and say '%s'", msg, paths[i], needles[i]);
    }
    assert_int_equal(chmod(dir, 0755), 0);
}

/* The queue is bounded: with the store thread held up, submits past
 * FC_STORE_QUEUE_MAX are refused at once, and every accepted write still
 * completes. The thread is held up where it hands a finished write to the
 * loop, by holding the loop's lock. */
static void the_queue_is_bounded(void **state)
{
    (void)state;
    fc_store *st = open_ok(":memory:");
    static req reqs[FC_STORE_QUEUE_MAX + 8];
    int accepted = 0, refused = 0;
    pthread_mutex_lock(&loop.mu);
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        req *r = &reqs[i];
        memset(r, 0, sizeof *r);
        snprintf(r->w.row.id, sizeof r->w.row.id, "s%zu", i);
        snprintf(r->w.row.spec, sizeof r->w.row.spec, "synthetic:procedural");
        r->w.row.detect = -1;
        r->w.op = FC_STORE_INSERT;
        r->w.job.done = on_done;
        r->w.job.loop = &loop;
        int rc = fc_store_submit(st, &r->w);
        if (rc == 0) {
            accepted++;
        } else {
            assert_int_equal(rc, -EAGAIN);
            assert_non_null(strstr(r->w.err, "writes are already waiting"));
            r->done = -1;
            refused++;
        }
    }
    pthread_mutex_unlock(&loop.mu);
    /* The first write may have left the queue before the rest came. */
    assert_true(accepted == FC_STORE_QUEUE_MAX || accepted == FC_STORE_QUEUE_MAX + 1);
    assert_int_equal(refused, (int)(sizeof reqs / sizeof *reqs) - accepted);
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        if (reqs[i].done < 0) continue;
        wait_done(&reqs[i]);
        assert_int_equal(reqs[i].w.result, 0);
    }
    fc_store_stream *rows;
    size_t n;
    char err[1024];
    assert_int_equal(fc_store_load(st, 1000, &rows, &n, err, sizeof err), 0);
    assert_int_equal(n, (size_t)accepted);
    free(rows);
    fc_store_close(st);
}

/* Another process holding the write lock: the write fails at once, saying
 * so, instead of the store thread sleeping and retrying. */
static void a_locked_file_fails_the_write_not_the_store(void **state)
{
    (void)state;
    char path[160];
    file_path(path, sizeof path, "locked.db");
    fc_store *st = open_ok(path);
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    fc_store_stream row;
    row_init(&row, "cam0", "synthetic:procedural");
    req r;
    assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), -EBUSY);
    assert_non_null(strstr(r.w.err, "database is locked"));
    assert_non_null(strstr(r.w.err, "adding stream 'cam0'"));
    /* And a second server starting on it then says so too. */
    expect_open_error(path, "database is locked");
    assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), 0);
    fc_store_close(st);
}

/* With nothing to write the store thread sleeps on its condition variable:
 * over half a second the process (this thread in nanosleep, the store
 * thread waiting) uses no CPU to speak of. A polling thread would use most
 * of it. */
static void an_idle_store_uses_no_cpu(void **state)
{
    (void)state;
    char path[160];
    file_path(path, sizeof path, "idle.db");
    fc_store *st = open_ok(path);
    fc_store_stream row;
    row_init(&row, "cam0", "synthetic:procedural");
    req r;
    assert_int_equal(write_row(st, FC_STORE_INSERT, &row, &r), 0); /* the thread is up */
    uint64_t before = fc_process_cpu_ns();
    struct timespec half = {0, 500000000};
    nanosleep(&half, NULL);
    uint64_t used = fc_process_cpu_ns() - before;
    if (used >= 3000000ull)
        fail_msg("an idle store used %.1f ms of CPU in 500 ms", (double)used / 1e6);
    fc_store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crud_round_trip),
        cmocka_unit_test(rows_come_back_after_reopen),
        cmocka_unit_test(done_comes_after_the_commit),
        cmocka_unit_test(bad_rows_are_refused_naming_the_field),
        cmocka_unit_test(bad_files_are_clear_errors),
        cmocka_unit_test(a_corrupt_file_is_refused),
        cmocka_unit_test(unwritable_files_are_refused),
        cmocka_unit_test(the_queue_is_bounded),
        cmocka_unit_test(a_locked_file_fails_the_write_not_the_store),
        cmocka_unit_test(an_idle_store_uses_no_cpu),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
