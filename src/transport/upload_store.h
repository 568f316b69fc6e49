/* fc_upload_store: what the uploads kept in the media directory add up to,
 * bounded in files and bytes, and their expiry.
 *
 * Uploads are the files fc_media_store made ("up-" + 24 hex digits + an
 * extension); at start the directory is scanned for such names, so uploads
 * kept from an earlier run count and expire too. Anything else in the
 * directory is the operator's and is never touched.
 *
 * Before an upload is written, its files and bytes are reserved against the
 * limits: past them it is refused (the server answers 507), so the directory
 * never holds more than the limits say, whatever clients send. An upload is
 * deleted `expiry_s` seconds after it was stored: one timer is armed for the
 * oldest (never a periodic scan), and the unlinks run in one FC_JOB_RELEASE
 * job at a time. A session that opened a file before it expired keeps
 * reading it (it reads from its descriptor); a later start_streaming naming
 * it finds it gone.
 *
 * Loop thread only (the scan in fc_upload_store_open runs before serving). */
#ifndef FC_TRANSPORT_UPLOAD_STORE_H
#define FC_TRANSPORT_UPLOAD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "avatar/media.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/pool.h"

/* Defaults for a small server: a thousand uploads, 1 GiB, an hour each. */
#define FC_UPLOAD_MAX_FILES_DEFAULT 1000
#define FC_UPLOAD_MAX_BYTES_DEFAULT (1ull << 30)
#define FC_UPLOAD_EXPIRY_DEFAULT 3600

typedef struct fc_upload_limits {
    size_t max_files;
    uint64_t max_bytes;
    unsigned expiry_s; /* seconds an upload is kept */
} fc_upload_limits;

typedef struct fc_upload_store fc_upload_store;

/* Scans `media` for uploads already there. 0, or a negative errno with err. */
int fc_upload_store_open(fc_loop *loop, fc_pool *pool, const fc_media *media,
                         const fc_upload_limits *limits, fc_upload_store **out, char *err,
                         size_t errlen);
/* Room for `files` more files of `bytes` in all: 0 (reserved; commit or
 * cancel each), or -ENOSPC with err naming the limit reached. */
int fc_upload_store_reserve(fc_upload_store *s, size_t files, uint64_t bytes, char *err,
                            size_t errlen);
/* A reserved file was stored under `name` with `bytes`. */
void fc_upload_store_commit(fc_upload_store *s, const char *name, uint64_t bytes);
/* Reserved room that was not used. */
void fc_upload_store_cancel(fc_upload_store *s, size_t files, uint64_t bytes);
/* fc_uploads_stored_files, fc_uploads_stored_bytes, fc_uploads_expired_total. */
int fc_upload_store_metrics(fc_upload_store *s, fc_metrics *m);
/* Stops expiring; the memory goes once the loop has closed the timer and a
 * sweep in progress is done. NULL is fine. */
void fc_upload_store_close(fc_upload_store *s);

#endif
