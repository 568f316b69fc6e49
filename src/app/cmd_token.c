/* framecast token: prints a viewer token for one stream, signed with the
 * server's API key, for people who should watch a stream without holding
 * the key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/commands.h"
#include "app/options.h"
#include "sources/source.h"
#include "transport/auth/apikey.h"
#include "transport/auth/viewtoken.h"

#define DEFAULT_TTL 3600

typedef struct token_opts {
    const char *stream, *key_file;
    long ttl;
} token_opts;

#define ROW(...) FC_OPT_ROW(token_opts, __VA_ARGS__)
static const fc_option options[] = {
    ROW(FC_OPT_STRING, "stream", stream, .arg = "ID",
        .help = "the stream it lets its holder watch (required)"),
    ROW(FC_OPT_LONG, "ttl", ttl, .min = 1, .max = FC_VIEW_TOKEN_TTL_MAX, .arg = "SECONDS",
        .help = "how long it is valid", .want = "seconds, from 1 to 31622400 (a year and a day)"),
    ROW(FC_OPT_STRING, "api-key-file", key_file, .arg = "PATH", .help = "the server's API key",
        .dflt = "$" FC_API_KEY_ENV),
};

static const fc_command_line token_cl = {
    .cmd = "token",
    .usage = "usage: framecast token --stream ID [--ttl SECONDS] [--api-key-file PATH]\n\n"
             "Prints a viewer token: a signed permission to watch one stream until it expires,\n"
             "for ws://HOST:PORT/ws/streams/ID?token=TOKEN. It is signed with the server's API\n"
             "key, so the servers that hold that key accept it and no others.\n\n",
    .after = "\nExit status: 0 ok, 1 the key could not be used, 2 usage error.\n",
    .options = options,
    .count = sizeof options / sizeof *options,
};

int fc_cmd_token(int argc, char **argv)
{
    token_opts o = {.ttl = DEFAULT_TTL};
    int rc = fc_opts_parse(&token_cl, argc, argv, &o, NULL);
    if (rc != 0) return rc == 1 ? 0 : rc;
    if (!o.stream) return fc_opts_usage_error("token", "--stream ID is required");
    if (!fc_source_id_valid(o.stream))
        return fc_opts_bad("token", "--stream", o.stream,
                           "a stream id is 1-63 characters of A-Z a-z 0-9 . - _");
    const char *stream = o.stream, *key_file = o.key_file;
    long ttl = o.ttl;
    char err[512];
    fc_api_key *key;
    rc = fc_api_key_load(key_file, getenv(FC_API_KEY_ENV), &key, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "framecast token: %s\n", err);
        return rc == -ENOKEY ? 2 : 1;
    }
    fc_view_tokens *tokens;
    char token[FC_VIEW_TOKEN_MAX];
    rc = fc_view_tokens_new(key, &tokens);
    fc_api_key_free(key);
    if (rc == 0) {
        rc = fc_view_token_make(tokens, stream, (int64_t)time(NULL) + ttl, token, sizeof token);
        fc_view_tokens_free(tokens);
    }
    if (rc != 0) {
        fprintf(stderr, "framecast token: cannot make a token: %s\n", strerror(-rc));
        return 1;
    }
    printf("%s\n", token);
    return 0;
}
