#include "transport/multipart.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int fc_multipart_boundary(const char *ct, char *out, size_t outlen, char *err, size_t errlen)
{
    /* The same reading as lws_spa (lib/roles/http/server/lws-spa.c): the
     * type is matched as a prefix, the boundary follows the first
     * "boundary=", an opening quote is skipped, and it ends at a space, ';'
     * or quote. Where the two disagreed, the body could not end where both
     * think it does, and the upload would be refused. */
    if (strncmp(ct, "multipart/form-data", 19) != 0) {
        snprintf(err, errlen, "POST /upload wants multipart/form-data");
        return -EINVAL;
    }
    const char *p = strstr(ct, "boundary=");
    if (!p) {
        snprintf(err, errlen, "multipart/form-data without a boundary");
        return -EINVAL;
    }
    p += 9;
    if (*p == '"') p++;
    size_t n = strcspn(p, " ;\"");
    if (n == 0 || n > FC_MULTIPART_BOUNDARY_MAX || n >= outlen) {
        snprintf(err, errlen, "multipart boundary must have 1 to %d characters",
                 FC_MULTIPART_BOUNDARY_MAX);
        return -EINVAL;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

void fc_multipart_end_init(fc_multipart_end *e, const char *boundary)
{
    size_t b = strnlen(boundary, FC_MULTIPART_BOUNDARY_MAX);
    memcpy(e->delim, "\r\n--", 4);
    memcpy(e->delim + 4, boundary, b);
    memcpy(e->delim + 4 + b, "--", 2);
    e->dlen = b + 6;
    e->n = 0;
}

void fc_multipart_end_feed(fc_multipart_end *e, const char *data, size_t len)
{
    size_t keep = e->dlen + 2; /* the delimiter and a CRLF after it */
    if (len >= keep) {
        memcpy(e->tail, data + len - keep, keep);
        e->n = keep;
        return;
    }
    if (e->n + len > keep) {
        size_t drop = e->n + len - keep;
        memmove(e->tail, e->tail + drop, e->n - drop);
        e->n -= drop;
    }
    memcpy(e->tail + e->n, data, len);
    e->n += len;
}

bool fc_multipart_end_closed(const fc_multipart_end *e)
{
    /* A body that is nothing but the closing delimiter, without the CRLF
     * in front (no part at all), does not count: lws would not see it. */
    if (e->n >= e->dlen && memcmp(e->tail + e->n - e->dlen, e->delim, e->dlen) == 0) return true;
    return e->n >= e->dlen + 2 && memcmp(e->tail + e->n - 2, "\r\n", 2) == 0 &&
           memcmp(e->tail + e->n - 2 - e->dlen, e->delim, e->dlen) == 0;
}
