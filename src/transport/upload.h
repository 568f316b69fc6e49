/* The upload endpoint, POST /upload: multipart/form-data with a `source`
 * picture and/or an `audio` speech file, bounded per file
 * (--max-upload-image, --max-upload-audio) and in number at once
 * (FC_UPLOADS_MAX: each holds its files in memory until they are written).
 * lws's multipart parser hands the bytes over; a worker job checks each
 * file's type by content and stores it under a random name in the media
 * directory; the answer is {"source_path","audio_path"} or {"error"}.
 * Loop thread. */
#ifndef FC_TRANSPORT_UPLOAD_H
#define FC_TRANSPORT_UPLOAD_H

#include "transport/endpoint.h"

#define FC_UPLOADS_MAX 8

extern const fc_endpoint fc_upload_endpoint;

#endif
