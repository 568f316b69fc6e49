/* framecast's own checks around lws's multipart/form-data parser (lws_spa),
 * for POST /upload.
 *
 * lws_spa parses the parts and hands over each file's bytes, but says
 * nothing of how the body ended: a body cut before its closing boundary
 * gives the files it had (the last bytes of the last one silently dropped),
 * and at the closing boundary it ends the request's body for lws, whatever
 * Content-Length says, so bytes after it would be read as the next request.
 * These pure functions say what lws does not: the boundary, read from the
 * Content-Type exactly as lws_spa reads it, and whether the body received so
 * far ends with the closing delimiter (RFC 2046 5.1.1: CRLF "--" boundary
 * "--"), optionally followed by one CRLF, and nothing else.
 *
 * No lws, no loop, any thread, so tests and fuzzers can feed them anything. */
#ifndef FC_TRANSPORT_MULTIPART_H
#define FC_TRANSPORT_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 2046: a boundary has 1 to 70 characters. */
#define FC_MULTIPART_BOUNDARY_MAX 70

/* The boundary of a "multipart/form-data; boundary=..." Content-Type into
 * out (NUL-terminated). 0, or -EINVAL with err saying what is wrong (not
 * multipart/form-data, no boundary, an empty or over-long one). */
int fc_multipart_boundary(const char *content_type, char *out, size_t outlen, char *err,
                          size_t errlen);

/* The last bytes of a body, enough to see its closing delimiter. */
typedef struct fc_multipart_end {
    char delim[FC_MULTIPART_BOUNDARY_MAX + 6]; /* CRLF "--" boundary "--" */
    size_t dlen;
    char tail[FC_MULTIPART_BOUNDARY_MAX + 8]; /* the body's last dlen + 2 bytes */
    size_t n;
} fc_multipart_end;

void fc_multipart_end_init(fc_multipart_end *e, const char *boundary);
/* The next `len` bytes of the body. */
void fc_multipart_end_feed(fc_multipart_end *e, const char *data, size_t len);
/* True when the bytes fed so far end with the closing delimiter, or with it
 * and one CRLF. */
bool fc_multipart_end_closed(const fc_multipart_end *e);

#endif
