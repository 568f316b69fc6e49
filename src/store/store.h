/* fc_store: the streams added at run time, kept in one SQLite file.
 *
 * One row per stream added through the API: its id, its source spec (the
 * --source syntax, see sources/source.h), the settings a PATCH may change
 * (encode_fps, detect, detect_fps, JPEG quality per tier) and when it was
 * created and last updated. Streams from --source are never stored.
 *
 * Writes run on the store's own thread, never on a loop: the caller fills an
 * fc_store_write, submits it, and its job's `done` runs on job.loop after the
 * transaction has committed (or failed), so an API handler answers only once
 * the change is on disk. The thread is the only user of the connection while
 * it writes, commits one write at a time in submission order and, with
 * nothing queued, sleeps on a condition variable. Why a thread of its own and
 * not jobs on the worker pool: a commit waits for fsync (milliseconds on a
 * real disk), and a worker parked in fsync is a worker not encoding; and the
 * pool runs jobs on several threads at once, which would reorder two writes
 * to one stream.
 *
 * Durability: WAL with synchronous=FULL, one transaction per write, so a
 * crash or kill -9 at any point leaves the old row or the new one (tests/store
 * kills a writer at random points to check it), and a write reported done
 * survives a power cut.
 *
 * Threads: fc_store_open, fc_store_load and fc_store_close on the owner's
 * thread (load may block behind a write in progress: use it at start-up, not
 * on a loop that serves); fc_store_submit and fc_store_row_check on any
 * thread. */
#ifndef FC_STORE_STORE_H
#define FC_STORE_STORE_H

#include <stddef.h>

#include "core/job.h"
#include "hub/tier.h"
#include "sources/source.h"

/* A spec is at most this long, NUL included (the file check says so too). */
#define FC_STORE_SPEC_MAX 2048
/* Writes accepted but not yet started; more are refused with -EAGAIN, so a
 * stalled disk costs bounded memory and the API answers 503. */
#define FC_STORE_QUEUE_MAX 64

typedef struct fc_store fc_store;

/* One stored stream. Unset settings fall back to the spec, then to the
 * server's flags. */
typedef struct fc_store_stream {
    char id[FC_ID_MAX];
    char spec[FC_STORE_SPEC_MAX];
    double encode_fps;          /* (0, 240]; 0 = not set */
    int detect;                 /* 0 off, 1 on; -1 = not set */
    double detect_fps;          /* (0, 240]; 0 = not set */
    int quality[FC_TIER_COUNT]; /* 1-100 per tier; 0 = not set */
    double created, updated;    /* Unix seconds; the store sets both */
} fc_store_stream;

typedef enum {
    FC_STORE_INSERT, /* a new stream; -EEXIST if the id is taken */
    FC_STORE_UPDATE, /* replace the settings (not the spec) of one; -ENOENT if unknown */
    FC_STORE_DELETE, /* remove one (only row.id is read); -ENOENT if unknown */
} fc_store_op;

/* A write request. The caller owns it and sets job.done, job.loop, op and
 * row; from fc_store_submit until `done` runs the store owns it. job.work is
 * not used. In `done`, result is 0 or a negative errno (-EEXIST, -ENOENT,
 * -EINVAL: a row the file's checks refused, -EBUSY: another process holds
 * the file's write lock, -ENOSPC, -EIO), err says why naming the file, and
 * row holds the row as committed (an update fills in spec and created). */
typedef struct fc_store_write {
    fc_job job;
    fc_store_op op;
    fc_store_stream row;
    int result;
    char err[1280];
} fc_store_write;

/* Opens (creating if needed) the database at `path`, or an in-memory one for
 * ":memory:", checks it (integrity, foreign keys, that it is framecast's and
 * not from a newer version), brings its schema up to date and starts the
 * store thread. A path that cannot be opened or written, a corrupt file or
 * somebody else's database is an error naming the path and the problem.
 * Returns 0 or a negative errno. */
int fc_store_open(const char *path, fc_store **out, char *err, size_t errlen);

/* Every stored stream, oldest first, in one snapshot: *rows (free() it) and
 * *n. More than max_rows, or a row that no longer passes fc_store_row_check,
 * is an error naming the file (and the row). Returns 0 or a negative errno. */
int fc_store_load(fc_store *st, size_t max_rows, fc_store_stream **rows, size_t *n, char *err,
                  size_t errlen);

/* Queues a write; not once fc_store_close has begun. Returns 0 (job.done
 * will run), -EINVAL when the row fails fc_store_row_check (w->err says which
 * field), or -EAGAIN when FC_STORE_QUEUE_MAX writes are already waiting; on
 * an error `done` will not run. */
int fc_store_submit(fc_store *st, fc_store_write *w);

/* The checks every stored row passes, with a message naming the field that
 * fails: id (1-63 of A-Z a-z 0-9 . - _), spec (parses as a --source spec whose
 * id=, if any, is this id), encode_fps, detect, detect_fps, quality.TIER.
 * For op, only what that op reads is checked. 0 or -EINVAL. */
int fc_store_row_check(fc_store_op op, const fc_store_stream *row, char *err, size_t errlen);

/* Runs the writes still queued (their `done` callbacks are posted to their
 * loops as usual: run those loops afterwards), stops the thread, closes the
 * file. NULL is fine. */
void fc_store_close(fc_store *st);

#endif
