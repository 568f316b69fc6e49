/* Viewer tokens: a signed, expiring permission to watch one stream, for
 * clients that must not hold the API key (a page shared with a viewer).
 *
 * Text form, URL-safe as it stands (only A-Z a-z 0-9 . - _ ~):
 *
 *     v1~STREAM~EXPIRES~SIGNATURE
 *
 * STREAM is the stream id, EXPIRES the Unix second from which it is refused
 * (decimal, no leading zero), SIGNATURE the HMAC-SHA256 of everything before
 * the last '~' in 64 upper-case hex digits, keyed with the secret the API
 * key derives (apikey.h): HMAC-SHA256(key, "framecast viewer tokens v1").
 * docs/api.md has a test vector.
 *
 * A check answers only yes or no: expired, made for another stream,
 * malformed and wrongly signed tokens all get the same -EACCES, so a client
 * learns nothing from trying; why each was refused is counted.
 *
 * fc_view_tokens is immutable but for its counters, which are atomic: any
 * thread may make and check tokens. */
#ifndef FC_TRANSPORT_AUTH_VIEWTOKEN_H
#define FC_TRANSPORT_AUTH_VIEWTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "transport/auth/apikey.h"

/* The longest token's text, NUL included. Longer ones are malformed. */
#define FC_VIEW_TOKEN_MAX 160
/* The longest time a token may be made to last: a year and a day. */
#define FC_VIEW_TOKEN_TTL_MAX (366 * 86400)

typedef struct fc_view_tokens fc_view_tokens;

int fc_view_tokens_new(const fc_api_key *key, fc_view_tokens **out);
void fc_view_tokens_free(fc_view_tokens *t);

/* Writes the token for `stream` valid until `expires` (Unix seconds) into
 * out. 0, -EINVAL (not a stream id, expiry not in 1 to 10^18 - 1) or -ENOSPC
 * (outlen below FC_VIEW_TOKEN_MAX). */
int fc_view_token_make(const fc_view_tokens *t, const char *stream, int64_t expires, char *out,
                       size_t outlen);

/* 0 when `token` lets its holder watch `stream` at `now` (Unix seconds),
 * else -EACCES, whatever the reason. */
int fc_view_token_check(fc_view_tokens *t, const char *token, const char *stream, int64_t now);

/* How checks ended, since fc_view_tokens_new. */
typedef struct fc_view_token_counts {
    uint64_t accepted;
    uint64_t malformed;      /* not a token of this form at all */
    uint64_t bad_signature;  /* signed with another key, or altered */
    uint64_t foreign_stream; /* signed, for another stream */
    uint64_t expired;        /* signed, for this stream, too late */
} fc_view_token_counts;

void fc_view_tokens_counts(const fc_view_tokens *t, fc_view_token_counts *out);

#endif
