/* The upload endpoint, POST /upload: multipart/form-data with a `source`
 * picture and/or an `audio` speech file, bounded per file
 * (--max-upload-image, --max-upload-audio) and in number at once
 * (FC_UPLOADS_MAX: each holds its files in memory until they are written).
 * A slot is held only while the body comes at a decent pace: after its
 * first FC_UPLOAD_GRACE_SECS it must keep --upload-min-rate bytes/s on
 * average, and be in by --upload-timeout, or it is refused (408) and the slot
 * freed. lws's multipart parser hands the bytes over (and multipart.h checks
 * how the body ended); the files and bytes kept are bounded and expire
 * (upload_store.h); a worker job (FC_JOB_SETUP) checks each file's type by
 * content and stores it under a random name in the media directory; the
 * answer is {"source_path","audio_path"} or {"error"}. Loop thread. */
#ifndef FC_TRANSPORT_UPLOAD_H
#define FC_TRANSPORT_UPLOAD_H

#include "transport/endpoint.h"

#define FC_UPLOADS_MAX 8
/* Defaults: a minute in all; 16 KiB/s on average after the first 5 s. */
#define FC_UPLOAD_TIMEOUT_DEFAULT 60
#define FC_UPLOAD_MIN_RATE_DEFAULT 16384
#define FC_UPLOAD_GRACE_SECS 5

extern const fc_endpoint fc_upload_endpoint;

#endif
