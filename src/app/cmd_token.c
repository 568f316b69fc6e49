/* framecast token: prints a viewer token for one stream, signed with the
 * server's API key, for people who should watch a stream without holding
 * the key. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app/cli.h"
#include "app/commands.h"
#include "sources/source.h"
#include "transport/auth/apikey.h"
#include "transport/auth/viewtoken.h"

#define DEFAULT_TTL 3600

static void usage(FILE *out)
{
    fprintf(out,
            "usage: framecast token --stream ID [--ttl SECONDS] [--api-key-file PATH]\n\n"
            "Prints a viewer token: a signed permission to watch one stream until it expires,\n"
            "for ws://HOST:PORT/ws/streams/ID?token=TOKEN. It is signed with the server's API\n"
            "key, so the servers that hold that key accept it and no others.\n\n"
            "  --stream ID          the stream it lets its holder watch\n"
            "  --ttl SECONDS        how long it is valid, 1 to %d (default %d)\n"
            "  --api-key-file PATH  the server's API key (default: $" FC_API_KEY_ENV ")\n"
            "  -h, --help           this text\n\n"
            "Exit status: 0 ok, 1 the key could not be used, 2 usage error.\n",
            FC_VIEW_TOKEN_TTL_MAX, DEFAULT_TTL);
}

int fc_cmd_token(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"stream", required_argument, NULL, 's'},
        {"ttl", required_argument, NULL, 't'},
        {"api-key-file", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *stream = NULL, *key_file = NULL;
    long ttl = DEFAULT_TTL;
    optind = 1;
    for (int c; (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1;) {
        switch (c) {
        case 's':
            if (!fc_source_id_valid(optarg))
                return fc_cli_bad("token", "--stream", optarg,
                                  "a stream id is 1-63 characters of A-Z a-z 0-9 . - _");
            stream = optarg;
            break;
        case 't':
            if (fc_cli_long(optarg, 1, FC_VIEW_TOKEN_TTL_MAX, &ttl) != 0)
                return fc_cli_bad("token", "--ttl", optarg,
                                  "seconds, from 1 to 31622400 (a year and a day)");
            break;
        case 'k':
            key_file = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc || !stream) {
        fprintf(stderr, "framecast token: %s (see --help)\n",
                optind != argc ? "unexpected arguments" : "--stream ID is required");
        return 2;
    }
    char err[512];
    fc_api_key *key;
    int rc = fc_api_key_load(key_file, getenv(FC_API_KEY_ENV), &key, err, sizeof err);
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
