/* fc_api_key: the one secret that lets a client change the server's state,
 * read from a file (--api-key-file PATH) or the FRAMECAST_API_KEY variable.
 *
 * Only two digests of the key are kept, never the key itself: its SHA-256,
 * which every presented key's SHA-256 is compared with in constant time (so
 * neither the bytes nor the length of the key leak through timing), and a
 * secret derived from it that signs viewer tokens (viewtoken.h), so that
 * whoever holds the key, and nobody else, can make them.
 *
 * A key is 16 to 256 characters of A-Z a-z 0-9 - . _ ~ (URL-safe, so it goes
 * unescaped in an Authorization header and a WebSocket URL's query), e.g.
 * the output of `openssl rand -hex 32`. A key file holds it on one line.
 *
 * The key is immutable after loading: any thread may check against it. */
#ifndef FC_TRANSPORT_AUTH_APIKEY_H
#define FC_TRANSPORT_AUTH_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#define FC_API_KEY_ENV "FRAMECAST_API_KEY"
#define FC_API_KEY_MIN 16
#define FC_API_KEY_MAX 256
#define FC_API_KEY_SECRET_LEN 32

typedef struct fc_api_key fc_api_key;

/* Loads the key from `file` when it is not NULL, else from `env_value` (the
 * value of FRAMECAST_API_KEY; NULL or "" = not set): a flag given on the
 * command line wins over the environment. Returns 0 with *out set; -ENOKEY
 * when neither names a key (err says how to set one); another negative errno
 * when the file cannot be read or the key is malformed, with err naming the
 * file (or the variable) and the problem. */
int fc_api_key_load(const char *file, const char *env_value, fc_api_key **out, char *err,
                    size_t errlen);
void fc_api_key_free(fc_api_key *key);

/* 0 when the `len` bytes at `presented` are the key, else -EACCES. Takes the
 * same time for every presented key of a given length. */
int fc_api_key_check(const fc_api_key *key, const char *presented, size_t len);

/* The credentials of an Authorization header value, `Bearer KEY` (the scheme
 * in any case, RFC 7235): 0 with *cred and *len pointing into `header`, or
 * -EINVAL for anything else (another scheme, no credentials, more than one
 * word). */
int fc_api_key_bearer(const char *header, const char **cred, size_t *len);

/* FC_API_KEY_SECRET_LEN bytes, derived from the key, that sign viewer tokens. */
const uint8_t *fc_api_key_token_secret(const fc_api_key *key);

#endif
