#include "transport/auth/apikey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Changing this string invalidates every viewer token ever made. */
#define TOKEN_SECRET_LABEL "framecast viewer tokens v1"

/* What a message says the key came from: "API key file PATH" or the variable. */
#define ORIGIN_MAX 1100

struct fc_api_key {
    uint8_t digest[32];
    uint8_t token_secret[FC_API_KEY_SECRET_LEN];
};

/* Reads at most cap bytes of `path`; *len = cap means there was more. */
static int read_bounded(const char *path, char *buf, size_t cap, size_t *len, char *err,
                        size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "API key file %s: %s", path, strerror(e));
        return -e;
    }
    *len = 0;
    while (*len < cap) {
        ssize_t n = read(fd, buf + *len, cap - *len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int e = errno;
            snprintf(err, errlen, "API key file %s: %s", path, strerror(e));
            close(fd);
            return -e;
        }
        if (n == 0) break;
        *len += (size_t)n;
    }
    close(fd);
    return 0;
}

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int check_key(const char *origin, const char *k, size_t len, char *err, size_t errlen)
{
    if (len == 0) {
        snprintf(err, errlen, "%s: the API key is empty (make one with: openssl rand -hex 32)",
                 origin);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++)
        if (!key_char(k[i])) {
            snprintf(err, errlen,
                     "%s: the API key must be one line of A-Z a-z 0-9 - . _ ~ (character %zu "
                     "is not)",
                     origin, i + 1);
            return -EINVAL;
        }
    if (len < FC_API_KEY_MIN || len > FC_API_KEY_MAX) {
        snprintf(err, errlen,
                 "%s: the API key has %zu characters; it needs %d to %d (make one with: "
                 "openssl rand -hex 32)",
                 origin, len, FC_API_KEY_MIN, FC_API_KEY_MAX);
        return -EINVAL;
    }
    return 0;
}

int fc_api_key_load(const char *file, const char *env_value, fc_api_key **out, char *err,
                    size_t errlen)
{
    *out = NULL;
    /* Room for the longest key, a CR LF after it and one byte more, which
     * tells a file too long from one that just fits. */
    char buf[FC_API_KEY_MAX + 3];
    size_t len = 0;
    char origin[ORIGIN_MAX];
    if (file) {
        snprintf(origin, sizeof origin, "API key file %s", file);
        int rc = read_bounded(file, buf, sizeof buf, &len, err, errlen);
        if (rc != 0) return rc;
        if (len == sizeof buf) {
            snprintf(err, errlen, "API key file %s: longer than a key of %d characters on one line",
                     file, FC_API_KEY_MAX);
            OPENSSL_cleanse(buf, sizeof buf);
            return -EINVAL;
        }
        if (len && buf[len - 1] == '\n') len--;
        if (len && buf[len - 1] == '\r') len--;
    } else if (env_value && *env_value) {
        snprintf(origin, sizeof origin, "%s", FC_API_KEY_ENV);
        len = strlen(env_value);
        int rc = check_key(origin, env_value, len, err, errlen);
        if (rc != 0) return rc;
        memcpy(buf, env_value, len);
    } else {
        snprintf(err, errlen,
                 "no API key: give --api-key-file PATH or set " FC_API_KEY_ENV
                 " (make a key with: openssl rand -hex 32)");
        return -ENOKEY;
    }
    int rc = check_key(origin, buf, len, err, errlen);
    fc_api_key *key = rc == 0 ? calloc(1, sizeof *key) : NULL;
    if (rc == 0 && !key) {
        snprintf(err, errlen, "%s: out of memory", origin);
        rc = -ENOMEM;
    }
    if (rc == 0 && (!EVP_Digest(buf, len, key->digest, NULL, EVP_sha256(), NULL) ||
                    !HMAC(EVP_sha256(), buf, (int)len, (const unsigned char *)TOKEN_SECRET_LABEL,
                          strlen(TOKEN_SECRET_LABEL), key->token_secret, NULL))) {
        snprintf(err, errlen, "%s: SHA-256 failed in libcrypto", origin);
        rc = -EIO;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    if (rc != 0) {
        fc_api_key_free(key);
        return rc;
    }
    *out = key;
    return 0;
}

void fc_api_key_free(fc_api_key *key)
{
    if (!key) return;
    OPENSSL_cleanse(key, sizeof *key);
    free(key);
}

int fc_api_key_check(const fc_api_key *key, const char *presented, size_t len)
{
    uint8_t d[32];
    /* Hashing first makes the comparison independent of the key's length and
     * of where the first differing byte is. */
    if (!EVP_Digest(presented, len, d, NULL, EVP_sha256(), NULL)) return -EACCES;
    return CRYPTO_memcmp(d, key->digest, sizeof d) == 0 ? 0 : -EACCES;
}

int fc_api_key_bearer(const char *header, const char **cred, size_t *len)
{
    const char *p = header;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t')) return -EINVAL;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    const char *start = p;
    while (*p > ' ' && *p < 0x7f)
        p++;
    const char *end = p;
    while (*p == ' ' || *p == '\t')
        p++;
    if (end == start || *p) return -EINVAL;
    *cred = start;
    *len = (size_t)(end - start);
    return 0;
}

const uint8_t *fc_api_key_token_secret(const fc_api_key *key)
{
    return key->token_secret;
}
