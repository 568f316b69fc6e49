#include "transport/auth/viewtoken.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sources/source.h"

#define PREFIX "v1~"
#define SIG_HEX 64
/* 18 digits: what parse_expiry takes without overflow checks. */
#define EXPIRES_MAX INT64_C(999999999999999999)

enum { OK, MALFORMED, BAD_SIGNATURE, FOREIGN_STREAM, EXPIRED, OUTCOMES };

struct fc_view_tokens {
    uint8_t secret[FC_API_KEY_SECRET_LEN];
    _Atomic uint64_t counts[OUTCOMES];
};

int fc_view_tokens_new(const fc_api_key *key, fc_view_tokens **out)
{
    fc_view_tokens *t = calloc(1, sizeof *t);
    if (!t) return -ENOMEM;
    memcpy(t->secret, fc_api_key_token_secret(key), sizeof t->secret);
    *out = t;
    return 0;
}

void fc_view_tokens_free(fc_view_tokens *t)
{
    if (!t) return;
    OPENSSL_cleanse(t->secret, sizeof t->secret);
    free(t);
}

/* The signature of body[0..len) as SIG_HEX hex digits and a NUL. */
static int sign(const fc_view_tokens *t, const char *body, size_t len, char hex[SIG_HEX + 1])
{
    unsigned char mac[32];
    if (!HMAC(EVP_sha256(), t->secret, sizeof t->secret, (const unsigned char *)body, len, mac,
              NULL))
        return -EIO;
    return OPENSSL_buf2hexstr_ex(hex, SIG_HEX + 1, NULL, mac, sizeof mac, '\0') ? 0 : -EIO;
}

int fc_view_token_make(const fc_view_tokens *t, const char *stream, int64_t expires, char *out,
                       size_t outlen)
{
    if (!fc_source_id_valid(stream) || expires <= 0 || expires > EXPIRES_MAX) return -EINVAL;
    if (outlen < FC_VIEW_TOKEN_MAX) return -ENOSPC;
    int n = snprintf(out, outlen, PREFIX "%s~%" PRId64 "~", stream, expires);
    return sign(t, out, (size_t)n - 1, out + n);
}

/* The Unix second in digits[0..len): no sign, no leading zero, fits. */
static int parse_expiry(const char *digits, size_t len, int64_t *out)
{
    if (len == 0 || len > 18 || digits[0] == '0') return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (digits[i] < '0' || digits[i] > '9') return -1;
        v = v * 10 + (digits[i] - '0');
    }
    *out = v;
    return 0;
}

static int outcome(const char *token, const fc_view_tokens *t, const char *stream, int64_t now)
{
    size_t len = strnlen(token, FC_VIEW_TOKEN_MAX);
    if (len == FC_VIEW_TOKEN_MAX || strncmp(token, PREFIX, strlen(PREFIX)) != 0) return MALFORMED;
    const char *id = token + strlen(PREFIX);
    const char *tilde1 = strchr(id, '~');
    const char *tilde2 = tilde1 ? strchr(tilde1 + 1, '~') : NULL;
    if (!tilde2 || strchr(tilde2 + 1, '~') || strlen(tilde2 + 1) != SIG_HEX) return MALFORMED;
    char sid[FC_ID_MAX];
    size_t idlen = (size_t)(tilde1 - id);
    int64_t expires;
    if (idlen >= sizeof sid ||
        parse_expiry(tilde1 + 1, (size_t)(tilde2 - tilde1 - 1), &expires) != 0)
        return MALFORMED;
    memcpy(sid, id, idlen);
    sid[idlen] = '\0';
    if (!fc_source_id_valid(sid)) return MALFORMED;
    /* The signature first, so a forged token learns nothing of what else
     * would have been refused. */
    char expect[SIG_HEX + 1];
    if (sign(t, token, (size_t)(tilde2 - token), expect) != 0 ||
        CRYPTO_memcmp(expect, tilde2 + 1, SIG_HEX) != 0)
        return BAD_SIGNATURE;
    if (strcmp(sid, stream) != 0) return FOREIGN_STREAM;
    return now < expires ? OK : EXPIRED;
}

int fc_view_token_check(fc_view_tokens *t, const char *token, const char *stream, int64_t now)
{
    int o = outcome(token, t, stream, now);
    atomic_fetch_add_explicit(&t->counts[o], 1, memory_order_relaxed);
    return o == OK ? 0 : -EACCES;
}

void fc_view_tokens_counts(const fc_view_tokens *t, fc_view_token_counts *out)
{
    out->accepted = atomic_load_explicit(&t->counts[OK], memory_order_relaxed);
    out->malformed = atomic_load_explicit(&t->counts[MALFORMED], memory_order_relaxed);
    out->bad_signature = atomic_load_explicit(&t->counts[BAD_SIGNATURE], memory_order_relaxed);
    out->foreign_stream = atomic_load_explicit(&t->counts[FOREIGN_STREAM], memory_order_relaxed);
    out->expired = atomic_load_explicit(&t->counts[EXPIRED], memory_order_relaxed);
}
